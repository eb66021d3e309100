"""Render one demo radiograph and the true boxes of its findings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cxr.demo.anatomy import AP_HEART_MAGNIFICATION, SIDES, Film, Scene, sample_anatomy
from cxr.demo.lesions import LESIONS
from cxr.findings import FINDINGS


@dataclass(frozen=True)
class ImageSpec:
    """What one image shows; its pixels follow from this and the data set seed alone."""

    image_id: str
    patient_id: int
    follow_up: int
    sex: str
    view: str
    labels: tuple[int, ...]  # 14 zeros and ones in FINDINGS order


@dataclass(frozen=True)
class RenderedBox:
    finding: str
    x: float
    y: float
    w: float
    h: float


def render(spec: ImageSpec, size: int, seed: int) -> tuple[np.ndarray, list[RenderedBox], Scene]:
    """Pixels (``uint8 [size, size]``), true boxes in pixels, and the scene drawn."""
    anatomy = sample_anatomy(np.random.default_rng([seed, spec.patient_id]), spec.sex)
    # Findings and film draw from separate streams, so the same image with and
    # without a finding differs only where the finding is.
    rng = np.random.default_rng([seed, spec.patient_id, spec.follow_up, 1])
    film_rng = np.random.default_rng([seed, spec.patient_id, spec.follow_up, 2])
    anatomy.view = spec.view
    if spec.view == "AP":
        anatomy.ctr *= AP_HEART_MAGNIFICATION
    present = [name for name, on in zip(FINDINGS, spec.labels, strict=True) if on]
    sides = {name: SIDES[int(rng.integers(2))] for name in FINDINGS}
    for name in present:
        if LESIONS[name].prepare is not None:
            LESIONS[name].prepare(anatomy, rng, sides[name])
    scene = Scene(anatomy, size)
    drawn = [(name, LESIONS[name].draw(scene, rng, sides[name])) for name in present]
    film = Film.sample(film_rng)
    pixels = film.expose(scene.compose(), film_rng)
    boxes = [RenderedBox(name, *film.box_to_film(box, size)) for name, box in drawn]
    return pixels, boxes, scene
