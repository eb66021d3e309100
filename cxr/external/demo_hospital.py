"""Write a demo hospital in CheXpert's layout: the second (:data:`SECOND`, phantoms of
:data:`~cxr.demo.site.SECOND_HOSPITAL`), the external set ``dvc repro`` scores a model on,
and the third (:data:`THIRD`), held out of every model (docs/sources.md).

The folder holds what a CheXpert download holds: ``valid.csv`` (``Path``,
``Sex``, ``Age``, ``Frontal/Lateral``, ``AP/PA`` and the 14 observations coded
1, 0, -1 or blank) and ``valid/patientNNNNNN/studyK/viewN_frontal.jpg``. The
labels are the labeller's kind, made from the phantoms' true NIH-14 findings:
the seven CheXpert observations that are NIH findings say what was drawn,
except that a share is uncertain (-1) and a share of negatives is blank (not
mentioned) rather than 0, each hospital's labeller its own shares
(:class:`Labeller`); the broader observations (Lung Opacity, Lung Lesion, Pleural
Other) are derived from the findings under them. A share of rows are
lateral views (``cxr.demo.lateral``: the same patient seen from the side,
without findings) for the frontal filter and the input guard to refuse. ``_demo_truth.csv`` keeps
every image's true 14 findings, which no CheXpert download has, for tests.
Patients are numbered from 100001 (the second) and 200001 (the third), so no
phantom anatomy repeats the NIH set's or another hospital's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cxr.atomic import atomic_path
from cxr.demo.cohort import sample_cohort
from cxr.demo.render import ImageSpec, render, render_lateral
from cxr.demo.site import SECOND_HOSPITAL, THIRD_HOSPITAL, Site
from cxr.external.chexpert import TO_NIH
from cxr.findings import FINDINGS

LABEL_FILE = "valid.csv"
TRUTH_FILE = "_demo_truth.csv"
LATERAL_SHARE = 0.15  # of rows, a lateral view


@dataclass(frozen=True)
class Labeller:
    """A hospital's films and its report-reading habits."""

    site: Site
    patient_offset: int  # its patients are numbered from this + 1
    stream: int  # its draws' own random stream (cohort and labels)
    uncertain_share: float  # of each mapped label, written -1
    blank_share: float  # of negatives, left blank (not mentioned) rather than written 0


SECOND = Labeller(SECOND_HOSPITAL, 100_000, 1, uncertain_share=0.08, blank_share=0.5)
#: More hedged reports, negatives rarely written out.
THIRD = Labeller(THIRD_HOSPITAL, 200_000, 2, uncertain_share=0.15, blank_share=0.85)
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


def generate_hospital(
    out_dir: str | Path,
    images: int,
    size: int,
    seed: int,
    hospital: Labeller = SECOND,
    render_size: int = 0,
) -> dict:
    """Render ``images`` phantoms of ``hospital`` into ``out_dir`` in CheXpert's layout;
    return the counts for the demo's metrics."""
    t0 = time.perf_counter()
    site = hospital.site
    cohort = sample_cohort(images, seed + hospital.stream, site)  # not the NIH set's patients
    cohort["patient_id"] += hospital.patient_offset
    rng = np.random.default_rng([seed, 0x5EC0 + hospital.stream - 1])
    cohort["lateral"] = rng.random(len(cohort)) < LATERAL_SHARE
    cohort["path"] = [
        f"CheXpert-v1.0/valid/patient{p:06d}/study{f + 1}/"
        + ("view2_lateral.jpg" if lateral else "view1_frontal.jpg")
        for p, f, lateral in zip(cohort.patient_id, cohort.follow_up, cohort.lateral, strict=True)
    ]
    with atomic_path(out_dir) as tmp:
        rows = tqdm(
            cohort.itertuples(index=False),
            total=len(cohort),
            desc=f"hospital {hospital.stream + 1}",
            unit="img",
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
        table = label_table(cohort, rng, hospital)
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


def label_table(
    cohort: pd.DataFrame, rng: np.random.Generator, hospital: Labeller = SECOND
) -> pd.DataFrame:
    """``valid.csv``'s rows for ``cohort``: ``hospital``'s codes for its true findings."""
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
            written = rng.random(len(table)) < 1.0 - hospital.blank_share
            value = np.where(present, 1.0, np.where(written, 0.0, np.nan))  # 0 or blank
            uncertain = rng.random(len(table)) < hospital.uncertain_share
            table[observation] = np.where(uncertain, -1.0, value)
    return table
