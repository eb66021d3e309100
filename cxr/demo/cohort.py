"""Who is in the demo data set: patients, follow-ups, demographics and co-occurring labels.

Labels come from a Gaussian copula: a latent normal vector per image, made of
a patient part (shared by the patient's follow-ups) and an image part, both
with the correlations below, thresholded at each class's prevalence. So
findings co-occur as in NIH (effusion with atelectasis, edema and
cardiomegaly; mass with nodule; ...) and chronic findings persist across a
patient's films. Prevalences are raised above NIH's so that every class has
enough positives in every split of a small data set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from cxr.demo.site import NIH_LIKE, Site
from cxr.findings import FINDINGS

PREVALENCE = {
    "Atelectasis": 0.14,
    "Cardiomegaly": 0.10,
    "Effusion": 0.16,
    "Infiltration": 0.18,
    "Mass": 0.09,
    "Nodule": 0.10,
    "Pneumonia": 0.08,
    "Pneumothorax": 0.09,
    "Consolidation": 0.08,
    "Edema": 0.08,
    "Emphysema": 0.08,
    "Fibrosis": 0.08,
    "Pleural_Thickening": 0.08,
    "Hernia": 0.06,
}
#: Latent correlations of the label pairs that co-occur most in NIH.
CORRELATIONS = {
    ("Effusion", "Atelectasis"): 0.35,
    ("Effusion", "Edema"): 0.35,
    ("Effusion", "Cardiomegaly"): 0.3,
    ("Edema", "Cardiomegaly"): 0.3,
    ("Mass", "Nodule"): 0.3,
    ("Infiltration", "Atelectasis"): 0.2,
    ("Infiltration", "Effusion"): 0.2,
    ("Infiltration", "Nodule"): 0.15,
    ("Pneumonia", "Infiltration"): 0.3,
    ("Consolidation", "Pneumonia"): 0.25,
    ("Consolidation", "Effusion"): 0.2,
    ("Consolidation", "Atelectasis"): 0.2,
    ("Emphysema", "Pneumothorax"): 0.3,
    ("Fibrosis", "Pleural_Thickening"): 0.3,
    ("Mass", "Pleural_Thickening"): 0.15,
}
#: Share of the latent variance that belongs to the patient (persists across follow-ups).
CHRONIC = {"Cardiomegaly", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia"}
PATIENT_SHARE_CHRONIC, PATIENT_SHARE_ACUTE = 0.8, 0.35
AP_SHARE = 0.38  # NIH: 44,810 of 112,120 films are AP
MEAN_FOLLOW_UPS = 2.5


def correlation_matrix() -> np.ndarray:
    """The latent correlation matrix, projected to the nearest valid one."""
    idx = {n: i for i, n in enumerate(FINDINGS)}
    c = np.eye(len(FINDINGS))
    for (a, b), r in CORRELATIONS.items():
        c[idx[a], idx[b]] = c[idx[b], idx[a]] = r
    w, v = np.linalg.eigh(c)
    c = (v * np.clip(w, 1e-3, None)) @ v.T
    d = np.sqrt(np.diag(c))
    return c / d[:, None] / d[None, :]


def sample_cohort(n_images: int, seed: int, site: Site = NIH_LIKE) -> pd.DataFrame:
    """Rows in NIH's vocabulary: image id, patient, follow-up, age, sex, view, 14 labels;
    ``site`` scales the prevalences and sets the AP share."""
    rng = np.random.default_rng([seed, 0xC0FFEE])
    counts = []
    while sum(counts) < n_images:
        counts.append(min(int(rng.geometric(1 / MEAN_FOLLOW_UPS)), 12))
    counts[-1] -= sum(counts) - n_images
    n_pat = len(counts)
    patient = np.repeat(np.arange(1, n_pat + 1), counts)
    follow_up = np.concatenate([np.arange(c) for c in counts])

    chol = np.linalg.cholesky(correlation_matrix())
    z_patient = rng.standard_normal((n_pat, len(FINDINGS))) @ chol.T
    z_image = rng.standard_normal((n_images, len(FINDINGS))) @ chol.T
    share = np.array(
        [PATIENT_SHARE_CHRONIC if f in CHRONIC else PATIENT_SHARE_ACUTE for f in FINDINGS]
    )
    z = np.sqrt(share) * z_patient[patient - 1] + np.sqrt(1 - share) * z_image
    threshold = norm.ppf(1 - np.array([PREVALENCE[f] * site.prevalence for f in FINDINGS]))
    labels = (z > threshold).astype(np.uint8)

    sex = np.where(rng.random(n_pat) < 0.56, "M", "F")[patient - 1]
    first_age = rng.integers(18, 86, n_pat)[patient - 1]
    age = first_age + np.floor(follow_up * rng.uniform(0.0, 0.6, n_images)).astype(int)
    ap_share = AP_SHARE if site.ap_share is None else site.ap_share
    view = np.where(rng.random(n_images) < ap_share, "AP", "PA")
    frame = pd.DataFrame(
        {
            "image_id": [f"{p:08d}_{f:03d}.png" for p, f in zip(patient, follow_up, strict=True)],
            "patient_id": patient,
            "follow_up": follow_up,
            "age": age,
            "sex": sex,
            "view": view,
        }
    )
    for j, name in enumerate(FINDINGS):
        frame[name] = labels[:, j]
    return frame
