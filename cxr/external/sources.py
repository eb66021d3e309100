"""Ingest several data sets at once: ``ingest.raw_dir`` (source ``nih``) and every set of
``ingest.sources`` in its public layout, into one metadata table with a ``source`` column.

Each source is split by its own patients: NIH as ``ingest.split`` says (its
official lists kept in ``official`` mode), a set that ships its own split
(MIMIC-CXR's split file: ``OFFICIAL_SPLIT``) by that split, any other by the
seeded patient split stratified over the labels it gives. A finding a source
does not label stays NaN (never a negative), so the masked loss ignores it and
no metric counts it. ``hold_out`` sends every image of one source to test: it is
never trained or validated on, and its figures are the held-out ones. A set
without patient ids (VinDr-CXR) cannot be split by patient, so it may only be
held out whole; RSNA's and SIIM's films are NIH's own and are refused.

Ids are made unique across sources: an image of a further source is
``<source>/<its path>`` and its patient ``<source>:<id>``; NIH's images keep their
ids (boxes and expert labels still find them) and its patients become
``nih:<id>``. ``root`` names each image's folder (``path`` is below it). A row a
source's reader leaves out (a lateral view, an unreadable label) or whose file
is missing is a row of ``rejected`` with its reason. Without ``sources`` the
tables are :func:`cxr.ingest.ingest`'s, byte for byte.

Example::

    config = IngestConfig(sources=(ExternalSet("chexpert", "chexpert", "/data/CheXpert-v1.0",
                                               "train.csv"),))
    result = ingest_sources(config)
    result.metadata.groupby("source").split.value_counts()  # each source's own split
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr.config import ExternalSet, IngestConfig
from cxr.errors import InputError
from cxr.external.formats import FORMATS
from cxr.external.labels import OFFICIAL_SPLIT, ExternalLabels
from cxr.external.sets import label_file, locate, read_set
from cxr.findings import FINDINGS
from cxr.ingest import METADATA_COLUMNS, IngestResult, ingest, rejections, split_summary
from cxr.splits import assert_patient_disjoint, stratified_patient_split

NIH = "nih"
#: Columns the metadata table gains with further sources, after ``split``: the source, the
#: folder ``path`` is below, and what ``patient_id`` identifies (``patient``, or the image
#: for a held-out set without patient ids: its intervals say so).
SOURCE_COLUMNS = ("source", "root", "resampling_unit")


def ingest_sources(config: IngestConfig) -> IngestResult:
    """:func:`cxr.ingest.ingest` of ``raw_dir``, joined by every set of ``config.sources``."""
    nih = ingest(config)
    if not config.sources:
        return nih
    parts = [_nih_rows(nih.metadata, config)]
    rejected = [nih.rejected]
    mode = "hold_out" if config.hold_out == NIH else config.split
    summaries = {
        NIH: {"format": "nih", "folder": config.raw_dir, "split_mode": mode}
        | _summary(parts[0], NIH, config)
    }
    for item in config.sources:
        rows, rejects, described = _source_rows(item, config)
        parts.append(rows)
        rejected.append(rejects)
        summaries[item.name] = described | _summary(rows, item.name, config)
    meta = pd.concat(parts, ignore_index=True)
    assert_patient_disjoint(meta.patient_id.to_numpy(), meta.split.to_numpy())
    split_of = meta.set_index("image_id").split
    boxes = nih.boxes.assign(split=nih.boxes.image_id.map(split_of).astype(str))
    expert = nih.expert
    if expert is not None and len(expert):
        expert = expert.assign(split=expert.image_id.map(split_of).fillna("").astype(str))
    rejected_frame = pd.concat(rejected, ignore_index=True).astype(str)
    metrics = {
        **nih.metrics,
        "images": len(meta),
        "patients": int(meta.patient_id.nunique()),
        "rejected": len(rejected_frame),
        "rejected_by_reason": rejected_frame.reason.value_counts().sort_index().to_dict(),
        "splits": split_summary(meta),
        "hold_out": config.hold_out or None,
        "sources": summaries,
    }
    return IngestResult(meta, boxes, rejected_frame, metrics, expert)


def _nih_rows(meta: pd.DataFrame, config: IngestConfig) -> pd.DataFrame:
    """raw_dir's rows with their source, folder and prefixed patient ids."""
    rows = meta.assign(
        patient_id=NIH + ":" + meta.patient_id.astype(str),
        source=NIH,
        root=config.raw_dir,
        resampling_unit="patient",
    )
    for finding in FINDINGS:
        rows[finding] = rows[finding].astype(np.float32)
    if config.hold_out == NIH:
        rows["split"] = "test"
    return rows


def _source_rows(
    item: ExternalSet, config: IngestConfig
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """One further source's metadata rows, its rejected rows and what describes it."""
    folder, form = Path(item.folder), FORMATS[item.format]
    _refuse_unsplittable(item, config)
    labels = read_set(item.format, folder, item.labels, "ignore", True, item.name)
    found, missing = locate(labels.images, folder, form.unique_names)
    if not len(found):
        raise InputError(
            f"ingest.sources {item.name!r}: none of its {len(labels.images)} images has a file "
            f"under {folder} (e.g. {missing.reason.iloc[0] if len(missing) else 'none listed'})"
        )
    if len(missing) and config.missing == "error":
        raise InputError(
            f"ingest.sources {item.name!r}: {len(missing)} of {len(labels.images)} images have "
            f"no file under {folder}, e.g. {missing.image.head(5).tolist()}; set "
            "ingest.missing: skip to leave them out (listed in rejected.csv)"
        )
    split, mode = _split(found, labels, config, item.name)
    rows = pd.DataFrame(
        {
            "image_id": item.name + "/" + found.image.astype(str),
            "path": found.image.astype(str),
            "patient_id": item.name + ":" + found.patient_id.astype(str),
            "follow_up": -1,  # unknown outside NIH's file
            "age": np.nan,
            "sex": "",
            "view": found.view.astype(str),
            "orig_width": 0,  # known once decoded (preprocess's geometry columns)
            "orig_height": 0,
            "spacing_x": np.nan,
            "spacing_y": np.nan,
            **{f: found[f].astype(np.float32) for f in FINDINGS},
            "split": split,
        }
    )[list(METADATA_COLUMNS)].assign(
        source=item.name, root=item.folder, resampling_unit=form.resampling_unit
    )
    path = label_file(item.format, folder, item.labels)
    left = pd.concat([labels.excluded, missing], ignore_index=True)
    where = f"ingest.sources {item.name!r}, row " + left.source_row.astype(str) + f" of {path}"
    rejects = rejections(item.name + "/" + left.image.astype(str), left.reason.astype(str), where)
    described = {
        "format": item.format,
        "folder": item.folder,
        "label_file": str(path),
        "split_mode": mode,
        "scored": list(labels.scored),
        "unknown_labels": int(rows[list(FINDINGS)].isna().to_numpy().sum()),
    }
    return rows.sort_values("image_id", kind="stable").reset_index(drop=True), rejects, described


def _split(
    found: pd.DataFrame, labels: ExternalLabels, config: IngestConfig, name: str
) -> tuple[np.ndarray, str]:
    """Each image's split and how it was made: ``hold_out``, ``official`` (the set's own
    split) or ``patient`` (seeded, stratified over the findings it labels)."""
    if config.hold_out == name:
        return np.full(len(found), "test", dtype=object), "hold_out"
    if OFFICIAL_SPLIT in found.columns:
        return found[OFFICIAL_SPLIT].to_numpy(dtype=object), "official"
    known = np.nan_to_num(found[list(labels.scored)].to_numpy(dtype=np.float64)) == 1
    train = 1.0 - config.val_fraction - config.test_fraction
    fractions = {"train": train, "val": config.val_fraction, "test": config.test_fraction}
    split = stratified_patient_split(found.patient_id.to_numpy(), known, fractions, config.seed)
    return split, "patient"


def _summary(rows: pd.DataFrame, name: str, config: IngestConfig) -> dict:
    """A source's images, patients, role and splits."""
    return {
        "role": "held out" if config.hold_out == name else "trained on",
        "images": len(rows),
        "patients": int(rows.patient_id.nunique()),
        "splits": {
            split: {"images": v["images"], "patients": v["patients"]}
            for split, v in split_summary(rows).items()
        },
    }


def _refuse_unsplittable(item: ExternalSet, config: IngestConfig) -> None:
    """Stop on a set that cannot be trained on beside NIH with honest patient splits."""
    form = FORMATS[item.format]
    if form.nih_films:
        raise InputError(
            f"ingest.sources {item.name!r}: {form.title}'s films are NIH ChestX-ray14's own, "
            "under other ids; beside raw_dir's they would put one patient in two splits. "
            "Score it as an NIH re-read in external.sets instead"
        )
    if not form.patient_ids and config.hold_out != item.name:
        raise InputError(
            f"ingest.sources {item.name!r}: {form.title} has no patient ids, so no patient "
            f"split of it is possible; it can only be held out whole (ingest.hold_out: "
            f"{item.name})"
        )


def trains_on(config: IngestConfig, item: ExternalSet) -> bool:
    """Whether the pipeline's model trains on ``item``: a source of ``config`` (by name, or
    the same format and folder under another name) that is not held out."""
    folder = Path(item.folder).resolve()
    return any(
        source.name == item.name
        or (source.format == item.format and Path(source.folder).resolve() == folder)
        for source in config.sources
        if source.name != config.hold_out
    )
