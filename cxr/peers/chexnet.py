"""CheXNet-style checkpoints (Rajpurkar et al. 2017, and its reimplementations) as cxr peers:
a torchvision DenseNet121 with a 14-output head, from a state dict as those repositories
save it.

The state dict may be wrapped (``{"state_dict": ...}``, as arnoweng/CheXNet's
``model.pth.tar``), carry DataParallel's ``module.`` prefix and a
``densenet121.`` one, use the layer names of torchvision before 0.4
(``norm.1``, ``conv.2``, which newer PyTorch reports as unexpected keys), and
put the head in a ``Sequential(Linear, Sigmoid)`` (``classifier.0.weight``).
All of these are renamed to torchvision's DenseNet121; then every key must
match, and a key left over or missing is an error naming it. The 14 outputs
are in NIH's order (``cxr.findings.FINDINGS``), as all those repositories
write them.

Input, as their evaluation transforms make it: the radiograph as RGB, resized
so its short side is 256 px, centre-cropped to 224, scaled to [0, 1] and
normalised with ImageNet's mean and standard deviation.

    >>> renamed("module.densenet121.features.denseblock1.denselayer1.norm.1.weight")
    'features.denseblock1.denselayer1.norm1.weight'
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import models, transforms

from cxr.errors import InputError
from cxr.findings import FINDINGS
from cxr.peers.base import Peer, Provenance

_OLD_LAYER = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.")
PROVENANCE = Provenance(
    "NIH ChestX-ray14 (the checkpoint's own split: ask its authors)",
    "unknown: CheXNet's reimplementations split NIH at random by patient; unless the "
    "checkpoint was trained on the official train_val list, NIH official-test images may "
    "have been in its training data",
    "a local file",
    frozenset({"nih"}),
)
#: The reimplementations' evaluation transform (one centre crop; arnoweng/CheXNet
#: averages ten crops of the same 256-px image).
TRANSFORM = transforms.Compose(
    [
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ]
)


def renamed(key: str) -> str:
    """A CheXNet checkpoint's key as torchvision's DenseNet121 names it."""
    key = key.removeprefix("module.").removeprefix("densenet121.")
    key = _OLD_LAYER.sub(r"\1\2.", key)
    return key.replace("classifier.0.", "classifier.")


def prepare(gray8: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W]`` -> float32 ``[3, 224, 224]``, as the reimplementations' eval loaders."""
    return TRANSFORM(Image.fromarray(gray8).convert("RGB")).numpy()


def chexnet_peer(path: str | Path) -> Peer:
    """The DenseNet121 of the checkpoint at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"chexnet:{path}: no such weights file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a pickled model object, or not a checkpoint at all
        raise InputError(
            f"chexnet:{path}: not a state dict torch can load safely ({type(err).__name__}); "
            "if it pickles a whole model, save model.state_dict() from the repository's code"
        ) from None
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise InputError(f"chexnet:{path}: holds no state dict of tensors")
    state = {renamed(k): v for k, v in state.items()}
    head = state.get("classifier.weight")
    if head is None or head.shape[0] != len(FINDINGS):
        shape = None if head is None else tuple(head.shape)
        raise InputError(f"chexnet:{path}: the head is {shape}, not 14 outputs (classifier)")
    model = models.densenet121(weights=None, num_classes=len(FINDINGS))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(
            f"chexnet:{path}: not a DenseNet121 state dict: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]} (of {len(missing)} and {len(unexpected)})"
        )
    name = f"chexnet:{path.name}"
    return Peer(name, model.eval(), tuple(FINDINGS), prepare, PROVENANCE, str(path.resolve()))
