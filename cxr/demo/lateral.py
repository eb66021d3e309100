"""A lateral chest radiograph phantom: the view a frontal-only model must refuse.

Drawn in the convention most archives display a left lateral in: the patient
faces the viewer's left, so the sternum and anterior chest wall are on the
image's left and the thoracic spine on its right. Both lungs overlap into one
air field, bounded by the sternum in front, the spine behind and the two
diaphragm domes below (the left one lower); the heart sits anterior and low,
over the front of the domes; the arms, raised out of the beam, leave soft
tissue above the apices. Nothing here is a finding: the second hospital's
lateral rows exist to be refused (by the frontal filter of external sets, and
by the input guard, ``cxr.guard``), not scored. The film (pose, exposure,
noise, blur) is the frontal phantoms' :class:`~cxr.demo.anatomy.Film`.
"""

from __future__ import annotations

import numpy as np

from cxr.demo import shapes
from cxr.demo.anatomy import Anatomy

_EDGE = 0.006


def lateral_attenuation(anatomy: Anatomy, size: int) -> np.ndarray:
    """The attenuation map ``[size, size]`` of ``anatomy``'s chest seen from the side."""
    u, v = shapes.grid(size)
    a = anatomy
    depth = a.body_rx * 0.9  # a chest is about as deep as it is half wide, times two
    body = shapes.ellipse(u, v, 0.5, 0.62, depth, 0.6, 0.01, power=2.4)
    tissue = body * (0.85 + 0.35 * np.clip(1.0 - np.abs(v - 0.55) / 0.6, 0.0, 1.0))
    tissue += 0.25 * shapes.ellipse(u, v, 0.5, 0.02, 0.3, 0.12, 0.03)  # shoulders and arms
    lung = a.lungs["R"]
    dome_front = lung.dome_v + 0.02
    air_field = shapes.ellipse(u, v, 0.52, lung.cy, depth * 0.72, lung.ry * 1.05, _EDGE, power=2.3)
    # The domes: the right one higher; the lung ends above whichever is lower there.
    for dome, lift in ((a.lungs["R"].dome_v, 0.0), (a.lungs["L"].dome_v, 0.02)):
        below = shapes.ramp(v - (dome + lift - 0.06 * (u - 0.35) + 1.6 * (u - 0.55) ** 2), _EDGE)
        air_field = air_field * (1.0 - 0.5 * below)
    heart = shapes.ellipse(
        u, v, 0.5 - depth * 0.35, dome_front - 0.08, depth * 0.38, a.heart_ry * 1.3, 0.008, 0.4
    )
    air = air_field * (1.0 - 0.8 * heart) * 0.95
    rng = np.random.default_rng(a.texture_seed)
    markings = 0.2 * air_field * shapes.ridges(rng, size, 0.012)
    spine_u = 0.5 + depth * 0.62
    vertebrae = 0.5 + 0.5 * np.cos(2 * np.pi * v / 0.05)
    spine = shapes.segment(u, v, (spine_u - 0.02, 0.05), (spine_u + 0.03, 1.1), 0.05, 0.008)
    front = 0.5 - depth * 0.9
    sternum = shapes.segment(u, v, (front, 0.2), (front - depth * 0.05, 0.55), 0.012, 0.004)
    bones = spine * (0.3 + 0.25 * vertebrae) + 0.3 * sternum
    trachea = 0.2 * shapes.segment(u, v, (0.5, 0.0), (0.48, 0.3), 0.02, 0.006) * body
    return tissue + 0.3 * heart + bones + markings - air - trachea
