"""Peers by the name a user writes: ``xrv:<torchxrayvision weights>`` or ``chexnet:<file>``.

>>> kind_and_target("xrv:densenet121-res224-nih")
('xrv', 'densenet121-res224-nih')
>>> folder_name("chexnet:checkpoints/model.pth.tar")
'chexnet-model'
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from cxr.errors import InputError
from cxr.peers.base import Peer

KINDS = ("xrv", "chexnet")


def kind_and_target(spec: str) -> tuple[str, str]:
    kind, sep, target = spec.partition(":")
    if not sep or kind not in KINDS or not target:
        raise InputError(
            f"peer {spec!r}: expected xrv:<model> (e.g. xrv:densenet121-res224-nih) or "
            "chexnet:<state dict file>"
        )
    return kind, target


def is_peer(spec: str) -> bool:
    """Whether ``spec`` names a peer (``xrv:...``, ``chexnet:...``) rather than a file."""
    return spec.partition(":")[0] in KINDS and ":" in spec


def folder_name(spec: str) -> str:
    """Where ``cxr score`` puts the peer by default, below ``data/peers``: the kind and the
    weights' name (a file's stem)."""
    kind, target = kind_and_target(spec)
    name = Path(target).name.split(".")[0] if kind == "chexnet" else target
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{kind}-{name}")


def load_peer(spec: str, xrv_cache: str | Path | None = None, random_init: bool = False) -> Peer:
    """The peer ``spec`` names; ``xrv_cache``: torchxrayvision's weights folder. Loading
    leaves torch's global random state as it was."""
    kind, target = kind_and_target(spec)
    with torch.random.fork_rng(devices=[]):  # builders draw throwaway initial weights
        if kind == "xrv":
            from cxr.peers.xrv import xrv_peer  # torchxrayvision is needed for these only

            return xrv_peer(target, xrv_cache, random_init)
        if random_init:
            raise InputError(
                f"{spec}: random weights are for xrv models; a CheXNet file has its own"
            )
        from cxr.peers.chexnet import chexnet_peer

        return chexnet_peer(target)
