"""The external data formats cxr reads, one entry each: its reader (one signature for all),
its usual label file, and what its figures rest on.

What an entry says beyond the reader matters to every figure of the set:

* ``patient_ids``: whether the label file identifies patients. VinDr-CXR, RSNA
  and SIIM do not (each image is its own "patient"), so their intervals
  resample *images*: ``resampling_unit`` says so wherever an interval is written.
* ``nih_films``: RSNA Pneumonia's and SIIM-ACR's images are NIH ChestX-ray14's
  own films, re-read by radiologists. A figure on them is an NIH re-read, not
  an external validation: same hospital, same scanners, and patients who may be
  in the NIH training split. Their difference from the NIH test figure is not
  a drop to another hospital, and its interval (which assumes two independent
  samples of patients) does not apply.
* ``dataset``: the data set's key in a peer's record of what it trained on
  (``cxr.peers.base.Provenance.datasets``), so a peer scored on its own
  training data is flagged.

Example::

    FORMATS["rsna"].read(path, "ignore", True, "rsna")   # ExternalLabels
    FORMATS["rsna"].resampling_unit                       # 'image (the set has no patient ids)'
    FORMATS["siim"].nih_films                             # True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cxr.external.chexpert import read_chexpert
from cxr.external.labels import ExternalLabels, Uncertain
from cxr.external.mimic import read_mimic
from cxr.external.padchest import read_padchest
from cxr.external.rsna import read_rsna
from cxr.external.siim import read_siim
from cxr.external.vindr import read_vindr

#: What every reader is called with: label file (or, where ``Format.reads_folder``, the
#: set's folder), uncertain-label policy, frontal views only, the set's name. Adding a
#: format is one reader module, one entry here and its name in ``cxr.config.ExternalFormat``
#: (``tests/test_external_labels.py`` checks the two agree).
Reader = Callable[[Path, Uncertain, bool, str], ExternalLabels]
#: The unit resampled where a set has no patient ids.
IMAGE_UNIT = "image (the set has no patient ids)"


@dataclass(frozen=True)
class Format:
    """One external data format (see the module's docstring for what each field means)."""

    read: Reader
    label_file: str  # below the set's folder, as the data set ships it ("": the folder itself)
    dataset: str  # its key in a peer's training data (Provenance.datasets)
    title: str  # how reports name the data set
    unique_names: bool = True  # file names are identifiers: a file may be found by name
    patient_ids: bool = True
    nih_films: bool = False
    box_frame: int = 0  # the grid its boxes are given on; 0: each file's own pixels
    note: str = ""  # what a reader of its figures must know, printed with them

    @property
    def reads_folder(self) -> bool:
        """Whether the reader takes the set's folder (MIMIC's three label files) rather than
        one label file."""
        return not self.label_file

    @property
    def resampling_unit(self) -> str:
        return "patient" if self.patient_ids else IMAGE_UNIT

    @property
    def origin(self) -> str:
        """``external`` (another hospital's films) or ``nih_reread`` (NIH's own films)."""
        return "nih_reread" if self.nih_films else "external"


NIH_REREAD = (
    "NIH re-read: these are NIH ChestX-ray14's own films with radiologists' labels, not "
    "another hospital's; the difference from the NIH test figure is not an external drop, "
    "and its patients may be in the NIH training split"
)

FORMATS: dict[str, Format] = {
    "chexpert": Format(
        lambda p, u, f, n: read_chexpert(p, u, f, name=n), "valid.csv", "chexpert",
        "CheXpert", unique_names=False,  # view1_frontal.jpg repeats in every study
    ),
    "mimic": Format(
        lambda p, u, f, n: read_mimic(p, u, f, name=n), "", "mimic", "MIMIC-CXR-JPG",
        note="all three official splits are read (train, validate, test): a model trained "
        "on MIMIC-CXR has seen the train split's films",
    ),
    "padchest": Format(
        lambda p, u, f, n: read_padchest(p, f, name=n),
        "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv", "padchest", "PadChest",
    ),
    "vindr": Format(
        lambda p, u, f, n: read_vindr(p, name=n), "train.csv", "vindr", "VinDr-CXR",
        patient_ids=False,
    ),
    "rsna": Format(
        lambda p, u, f, n: read_rsna(p, name=n), "stage_2_train_labels.csv", "rsna",
        "RSNA Pneumonia", patient_ids=False, nih_films=True, box_frame=1024, note=NIH_REREAD,
    ),
    "siim": Format(
        lambda p, u, f, n: read_siim(p, name=n), "train-rle.csv", "siim", "SIIM-ACR Pneumothorax",
        patient_ids=False, nih_films=True, box_frame=1024, note=NIH_REREAD,
    ),
}  # fmt: skip
