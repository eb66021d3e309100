"""The 14 findings as phantoms: each has its own visual signature at a known place.

Every finding has an optional ``prepare`` step that changes the anatomy before
the scene is built (heart size, diaphragm, lung volume) and a ``draw`` step
that paints into the scene and returns its true box ``(u0, v0, u1, v1)`` in
anatomy coordinates. The signatures follow the textbook description of each
finding on a frontal film; ``docs/demo-data.md`` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cxr.demo import shapes
from cxr.demo.anatomy import SIDES, Anatomy, Scene

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Lesion:
    prepare: Callable[[Anatomy, np.random.Generator, str], None] | None
    draw: Callable[[Scene, np.random.Generator, str], Box]


def _in_lung(
    scene: Scene, side: str, rng: np.random.Generator, zone: tuple[float, float], margin: float
):
    """A point in the lung at relative height ``zone`` (0 apex, 1 dome), ``margin`` inside it,
    where the lung is visible (not behind the heart): a finding must be seen to be learned."""
    lung = scene.anatomy.lungs[side]
    top, bottom = lung.top + margin, lung.dome_v - margin
    for _ in range(30):
        v = top + rng.uniform(*zone) * (bottom - top)
        half = lung.rx * np.sqrt(max(0.05, 1 - ((v - lung.cy) / lung.ry) ** 2)) - margin
        u = lung.cx + rng.uniform(-0.7, 0.7) * max(half, 0.01)
        u = float(
            np.clip(u, 0.56 + margin, 1.0) if lung.sign > 0 else np.clip(u, 0.0, 0.44 - margin)
        )
        iy = min(int(v * scene.size), scene.size - 1)
        ix = min(int(u * scene.size), scene.size - 1)
        if scene.lung[side][iy, ix] > 0.8:
            break
    return u, float(v)


def _box_of(mask: np.ndarray, level: float = 0.5) -> Box:
    box = shapes.mask_box(mask, level)
    if box is None:  # cannot happen with the sizes below; fail loudly if it does
        raise RuntimeError("a finding drew nothing")
    return box


# --- each finding ----------------------------------------------------------


def _atelectasis(scene: Scene, rng, side) -> Box:
    # Plate-like (discoid) atelectasis: a thin dense band in the lower zone.
    cu, cv = _in_lung(scene, side, rng, (0.6, 0.8), 0.04)
    length, thick = rng.uniform(0.14, 0.2), rng.uniform(0.025, 0.04)
    angle = rng.uniform(-0.35, 0.35)
    band = shapes.ellipse(
        scene.u, scene.v, cu, cv, length / 2, thick / 2, 0.004, angle=angle, power=2.2
    )
    band *= np.clip(scene.lung[side] * 1.5, 0, 1)
    scene.opacity += 0.55 * band
    scene.markings_scale *= 1 - 0.5 * band
    return _box_of(band, 0.3)


def _cardiomegaly_prepare(a: Anatomy, rng, side):
    a.ctr = rng.uniform(0.56, 0.66)  # heart wider than half the thorax


def _cardiomegaly(scene: Scene, rng, side) -> Box:
    return _box_of(scene.heart, 0.5)


def _effusion(scene: Scene, rng, side) -> Box:
    # Fluid in the costophrenic recess: it blunts the angle and climbs the
    # chest wall in a meniscus, concave upward. Never a sliver: at least 1.5%
    # of the image, the smallest effusion a reader would call.
    lung = scene.anatomy.lungs[side]
    u, v = scene.u, scene.v
    lateral = np.clip((lung.sign * (u - 0.5) - 0.05) / (abs(lung.outer_u - 0.5) - 0.05), 0, 1)
    height = rng.uniform(0.1, 0.18)
    for _ in range(6):
        surface = lung.costophrenic_v() - height * (0.35 + 0.65 * lateral**2.5)
        fluid = shapes.ramp(v - surface, 0.008) * np.clip(lung.field(u, v) * 1.3, 0, 1)
        if fluid.mean() >= 0.015:
            break
        height *= 1.3
    scene.fluid = np.maximum(scene.fluid, fluid)
    return _box_of(fluid, 0.5)


def _infiltration(scene: Scene, rng, side) -> Box:
    # Patchy, ill-defined blotches scattered through one region.
    cu, cv = _in_lung(scene, side, rng, (0.2, 0.75), 0.06)
    blotches = np.zeros_like(scene.u)
    for _ in range(int(rng.integers(10, 18))):
        bu, bv = cu + rng.normal(0, 0.04), cv + rng.normal(0, 0.05)
        s = rng.uniform(0.01, 0.018)
        blotches += rng.uniform(0.6, 1.0) * shapes.gaussian(scene.u, scene.v, bu, bv, s, s)
    blotches = np.clip(blotches, 0, 1.3) * scene.lung[side]
    scene.opacity += 0.3 * blotches
    return _box_of(blotches, 0.3)


def _round_opacity(scene: Scene, rng, side, radius: tuple[float, float], density: float) -> Box:
    r = rng.uniform(*radius)
    cu, cv = _in_lung(scene, side, rng, (0.15, 0.8), r + 0.02)
    theta = np.arctan2(scene.v - cv, scene.u - cu)
    lobulated = r * (1 + 0.07 * np.sin(3 * theta + rng.uniform(0, 6.3)))
    blob = shapes.ramp(lobulated - np.hypot(scene.u - cu, scene.v - cv), 0.003)
    scene.opacity += density * blob
    return _box_of(blob, 0.5)


def _mass(scene, rng, side) -> Box:
    return _round_opacity(scene, rng, side, (0.05, 0.075), 0.55)  # > 3 cm


def _nodule(scene, rng, side) -> Box:
    return _round_opacity(scene, rng, side, (0.018, 0.028), 0.6)  # < 3 cm


def _pneumonia(scene: Scene, rng, side) -> Box:
    # One large confluent, fluffy opacity with ill-defined edges.
    cu, cv = _in_lung(scene, side, rng, (0.45, 0.8), 0.07)
    rx, ry = rng.uniform(0.06, 0.085), rng.uniform(0.055, 0.08)
    cloud = shapes.ellipse(scene.u, scene.v, cu, cv, rx, ry, 0.018, angle=rng.uniform(-0.5, 0.5))
    texture = 0.7 + 0.3 * shapes.smooth_noise(rng, scene.size, 0.01)
    cloud = cloud * np.clip(texture, 0.2, 1.3) * np.clip(scene.lung[side] * 1.5, 0, 1)
    scene.opacity += 0.42 * cloud
    scene.markings_scale *= 1 - 0.6 * np.clip(cloud, 0, 1)
    return _box_of(cloud, 0.35)


def _pneumothorax(scene: Scene, rng, side) -> Box:
    # Air between a collapsed lung and the chest wall: a lucent rim without
    # lung markings, with the visceral pleural line at the lung edge.
    lung = scene.anatomy.lungs[side]
    shrink = rng.uniform(0.2, 0.35)
    hu, hv = 0.5 + lung.sign * 0.08, lung.cy + 0.05
    cu = (scene.u - hu) / (1 - shrink) + hu
    cv = (scene.v - hv) / (1 - 0.7 * shrink) + hv
    collapsed = lung.field(cu, cv)
    whole = lung.field(scene.u, scene.v)
    rim = np.clip(whole - collapsed, 0, 1)
    scene.markings_scale *= 1 - rim
    scene.lucency += 0.2 * rim
    pleural_line = 4 * collapsed * (1 - collapsed) * whole
    scene.opacity += 0.22 * pleural_line
    return _box_of(rim, 0.5)


def _consolidation(scene: Scene, rng, side) -> Box:
    # Homogeneous lobar opacity, sharply bounded by a fissure, with air
    # bronchograms (dark branching airways) inside.
    lung = scene.anatomy.lungs[side]
    u, v = scene.u, scene.v
    slope = rng.uniform(-0.15, 0.15)
    if rng.random() < 0.6:  # lower lobe
        fissure = lung.cy + rng.uniform(0.02, 0.08) + slope * (u - lung.cx)
        lobe = shapes.ramp(v - fissure, 0.003)
    else:  # upper lobe
        fissure = lung.top + rng.uniform(0.16, 0.22) + slope * (u - lung.cx)
        lobe = shapes.ramp(fissure - v, 0.003)
    region = lobe * scene.lung[side]
    airways = shapes.ridges(rng, scene.size, 0.01, sharpness=9.0)
    scene.opacity += region * (0.5 - 0.3 * airways)
    scene.markings_scale *= 1 - region
    return _box_of(region, 0.5)


def _edema(scene: Scene, rng, side) -> Box:
    # Bilateral perihilar "bat-wing" haze with Kerley B lines at the bases.
    u, v = scene.u, scene.v
    haze = np.zeros_like(u)
    amp = rng.uniform(0.3, 0.38)
    for s in SIDES:
        lung = scene.anatomy.lungs[s]
        hu = 0.5 + lung.sign * rng.uniform(0.1, 0.13)
        haze += shapes.gaussian(u, v, hu, lung.cy + 0.03, 0.085, 0.11) * scene.lung[s]
        for _ in range(int(rng.integers(4, 8))):
            kv = lung.costophrenic_v() - rng.uniform(0.03, 0.12)
            ku = lung.outer_u - lung.sign * rng.uniform(0.015, 0.03)
            line = shapes.segment(u, v, (ku - 0.015, kv), (ku + 0.015, kv), 0.002, 0.0015)
            scene.opacity += 0.25 * line * scene.lung[s]
    scene.opacity += amp * haze
    return _box_of(haze, 0.35)


def _emphysema_prepare(a: Anatomy, rng, side):
    # Hyperinflation: low, flat diaphragm; hyperlucent lungs; a narrow heart.
    for s in SIDES:
        lung = a.lungs[s]
        lung.dome_v += rng.uniform(0.04, 0.06)
        lung.ry += 0.03
        lung.cy += 0.01
        lung.dome_curv *= 0.3
        a.air_scale[s] = rng.uniform(1.3, 1.45)
    a.ctr *= 0.9


def _emphysema(scene: Scene, rng, side) -> Box:
    lungs = np.clip(scene.lungs(), 0, 1)
    scene.markings_scale *= 1 - 0.55 * lungs
    for _ in range(int(rng.integers(0, 3))):  # bullae in the upper zones
        s = SIDES[int(rng.integers(2))]
        bu, bv = _in_lung(scene, s, rng, (0.05, 0.35), 0.05)
        r = rng.uniform(0.03, 0.05)
        scene.lucency += 0.2 * shapes.ellipse(scene.u, scene.v, bu, bv, r, r, 0.004) * scene.lung[s]
    return _box_of(lungs, 0.5)


def _fibrosis(scene: Scene, rng, side) -> Box:
    # Reticular net at the bases and the periphery.
    u, v = scene.u, scene.v
    net = shapes.ridges(rng, scene.size, 0.005, sharpness=4.0)
    where = np.zeros_like(u)
    for s in SIDES if rng.random() < 0.7 else (side,):
        lung = scene.anatomy.lungs[s]
        periphery = shapes.ramp(lung.sign * (u - lung.cx) + 0.2 * lung.rx, 0.02)
        lower = shapes.ramp(v - (lung.cy - 0.02), 0.03)
        where = np.maximum(where, scene.lung[s] * periphery * lower)
    scene.opacity += 0.5 * net * where + 0.08 * where
    return _box_of(where, 0.5)


def _pleural_thickening(scene: Scene, rng, side) -> Box:
    # Pleural plaques: a lobulated soft-tissue band lining the lateral chest wall
    # (or the apex) with calcified, denser-than-bone foci.
    lung = scene.anatomy.lungs[side]
    u, v = scene.u, scene.v
    thick = rng.uniform(0.03, 0.045) * (
        1 + 0.45 * np.sin(v * rng.uniform(40, 70) + rng.uniform(0, 6.3))
    )
    shell = np.clip(lung.field(u, v) - lung.field(u, v, shrink=thick), 0, 1)
    if rng.random() < 0.7:
        v0 = lung.cy + rng.uniform(-0.15, 0.05)
        v1 = v0 + rng.uniform(0.16, 0.26)
        span = shapes.ramp(v - v0, 0.01) * shapes.ramp(v1 - v, 0.01)
        span *= shapes.ramp(lung.sign * (u - lung.cx), 0.01)  # lateral wall only
    else:
        span = shapes.ramp(lung.top + 0.09 - v, 0.01)
    band = shell * span
    calcified = np.zeros_like(u)
    ys, xs = np.nonzero(band > 0.6)
    for i in rng.choice(len(ys), size=min(len(ys), int(rng.integers(2, 4))), replace=False):
        cu, cv = (xs[i] + 0.5) / scene.size, (ys[i] + 0.5) / scene.size
        calcified += shapes.ellipse(u, v, cu, cv, 0.012, 0.022, 0.003)
    scene.opacity += 0.6 * band + 0.6 * np.clip(calcified, 0, 1) * shapes.ramp(band - 0.2, 0.05)
    return _box_of(band, 0.35)


def _hernia(scene: Scene, rng, side) -> Box:
    # Hiatal hernia: a rounded retrocardiac density with an air-fluid level.
    a = scene.anatomy
    r = rng.uniform(0.045, 0.065)
    cu = 0.5 + rng.uniform(-0.01, 0.05)
    cv = a.heart_cy + rng.uniform(0.03, 0.06)
    sac = shapes.ellipse(scene.u, scene.v, cu, cv, r * 1.15, r, 0.004)
    level = cv + r * rng.uniform(-0.1, 0.2)
    air = sac * shapes.ramp(level - scene.v, 0.002)
    scene.opacity += 0.6 * sac - 1.0 * air
    return _box_of(sac, 0.5)


LESIONS: dict[str, Lesion] = {
    "Atelectasis": Lesion(None, _atelectasis),
    "Cardiomegaly": Lesion(_cardiomegaly_prepare, _cardiomegaly),
    "Effusion": Lesion(None, _effusion),
    "Infiltration": Lesion(None, _infiltration),
    "Mass": Lesion(None, _mass),
    "Nodule": Lesion(None, _nodule),
    "Pneumonia": Lesion(None, _pneumonia),
    "Pneumothorax": Lesion(None, _pneumothorax),
    "Consolidation": Lesion(None, _consolidation),
    "Edema": Lesion(None, _edema),
    "Emphysema": Lesion(_emphysema_prepare, _emphysema),
    "Fibrosis": Lesion(None, _fibrosis),
    "Pleural_Thickening": Lesion(None, _pleural_thickening),
    "Hernia": Lesion(None, _hernia),
}
