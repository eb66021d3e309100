"""torchxrayvision's pretrained models (Cohen et al., MIDL 2022) as cxr peers, built and fed
by torchxrayvision's own code.

Input, as its datasets make it: the 8-bit image scaled to [-1024, 1024]
(``xrv.utils.normalize(img, 255)``), one channel, a centre crop to the short
side (``XRayCenterCrop``) and a resize to the model's resolution
(``XRayResizer``: scikit-image, 224 px, or 512 for the ResNet). Output: the
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
from cxr.peers.base import Peer, Provenance

XRV_SPLIT = (
    "likely: torchxrayvision trained on a random split of each data set, not NIH's "
    "official train_val/test lists, and kept no record of it (mlmed/torchxrayvision#47), "
    "so NIH official-test images were probably in its training data"
)
RANDOM_SEED = 0  # of --random-init's weights
NO_NIH = "none: no NIH ChestX-ray14 images in its training data"
#: What each model was trained on, and whether an NIH test image may have been in it.
PROVENANCE = {
    name: Provenance(trained_on, overlap, "torchxrayvision")
    for name, trained_on, overlap in (
        ("densenet121-res224-nih", "NIH ChestX-ray14", XRV_SPLIT),
        (
            "densenet121-res224-all",
            "NIH ChestX-ray14, PadChest, CheXpert, MIMIC-CXR, Google (NIH re-read), OpenI, "
            "RSNA Pneumonia (NIH images)",
            XRV_SPLIT,
        ),
        ("densenet121-res224-chex", "CheXpert", NO_NIH),
        ("densenet121-res224-pc", "PadChest", NO_NIH),
        ("densenet121-res224-mimic_nb", "MIMIC-CXR (NegBio labels)", NO_NIH),
        ("densenet121-res224-mimic_ch", "MIMIC-CXR (CheXpert labels)", NO_NIH),
        ("densenet121-res224-rsna", "RSNA Pneumonia (NIH images, re-read)", XRV_SPLIT),
        (
            "resnet50-res512-all",
            "PadChest, NIH ChestX-ray14, RSNA Pneumonia, SIIM-ACR, VinDr-CXR",
            XRV_SPLIT,
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
    prepare = _preparer(resolution)
    return Peer(f"xrv:{name}", model.eval(), labels, prepare, PROVENANCE[name], weights)


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


def _preparer(resolution: int):
    import torchxrayvision as xrv

    crop, resize = xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(resolution)

    def prepare(gray8: np.ndarray) -> np.ndarray:
        """uint8 ``[H, W]`` -> float32 ``[1, R, R]`` in [-1024, 1024], as xrv's datasets."""
        image = xrv.utils.normalize(gray8, 255)[None]
        return resize(crop(image)).astype(np.float32)

    return prepare
