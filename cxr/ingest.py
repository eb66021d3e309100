"""Ingest an NIH-layout folder: labels, image files, patient split and boxes, as tables.

Produces the metadata contract of ``docs/architecture.md`` (one row per usable
image), the box table and the list of everything rejected with its reason.
Nothing is dropped silently: a row that cannot be used is either an error that
stops the run (with ``missing="error"``) or a row of ``rejected``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxr.config import IngestConfig
from cxr.errors import InputError
from cxr.findings import FINDINGS
from cxr.nih.boxes import empty_boxes, find_box_file, read_box_file
from cxr.nih.expert_labels import empty_expert_labels, find_expert_file, read_expert_labels
from cxr.nih.image_files import index_image_files
from cxr.nih.label_file import META_COLUMNS, find_label_file, read_label_file
from cxr.nih.split_lists import TEST_LIST, TRAIN_VAL_LIST, read_split_list
from cxr.splits import SPLITS, assert_patient_disjoint, official_split, stratified_patient_split

#: Column order of ``metadata.parquet``.
METADATA_COLUMNS = (*META_COLUMNS[:1], "path", *META_COLUMNS[1:], *FINDINGS, "split")
#: Ages above this many years are kept but counted as implausible (the 2017 file has 16).
PLAUSIBLE_AGE = 110


class MissingImagesError(InputError):
    """Images listed in the label file are absent and the config makes that fatal."""


@dataclass
class IngestResult:
    metadata: pd.DataFrame  # METADATA_COLUMNS
    boxes: pd.DataFrame  # image_id, finding, x, y, w, h, split, frame
    rejected: pd.DataFrame  # image_id, reason, detail
    metrics: dict
    # Google 2019 radiologist labels of its "test" set, with our split of each image
    # ("" where the image was not ingested); empty without the file.
    expert: pd.DataFrame | None = None


def ingest(config: IngestConfig) -> IngestResult:
    """Read ``config.raw_dir`` and return the tables and metrics of the ingest stage."""
    t0 = time.perf_counter()
    raw_dir = Path(config.raw_dir)
    if not raw_dir.is_dir():
        raise InputError(f"raw folder {raw_dir} does not exist (set ingest.raw_dir in params.yaml)")
    label_path = (
        _resolve(raw_dir, config.label_file) if config.label_file else find_label_file(raw_dir)
    )
    table = read_label_file(label_path)
    frame = table.frame
    labels = frame[list(FINDINGS)].to_numpy()
    rejected: list[pd.DataFrame] = []

    # Split the whole label table first, so a partial download gets the same
    # patient assignment as the complete one.
    split, unlisted = _split(frame, labels, config, raw_dir)
    if config.split == "official":
        rejected.append(rejections(frame.image_id[unlisted], "not in an official split list", ""))

    paths, missing, not_found = _image_files(frame, unlisted, raw_dir, label_path, config)
    rejected += not_found

    keep = ~(missing | unlisted)
    meta = frame.loc[keep].copy()
    meta["path"] = paths[keep].astype(str)
    meta["split"] = pd.Series(split[keep], index=meta.index, dtype=str)
    meta = meta.sort_values("image_id", kind="stable").reset_index(drop=True)[
        list(METADATA_COLUMNS)
    ]
    assert_patient_disjoint(meta.patient_id.to_numpy(), meta.split.to_numpy())

    boxes, box_rejects = _boxes(raw_dir, meta, set(frame.image_id))
    boxes["frame"] = np.int64(config.box_frame)
    rejected.append(box_rejects)
    rejected_frame = pd.concat(rejected, ignore_index=True).astype(str)
    expert, expert_metrics = _expert_labels(raw_dir, meta)

    metrics = {
        "label_file": {
            "name": table.name,
            "variant": table.variant,
            "sha256": table.sha256,
            "content_sha256": table.content_sha256,
        },
        "split_mode": config.split,
        "seed": config.seed,
        "label_rows": len(frame),
        **_counts(meta, boxes, rejected_frame, int(missing.sum())),
        "expert_labels": expert_metrics,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return IngestResult(meta, boxes, rejected_frame, metrics, expert)


def _image_files(
    frame: pd.DataFrame, unlisted: np.ndarray, raw_dir: Path, label_path: Path, config: IngestConfig
) -> tuple[pd.Series, np.ndarray, list[pd.DataFrame]]:
    """Each label row's image file (NaN where none), which listed rows have none, and the
    rejections: rows without a file, and file names found twice (the first kept)."""
    files = index_image_files(raw_dir)
    paths = frame.image_id.map(files.locate)
    missing = paths.isna().to_numpy() & ~unlisted
    if missing.any() and config.missing == "error":
        names = frame.image_id[missing].tolist()
        raise MissingImagesError(
            f"{len(names)} of {len(frame)} images in {label_path.name} have no file under "
            f"{raw_dir} (searched images/ and images_NNN/images/), e.g. {names[:10]}; "
            "set ingest.missing: skip to exclude them"
        )
    twice = pd.DataFrame(
        {
            "image_id": [d[0] for d in files.duplicates],
            "reason": "file name found twice",
            "detail": [f"kept {d[1]}, ignored {d[2]}" for d in files.duplicates],
        }
    )
    not_found = rejections(frame.image_id[missing], "image file not found", f"under {raw_dir}")
    return paths, missing, [not_found, twice]


def _split(
    frame: pd.DataFrame, labels: np.ndarray, config: IngestConfig, raw_dir: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Each label row's split, and which rows no official list names (official mode)."""
    if config.split == "official":
        tv_path = _resolve(raw_dir, config.train_val_list or TRAIN_VAL_LIST)
        test_path = _resolve(raw_dir, config.test_list or TEST_LIST)
        split = official_split(
            frame.image_id.to_numpy(),
            frame.patient_id.to_numpy(),
            labels,
            read_split_list(tv_path),
            read_split_list(test_path),
            config.val_fraction,
            config.seed,
        )
        return split, split == ""
    if config.split == "patient":
        train = 1.0 - config.val_fraction - config.test_fraction
        split = stratified_patient_split(
            frame.patient_id.to_numpy(),
            labels,
            {"train": train, "val": config.val_fraction, "test": config.test_fraction},
            config.seed,
        )
        return split, np.zeros(len(frame), dtype=bool)
    raise InputError(f"unknown split mode {config.split!r}; use 'patient' or 'official'")


def _counts(meta: pd.DataFrame, boxes: pd.DataFrame, rejected: pd.DataFrame, missing: int) -> dict:
    """The metrics' counts of what was kept and what was rejected."""
    return {
        "images": len(meta),
        "patients": int(meta.patient_id.nunique()),
        "missing_images": missing,
        "rejected": len(rejected),
        "rejected_by_reason": rejected.reason.value_counts().sort_index().to_dict(),
        "implausible_ages": int((meta.age > PLAUSIBLE_AGE).sum()),
        "splits": split_summary(meta),
        "boxes": {
            "boxes": len(boxes),
            "images": int(boxes.image_id.nunique()),
            "by_finding": {k: int(v) for k, v in boxes.finding.value_counts().sort_index().items()},
        },
    }


def split_summary(meta: pd.DataFrame) -> dict:
    """Images, patients and positives per class for each split present."""
    out = {}
    for name in SPLITS:
        part = meta[meta.split == name]
        positives = part[list(FINDINGS)].sum()
        out[name] = {
            "images": len(part),
            "patients": int(part.patient_id.nunique()),
            "no_finding": int((part[list(FINDINGS)].sum(axis=1) == 0).sum()),
            "positives": {k: int(v) for k, v in positives.items()},
        }
    return out


def _boxes(
    raw_dir: Path, meta: pd.DataFrame, labelled: set[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    path = find_box_file(raw_dir)
    boxes = read_box_file(path) if path is not None else empty_boxes()
    unknown = ~boxes.image_id.isin(labelled)
    excluded = ~unknown & ~boxes.image_id.isin(meta.image_id)
    rejects = pd.concat(
        [
            rejections(boxes.image_id[unknown], "box for an image not in the label file", "boxes"),
            rejections(boxes.image_id[excluded], "box for an excluded image", "boxes"),
        ]
    )
    kept = boxes[~(unknown | excluded)].merge(
        meta[["image_id", "split"]], on="image_id", how="left"
    )
    kept = kept.sort_values(["image_id", "finding"], kind="stable").reset_index(drop=True)
    return kept, rejects


def _expert_labels(raw_dir: Path, meta: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    path = find_expert_file(raw_dir)
    if path is None:
        return empty_expert_labels().assign(split=pd.Series([], dtype=str)), {"file": None}
    expert = read_expert_labels(path, "test")
    split = expert.image_id.map(meta.set_index("image_id").split).fillna("").astype(str)
    expert["split"] = split
    return expert, {
        "file": path.name,
        "test_images": len(expert),
        "by_split": {k or "not ingested": int(v) for k, v in sorted(split.value_counts().items())},
    }


def rejections(
    image_ids: pd.Series, reason: str | pd.Series, detail: str | pd.Series
) -> pd.DataFrame:
    """Rows of ``rejected.csv``: each image, why, and where (one value, or one per image)."""
    return pd.DataFrame(
        {"image_id": image_ids.astype(str).to_numpy(), "reason": reason, "detail": detail}
    )


def _resolve(raw_dir: Path, name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() or path.exists() else raw_dir / path
