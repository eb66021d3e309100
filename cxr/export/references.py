"""The export's reference inputs: frontal phantoms drawn for it (``cxr.demo``), never a
patient's film, whatever data the model was trained on, so an export can be shared
without sharing data. Each shows a different finding (and two none), at twice the
model's side (at least 256 px), so the whole preprocessing runs on them.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from cxr.demo.render import ImageSpec, render
from cxr.findings import FINDINGS

#: Phantom patient ids: a range no demo cohort draws, so none is a training film.
PATIENTS = 970_000


def phantom_films(folder: Path, count: int, side: int, seed: int = 0) -> list[Path]:
    """Write ``count`` frontal phantom PNGs into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        labels = tuple(int(k >= 2 and i == (k - 2) % len(FINDINGS)) for i in range(len(FINDINGS)))
        spec = ImageSpec(f"phantom_{k:02d}.png", PATIENTS + k, 0, "MF"[k % 2], "PA", labels)
        pixels, _, _ = render(spec, max(256, 2 * side), seed)
        paths.append(folder / spec.image_id)
        cv2.imwrite(str(paths[-1]), pixels)
    return paths
