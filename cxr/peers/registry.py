"""Peers by the name a user writes: ``xrv:<torchxrayvision weights>`` or ``chexnet:<file>``.

>>> kind_and_target("xrv:densenet121-res224-nih")
('xrv', 'densenet121-res224-nih')
"""

from __future__ import annotations

from pathlib import Path

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


def load_peer(spec: str, xrv_cache: str | Path | None = None, random_init: bool = False) -> Peer:
    """The peer ``spec`` names; ``xrv_cache``: torchxrayvision's weights folder."""
    kind, target = kind_and_target(spec)
    if kind == "xrv":
        from cxr.peers.xrv import xrv_peer  # torchxrayvision is needed for these only

        return xrv_peer(target, xrv_cache, random_init)
    from cxr.peers.chexnet import chexnet_peer

    return chexnet_peer(target)
