"""Render one demo radiograph and the true boxes of its findings."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cxr.demo.anatomy import AP_HEART_MAGNIFICATION, SIDES, Film, Scene, sample_anatomy
from cxr.demo.lateral import lateral_attenuation
from cxr.demo.lesions import LESIONS
from cxr.demo.site import NIH_LIKE, Site
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


def render(
    spec: ImageSpec, size: int, seed: int, render_size: int = 0, site: Site = NIH_LIKE
) -> tuple[np.ndarray, list[RenderedBox], Scene]:
    """Pixels (``uint8 [size, size]``), true boxes in pixels, and the scene drawn, on a film
    of ``site``.

    ``render_size`` (0: ``size``) draws the anatomy and findings on a coarser
    grid, resized to ``size`` before the film is exposed, so film noise and blur
    stay at full resolution: a 1,024-px set drawn at 256 costs about a fifth.
    """
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
    scene = Scene(anatomy, render_size if 0 < render_size < size else size)
    drawn = [(name, LESIONS[name].draw(scene, rng, sides[name])) for name in present]
    film = Film.sample(film_rng, site)
    attenuation = scene.compose()
    if scene.size != size:
        attenuation = cv2.resize(attenuation, (size, size), interpolation=cv2.INTER_CUBIC)
    pixels = film.expose(attenuation, film_rng)
    boxes = [RenderedBox(name, *film.box_to_film(box, size)) for name, box in drawn]
    return pixels, boxes, scene


def render_lateral(
    spec: ImageSpec, size: int, seed: int, render_size: int = 0, site: Site = NIH_LIKE
) -> np.ndarray:
    """Pixels (``uint8 [size, size]``) of ``spec``'s patient seen from the side, on a film
    of ``site`` (no findings are drawn: a lateral film is for refusing, not scoring)."""
    anatomy = sample_anatomy(np.random.default_rng([seed, spec.patient_id]), spec.sex)
    film_rng = np.random.default_rng([seed, spec.patient_id, spec.follow_up, 2])
    drawn = render_size if 0 < render_size < size else size
    attenuation = lateral_attenuation(anatomy, drawn)
    if drawn != size:
        attenuation = cv2.resize(attenuation, (size, size), interpolation=cv2.INTER_CUBIC)
    return Film.sample(film_rng, site).expose(attenuation, film_rng)
