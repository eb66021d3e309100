"""Build a classifier by name from its config, and initialise it from pretrained weights.

``weights``: ``auto`` uses torchvision's ImageNet weights of the arch's
backbone (DenseNet121, or ResNet50 for ``resnet50``) when they can be obtained
(from the torch hub cache or the internet) and otherwise starts from random
initialisation with a warning; ``imagenet`` requires them; ``none`` starts
from random; any other value is a path to a torchvision-format state dict of
that backbone or a cxr checkpoint. What was actually used is returned
and recorded in ``metrics/train.json``.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch
from torch import nn

from cxr.config import ARCHS, ModelConfig
from cxr.errors import InputError
from cxr.models.contract import Classifier
from cxr.models.densenet import DenseNet121Classifier
from cxr.models.dualpath import DualPathClassifier
from cxr.models.layers import checkpoint_dense_layers
from cxr.models.resnet import ResNet50Classifier


def build_model(config: ModelConfig, num_classes: int = 14) -> Classifier:
    """A randomly initialised model of ``config.arch``, its DenseNet layers checkpointed with
    ``config.memory_efficient``."""
    model = _build(config, num_classes)
    if config.memory_efficient:
        checkpoint_dense_layers(model)
    return model


#: ``model.arch`` -> the architecture, which builds itself from the model config.
ARCHITECTURES: dict[str, type[Classifier]] = {
    "densenet121": DenseNet121Classifier,
    "resnet50": ResNet50Classifier,
    "dualpath": DualPathClassifier,
}


def _build(config: ModelConfig, num_classes: int) -> Classifier:
    if config.arch not in ARCHITECTURES:
        raise InputError(f"model.arch = {config.arch!r}; known: {', '.join(ARCHS)}")
    return ARCHITECTURES[config.arch].from_config(config, num_classes)


def initialise(model: nn.Module, weights: str) -> str:
    """Load pretrained backbone weights per ``weights``; return a description of what was used."""
    if weights == "none":
        return "none"
    if weights in ("auto", "imagenet"):
        try:
            state = _imagenet(model)
        except Exception as err:  # offline, blocked, corrupt download: say why
            if weights == "imagenet":
                raise InputError(
                    f"model.weights = imagenet, but torchvision's ImageNet weights could not be "
                    f"obtained ({type(err).__name__}: {err}); put "
                    f"{_imagenet_weights(model).url.rsplit('/', 1)[-1]} in the torch hub cache "
                    "(torch.hub.get_dir()/checkpoints), or use model.weights: none or a file path"
                ) from None
            warnings.warn(
                f"ImageNet weights unavailable ({type(err).__name__}); training from random "
                "initialisation (model.weights: auto)",
                stacklevel=2,
            )
            return "none (ImageNet weights unavailable)"
        _load_backbone(model, state, "ImageNet")
        return "imagenet"
    path = Path(weights)
    if not path.is_file():
        raise InputError(f"model.weights = {weights!r}: no such file (or use auto, imagenet, none)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model_state" in state:  # a cxr checkpoint
        state = state["model_state"]
    _load_backbone(model, state, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return f"file {path.name} sha256:{digest}"


def _imagenet_weights(model: nn.Module):
    """torchvision's ImageNet weights entry for ``model``'s backbone."""
    import torchvision

    if isinstance(model, ResNet50Classifier):
        return torchvision.models.ResNet50_Weights.IMAGENET1K_V1
    return torchvision.models.DenseNet121_Weights.IMAGENET1K_V1


def _imagenet(model: nn.Module) -> dict[str, torch.Tensor]:
    import torchvision

    # Building through torchvision applies its renaming of the old checkpoint keys.
    weights = _imagenet_weights(model)
    build = (
        torchvision.models.resnet50
        if isinstance(model, ResNet50Classifier)
        else (torchvision.models.densenet121)
    )
    return build(weights=weights).state_dict()


def _load_backbone(model: Classifier, state: dict[str, torch.Tensor], source: str) -> None:
    """Load every pretrained part: torchvision ``features.*`` keys go to each prefix of
    ``model.pretrained_prefixes``; a cxr checkpoint of the same arch loads by name."""
    own = model.state_dict()
    prefixes = model.pretrained_prefixes
    picked = {}
    for prefix in prefixes:
        for key, value in state.items():
            if key.startswith(prefix) and key in own:
                picked[key] = value
            elif key.startswith("features.") and prefix + key[len("features.") :] in own:
                picked[prefix + key[len("features.") :]] = value
    wanted = [k for k in own if k.startswith(prefixes)]
    missing = [k for k in wanted if k not in picked]
    if missing:
        raise InputError(
            f"{source}: weights lack {len(missing)} backbone tensors, e.g. {missing[:3]}"
        )
    bad = [k for k, v in picked.items() if v.shape != own[k].shape]
    if bad:
        raise InputError(f"{source}: shape mismatch for {bad[:3]}")
    model.load_state_dict(picked, strict=False)
    model.pretrained = True


def is_pretrained(model: nn.Module) -> bool:
    return bool(getattr(model, "pretrained", False))
