"""torchxrayvision's pretrained models (Cohen et al., MIDL 2022) as cxr peers, built and fed
by torchxrayvision's own code.

Input, as its datasets make it: the 8-bit image scaled to [-1024, 1024]
(``xrv.utils.normalize(img, 255)``), one channel, a centre crop to the short
side (``XRayCenterCrop``) and a resize to the model's resolution
(``XRayResizer``: scikit-image, 224 px, or 512 for the ResNet). A DICOM is read
as its dataset class reads it (:func:`xrv_dicom`): RSNA's and SIIM's stored
pixels scaled by 255, others (VinDr's way, its only general DICOM reader)
through the modality LUT and window, MONOCHROME1 inverted, scaled by the bit
depth. Output: the
classifier's logits, before the sigmoid and the operating-point
normalisation torchxrayvision applies by default (``op_threshs``), mapped onto
the 14 findings by name; an output named ``""`` was not trained and is
unscored.

Weights are torchxrayvision's files in its cache folder
(``~/.torchxrayvision/models_data``, or ``cache_dir``). Nothing is downloaded:
a missing file is an error naming where it was looked for and where it comes
from.

    >>> PROVENANCE["densenet121-res224-nih"].nih_test_overlap[:6]
    'likely'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from cxr.errors import InputError
from cxr.imaging.decode import DecodeError, sniff
from cxr.peers.base import Peer, Provenance

XRV_SPLIT = (
    "likely: torchxrayvision trained on a random split of each data set, not NIH's "
    "official train_val/test lists, and kept no record of it (mlmed/torchxrayvision#47), "
    "so NIH official-test images were probably in its training data"
)
RANDOM_SEED = 0  # of --random-init's weights
NO_NIH = "none: no NIH ChestX-ray14 images in its training data"
#: What each model was trained on (its model_urls description, or its name), and whether
#: an NIH test image may have been in it.
PROVENANCE = {
    name: Provenance(trained_on, overlap, "torchxrayvision", frozenset(datasets.split()))
    for name, trained_on, overlap, datasets in (
        ("densenet121-res224-nih", "NIH ChestX-ray14", XRV_SPLIT, "nih"),
        (
            "densenet121-res224-all",
            "NIH ChestX-ray14, PadChest, CheXpert, MIMIC-CXR, Google (NIH re-read), OpenI, "
            "RSNA Pneumonia (NIH images)",
            XRV_SPLIT,
            "nih padchest chexpert mimic google openi rsna",
        ),
        ("densenet121-res224-chex", "CheXpert", NO_NIH, "chexpert"),
        ("densenet121-res224-pc", "PadChest", NO_NIH, "padchest"),
        ("densenet121-res224-mimic_nb", "MIMIC-CXR (NegBio labels)", NO_NIH, "mimic"),
        ("densenet121-res224-mimic_ch", "MIMIC-CXR (CheXpert labels)", NO_NIH, "mimic"),
        ("densenet121-res224-rsna", "RSNA Pneumonia (NIH images, re-read)", XRV_SPLIT, "rsna nih"),
        (
            "resnet50-res512-all",
            "PadChest, NIH ChestX-ray14, RSNA Pneumonia, SIIM-ACR, VinDr-CXR",
            XRV_SPLIT,
            "padchest nih rsna siim vindr",
        ),
    )
}


def cache_folder(cache_dir: str | Path | None = None) -> Path:
    """Where torchxrayvision keeps its weights (its own default unless ``cache_dir``)."""
    import torchxrayvision as xrv

    return Path(os.path.expanduser(str(cache_dir or xrv.utils.get_cache_dir())))


def weights_file(name: str, cache_dir: str | Path | None = None) -> Path:
    """The file torchxrayvision loads for ``name`` (an error if it is not there)."""
    import torchxrayvision as xrv

    url = _entry(name)["weights_url"]
    path = cache_folder(cache_dir) / os.path.basename(url)
    downloaded = cache_folder() / path.name  # torchxrayvision's own cache
    if not path.is_file() and downloaded.is_file():
        raise InputError(
            f"xrv:{name}: no weights at {path}; torchxrayvision's cache has them: "
            f"`mkdir -p {path.parent} && cp {downloaded} {path}`"
        )
    if not path.is_file():
        raise InputError(
            f"xrv:{name}: no weights at {path}. With internet, download them there "
            f"(`wget {url} -O {path}`), or run torchxrayvision once "
            f"(xrv.models.get_model('{name}')); or pass --xrv-cache to the folder that "
            f"holds {path.name}. torchxrayvision {xrv.__version__} lists: "
            f"{', '.join(sorted(PROVENANCE))}"
        )
    return path


def xrv_peer(name: str, cache_dir: str | Path | None = None, random_init: bool = False) -> Peer:
    """torchxrayvision's model ``name`` (e.g. ``densenet121-res224-nih``) from its weights
    file, or with random weights (``random_init``: for tests and smoke runs; seeded, so
    ``cxr score`` and ``cxr predict`` get the same ones)."""
    import torchxrayvision as xrv

    entry = _entry(name)
    labels = tuple(entry["labels"])
    with tempfile.TemporaryDirectory() as scratch:
        if random_init:  # through the same loading code as a real file
            path, weights = _random_weights(name, Path(scratch)), f"random (seed {RANDOM_SEED})"
        else:
            path = weights_file(name, cache_dir)
            weights = str(path)
        model = xrv.models.get_model(name, cache_dir=str(path.parent) + os.sep)
    model.op_threshs = None  # logits, not torchxrayvision's operating-point scores
    model.apply_sigmoid = False
    resolution = int(entry.get("input_resolution", 224))
    prepare, read = _preparer(resolution)
    return Peer(f"xrv:{name}", model.eval(), labels, prepare, PROVENANCE[name], weights, read)


def _random_weights(name: str, folder: Path) -> Path:
    """A file of seeded random weights for ``name`` in ``folder``, in torchxrayvision's
    format: the whole DenseNet module, or the ResNet's state dict."""
    import torchxrayvision as xrv
    from torchvision import models

    classes = len(_entry(name)["labels"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        if name.startswith("densenet"):
            content = xrv.models.DenseNet(num_classes=classes)
        else:  # torchxrayvision's ResNets: torchvision's, with a one-channel stem
            net = getattr(models, name.split("-")[0])(weights=None, num_classes=classes)
            net.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
            content = net.state_dict()
    path = folder / os.path.basename(_entry(name)["weights_url"])
    torch.save(content, path)
    return path


def _entry(name: str) -> dict:
    import torchxrayvision as xrv

    if name not in xrv.models.model_urls or name not in PROVENANCE:
        raise InputError(f"xrv:{name}: not a torchxrayvision model; known: {sorted(PROVENANCE)}")
    return xrv.models.model_urls[name]


def xrv_dicom(path: Path, source: str = "") -> np.ndarray:
    """A DICOM as torchxrayvision's dataset classes read it, ``[H, W]`` in [-1024, 1024]:
    RSNA's and SIIM's (``RSNA_Pneumonia_Dataset``, ``SIIM_Pneumothorax_Dataset``) their
    stored pixels over 255; any other (``VinBrain_Dataset``'s way) through the modality
    LUT and the window, MONOCHROME1 inverted, over 2 ** bits stored (8 where every value
    is below 256, as its code has it)."""
    import pydicom
    import torchxrayvision as xrv
    from pydicom.pixels import apply_modality_lut, apply_windowing

    ds = pydicom.dcmread(path, force=True)  # as cxr's decoder: a file without a preamble too
    if source in ("rsna", "siim"):
        return xrv.utils.normalize(ds.pixel_array, 255)
    img = apply_windowing(apply_modality_lut(ds.pixel_array, ds), ds)
    bits = 8 if img.max() < 256 else int(ds.BitsStored)
    if str(ds.PhotometricInterpretation) == "MONOCHROME1":
        img = -1 * img + 2.0**bits
    return xrv.utils.normalize(img, 2.0**bits)


def _preparer(resolution: int):
    import torchxrayvision as xrv

    crop, resize = xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(resolution)

    def finish(image: np.ndarray) -> np.ndarray:
        return resize(crop(image[None])).astype(np.float32)

    def prepare(gray8: np.ndarray) -> np.ndarray:
        """uint8 ``[H, W]`` -> float32 ``[1, R, R]`` in [-1024, 1024], as xrv's datasets."""
        return finish(xrv.utils.normalize(gray8, 255))

    def read(path: Path, source: str) -> np.ndarray | None:
        """A DICOM as xrv's datasets read it (:func:`xrv_dicom`); None for other files."""
        try:
            with open(path, "rb") as file:
                kind = sniff(file.read(132), str(path))  # cxr's decoder's test, as it reads
        except (OSError, DecodeError):
            return None  # cxr's decoder names the error
        if kind != "dicom":
            return None
        try:
            return finish(xrv_dicom(path, source))
        except Exception as err:  # pydicom and xrv raise many types for a bad file
            raise DecodeError(f"torchxrayvision cannot read this DICOM ({err})") from None

    return prepare, read
