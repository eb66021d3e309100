"""An external data set as params.yaml names it (format, folder, label file): its labels,
read by that format's reader, and each image's file found in the folder.

Every image the label file lists ends in one of two places: with a file, or
among the exclusions with the reason (the reader's, or "no image file"). A
file is looked for at its listed path below the folder first, then, in the
formats whose file name is the image's own identifier (``Format.unique_names``),
by its name anywhere below it: the Kaggle releases of VinDr, RSNA and SIIM
unpack their DICOMs into folders the label files do not name. Never by name
in CheXpert, whose names (``view1_frontal.jpg``) repeat in every study: a
missing file there would be matched to another patient's.

Example::

    labels = read_set("chexpert", Path("/data/CheXpert-v1.0"), "valid.csv")
    found, missing = locate(labels.images, Path("/data/CheXpert-v1.0"))  # not by name
    found.path        # train/patient00001/study1/view1_frontal.jpg, relative to the folder
    missing.reason    # "no image file (looked for .../view1_frontal.jpg and by name)"
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd

from cxr.errors import InputError
from cxr.external.formats import FORMATS
from cxr.external.labels import ExternalLabels, Uncertain, left_out


def label_file(format: str, folder: Path, labels: str = "") -> Path:
    """The label file of a set: ``labels`` below ``folder``, or the format's usual one (an
    error naming the path, and the key to set, when it is not there)."""
    if format not in FORMATS:
        raise InputError(f"external format {format!r}: expected one of {list(FORMATS)}")
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder (its 'folder' in external.sets)")
    if FORMATS[format].reads_folder:
        if labels:
            raise InputError(
                f"external set in {folder}: a {format} set reads its label files from the "
                f"folder; leave 'labels' empty (it is {labels!r})"
            )
        return folder
    path = folder / (labels or FORMATS[format].label_file)
    if not path.is_file():
        raise InputError(
            f"{path}: no such label file for a {format} set; set its 'labels' in "
            "external.sets to the file's path below the folder"
        )
    return path


def read_set(
    format: str,
    folder: Path,
    labels: str = "",
    uncertain: Uncertain = "ignore",
    frontal_only: bool = True,
    name: str = "",
) -> ExternalLabels:
    """The set's images and labels in cxr's terms (``cxr.external.labels``)."""
    path = label_file(format, folder, labels)
    try:
        return FORMATS[format].read(path, uncertain, frontal_only, name or format)
    except FileNotFoundError as err:  # MIMIC's reader names the file it lacks
        raise InputError(str(err)) from None


def locate(
    images: pd.DataFrame, folder: Path, by_name: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``images`` with a ``path`` (relative to ``folder``) where the file exists, and the
    rest as exclusions (``source_row``, ``image``, ``reason``); ``by_name``: a file not at
    its listed path may be found by its name anywhere below ``folder``, once."""
    repeated = images.image.duplicated(keep="first")
    if repeated.any():  # a second row of an image would be scored twice
        kept, again = locate(images[~repeated], folder, by_name)
        return kept, pd.concat(
            [again, left_out(images, repeated, "the image is listed again")], ignore_index=True
        )
    direct = [(folder / image).is_file() for image in images.image]
    paths = pd.Series(list(images.image), index=images.index, dtype=object)
    reasons = pd.Series("", index=images.index, dtype=object)
    missing = images.image[[not d for d in direct]]
    by_names = _files_by_name(folder) if by_name and len(missing) else {}
    for i, image in missing.items():
        found = by_names.get(Path(image).name, [])
        if len(found) == 1:
            paths[i] = found[0]
        elif found:
            reasons[i] = f"several files of its name ({found[0]}, {found[1]}, ...)"
        else:
            where = " and by name" if by_name else ""
            reasons[i] = f"no image file (looked for {folder / image}{where})"
    out = images.assign(path=paths)
    bad = reasons != ""
    return out[~bad].reset_index(drop=True), left_out(images, bad, reasons)


def _files_by_name(folder: Path) -> dict[str, list[str]]:
    """Every file below ``folder`` by its name: its paths relative to ``folder``."""
    out: dict[str, list[str]] = defaultdict(list)
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out[p.name].append(str(p.relative_to(folder)))
    return out
