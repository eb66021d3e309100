"""Write the demo's second hospital: phantoms of :data:`~cxr.demo.site.SECOND_HOSPITAL` in
CheXpert's layout, the external set ``dvc repro`` scores a model on.

The folder holds what a CheXpert download holds: ``valid.csv`` (``Path``,
``Sex``, ``Age``, ``Frontal/Lateral``, ``AP/PA`` and the 14 observations coded
1, 0, -1 or blank) and ``valid/patientNNNNNN/studyK/viewN_frontal.jpg``. The
labels are the labeller's kind, made from the phantoms' true NIH-14 findings:
the seven CheXpert observations that are NIH findings say what was drawn,
except that a share is uncertain (-1) and a negative is as often blank (not
mentioned) as 0; the broader observations (Lung Opacity, Lung Lesion, Pleural
Other) are derived from the findings under them. A share of rows are
lateral views (``cxr.demo.lateral``: the same patient seen from the side,
without findings) for the frontal filter and the input guard to refuse. ``_demo_truth.csv`` keeps
every image's true 14 findings, which no CheXpert download has, for tests.
Patients are numbered from 100001, so no phantom anatomy repeats the NIH set's.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cxr.atomic import atomic_path
from cxr.demo.cohort import sample_cohort
from cxr.demo.render import ImageSpec, render, render_lateral
from cxr.demo.site import SECOND_HOSPITAL, Site
from cxr.external.chexpert import TO_NIH
from cxr.findings import FINDINGS

LABEL_FILE = "valid.csv"
TRUTH_FILE = "_demo_truth.csv"
PATIENT_OFFSET = 100_000
UNCERTAIN_SHARE = 0.08  # of each mapped label, written -1
LATERAL_SHARE = 0.15  # of rows, a lateral view
#: CheXpert's observations that are wider than NIH findings, from the findings under them.
BROADER = {
    "Lung Opacity": ("Infiltration", "Consolidation", "Pneumonia", "Atelectasis", "Edema"),
    "Lung Lesion": ("Mass", "Nodule"),
    "Pleural Other": ("Pleural_Thickening",),
}
OBSERVATIONS = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
    "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices",
)  # fmt: skip


def generate_second_hospital(
    out_dir: str | Path,
    images: int,
    size: int,
    seed: int,
    site: Site = SECOND_HOSPITAL,
    render_size: int = 0,
) -> dict:
    """Render ``images`` phantoms of ``site`` into ``out_dir`` in CheXpert's layout; return
    the counts for the demo's metrics."""
    t0 = time.perf_counter()
    cohort = sample_cohort(images, seed + 1, site)  # other patients than the NIH set's
    cohort["patient_id"] += PATIENT_OFFSET
    rng = np.random.default_rng([seed, 0x5EC0])
    cohort["lateral"] = rng.random(len(cohort)) < LATERAL_SHARE
    cohort["path"] = [
        f"CheXpert-v1.0/valid/patient{p:06d}/study{f + 1}/"
        + ("view2_lateral.jpg" if lateral else "view1_frontal.jpg")
        for p, f, lateral in zip(cohort.patient_id, cohort.follow_up, cohort.lateral, strict=True)
    ]
    with atomic_path(out_dir) as tmp:
        rows = tqdm(
            cohort.itertuples(index=False), total=len(cohort), desc="second hospital", unit="img"
        )
        for r in rows:
            labels = tuple(int(getattr(r, f)) for f in FINDINGS)
            spec = ImageSpec(r.path, int(r.patient_id), int(r.follow_up), r.sex, r.view, labels)
            if r.lateral:
                pixels = render_lateral(spec, size, seed, render_size, site)
            else:
                pixels, _, _ = render(spec, size, seed, render_size, site)
            ok, jpeg = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise RuntimeError(f"could not encode {r.path}")
            target = tmp / r.path.split("/", 1)[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(jpeg.tobytes())
        table = label_table(cohort, rng)
        table.to_csv(tmp / LABEL_FILE, index=False)
        truth = cohort[["path", *FINDINGS]].rename(columns={"path": "Path"})
        truth.to_csv(tmp / TRUTH_FILE, index=False)
    frontal = ~cohort.lateral
    return {
        "images": images,
        "patients": int(cohort.patient_id.nunique()),
        "frontal": int(frontal.sum()),
        "ap_share_frontal": round(float((cohort.view[frontal] == "AP").mean()), 3),
        "uncertain_labels": int((table[list(TO_NIH.values())] == -1).sum().sum()),
        "true_positives_frontal": {f: int(cohort.loc[frontal, f].sum()) for f in TO_NIH},
        "seconds": round(time.perf_counter() - t0, 2),
    }


def label_table(cohort: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``valid.csv``'s rows for ``cohort``: the labeller's codes for its true findings."""
    table = pd.DataFrame(
        {
            "Path": cohort.path,
            "Sex": cohort.sex.map({"M": "Male", "F": "Female"}),
            "Age": cohort.age,
            "Frontal/Lateral": np.where(cohort.lateral, "Lateral", "Frontal"),
            "AP/PA": np.where(cohort.lateral, None, cohort.view),
        }
    )
    truth = cohort[list(FINDINGS)].to_numpy().astype(bool)
    coded = {column: truth[:, FINDINGS.index(f)] for f, column in TO_NIH.items()}
    coded |= {o: truth[:, [FINDINGS.index(f) for f in fs]].any(axis=1) for o, fs in BROADER.items()}
    for observation in OBSERVATIONS:
        present = coded.get(observation)
        if observation == "No Finding":
            table[observation] = np.where(truth.any(axis=1), np.nan, 1.0)
        elif present is None:
            table[observation] = np.nan  # never mentioned
        else:
            negative = np.where(rng.random(len(table)) < 0.5, 0.0, np.nan)  # 0 or blank
            value = np.where(present, 1.0, negative)
            table[observation] = np.where(rng.random(len(table)) < UNCERTAIN_SHARE, -1.0, value)
    return table
