"""A frontal chest radiograph phantom: patient anatomy, then a scene to draw findings on.

Coordinates are normalised (u right, v down, both in [0, 1]) in the viewer's
frame of a PA film: the patient's right lung is on the left of the image.
Densities add up to an attenuation map ``A``; the film is ``1 - exp(-k A)``, so
air is dark, soft tissue grey and bone bright, as on a radiograph.

Anatomy is drawn from a patient's own random stream, so every follow-up image
of a patient shares it; pose, exposure, noise and findings come from the
image's stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from cxr.demo import shapes
from cxr.demo.site import NIH_LIKE, Site

SIDES = ("R", "L")  # patient's right (image left), patient's left (image right)
AP_HEART_MAGNIFICATION = 1.1  # AP films magnify the heart (it is far from the detector)
_EDGE = 0.004  # soft edge width of organ outlines, in image units


@dataclass
class Lung:
    """One lung field: a superellipse cut by its diaphragm dome and the mediastinum."""

    sign: int  # -1: patient's right (image left), +1: patient's left
    cx: float
    cy: float
    rx: float
    ry: float
    dome_v: float  # height of the dome's apex (smallest v under the lung)
    dome_u: float
    dome_curv: float  # the dome is v = dome_v + dome_curv * (u - dome_u)^2

    @property
    def outer_u(self) -> float:
        """u of the lateral lung edge (the chest wall)."""
        return self.cx + self.sign * self.rx

    @property
    def top(self) -> float:
        return self.cy - self.ry

    def costophrenic_v(self) -> float:
        """Height of the lateral costophrenic angle (where dome meets chest wall)."""
        return self.dome_v + self.dome_curv * (self.outer_u - self.sign * 0.02 - self.dome_u) ** 2

    def field(self, u: np.ndarray, v: np.ndarray, shrink: float = 0.0) -> np.ndarray:
        """Soft mask of the lung; ``shrink`` pulls every border in by that distance."""
        body = shapes.ellipse_field(
            u, v, self.cx, self.cy, self.rx - shrink, self.ry - shrink, power=2.4
        )
        dome = self.dome_v + self.dome_curv * (u - self.dome_u) ** 2 - shrink
        medial = self.sign * (u - 0.5) - 0.045 - shrink
        inside = np.minimum(np.minimum(body * min(self.rx, self.ry), dome - v), medial)
        return shapes.ramp(inside, _EDGE)


@dataclass
class Anatomy:
    """Everything about one patient's chest that stays the same across follow-ups."""

    sex: str
    body_rx: float
    lungs: dict[str, Lung]
    ctr: float  # cardiothoracic ratio on a PA film
    heart_cy: float
    heart_ry: float
    heart_shift: float  # share of the heart right of the midline
    heart_angle: float
    rib_spacing: float
    rib_v0: float
    rib_curv: float
    clavicle_v: float
    texture_seed: int
    # Per-image state set before drawing (view, findings that change geometry).
    view: str = "PA"
    air_scale: dict[str, float] = field(default_factory=lambda: {"R": 1.0, "L": 1.0})

    def thorax_width(self) -> float:
        return self.lungs["L"].outer_u - self.lungs["R"].outer_u

    def heart_rx(self) -> float:
        return self.ctr * self.thorax_width() / 2.0

    def heart_cx(self) -> float:
        # About a third of the heart lies right of the midline, two thirds left.
        return 0.5 + (0.5 - self.heart_shift) * 2.0 * self.heart_rx()


def sample_anatomy(rng: np.random.Generator, sex: str) -> Anatomy:
    """Draw one patient's anatomy."""
    lung_rx = rng.uniform(0.145, 0.17)
    lung_cy = rng.uniform(0.44, 0.47)
    lung_ry = rng.uniform(0.29, 0.32)
    spread = rng.uniform(0.185, 0.205)
    dome_r = rng.uniform(0.64, 0.68)
    lungs = {}
    for side, sign, dome in (("R", -1, dome_r), ("L", +1, dome_r + rng.uniform(0.015, 0.035))):
        cx = 0.5 + sign * spread
        lungs[side] = Lung(
            sign=sign,
            cx=cx,
            cy=lung_cy,
            rx=lung_rx,
            ry=lung_ry,
            dome_v=dome,
            dome_u=cx - sign * 0.01,
            dome_curv=rng.uniform(2.0, 3.2),
        )
    return Anatomy(
        sex=sex,
        body_rx=rng.uniform(0.41, 0.46),
        lungs=lungs,
        ctr=rng.uniform(0.36, 0.44),
        heart_cy=rng.uniform(0.60, 0.63),
        heart_ry=rng.uniform(0.10, 0.12),
        heart_shift=rng.uniform(0.28, 0.36),
        heart_angle=rng.uniform(0.15, 0.35),
        rib_spacing=rng.uniform(0.052, 0.06),
        rib_v0=rng.uniform(0.13, 0.16),
        rib_curv=rng.uniform(1.6, 2.2),
        clavicle_v=rng.uniform(0.14, 0.17),
        texture_seed=int(rng.integers(2**31)),
    )


class Scene:
    """The layers of one image in anatomy coordinates; findings draw into them.

    ``opacity`` adds density; ``fluid`` (0..1) replaces lung air by water;
    ``markings_scale`` scales lung markings; ``lucency`` adds air.
    """

    def __init__(self, anatomy: Anatomy, size: int):
        self.anatomy = anatomy
        self.size = size
        self.u, self.v = shapes.grid(size)
        u, v = self.u, self.v
        a = anatomy
        self.heart = shapes.ellipse(
            u, v, a.heart_cx(), a.heart_cy, a.heart_rx(), a.heart_ry, 0.006, a.heart_angle
        )
        self.lung = {s: a.lungs[s].field(u, v) * (1.0 - 0.85 * self.heart) for s in SIDES}
        self.opacity = np.zeros((size, size))
        self.lucency = np.zeros((size, size))
        self.fluid = np.zeros((size, size))
        self.markings_scale = np.ones((size, size))

    def lungs(self) -> np.ndarray:
        return self.lung["R"] + self.lung["L"]

    def compose(self) -> np.ndarray:
        """The attenuation map of the whole chest."""
        a, u, v, size = self.anatomy, self.u, self.v, self.size
        body = shapes.ellipse(u, v, 0.5, 0.63, a.body_rx, 0.58, 0.01, power=2.6)
        body = np.maximum(body, shapes.segment(u, v, (0.5, -0.1), (0.5, 0.1), 0.075, 0.01))
        depth = np.sqrt(np.clip(1.0 - ((u - 0.5) / a.body_rx) ** 2, 0.0, 1.0))
        tissue = body * (0.7 + 0.55 * depth)
        if a.sex == "F":  # breast shadows over the lower lung fields
            for sign in (-1, 1):
                tissue += 0.14 * shapes.ellipse(u, v, 0.5 + sign * 0.22, 0.74, 0.15, 0.09, 0.03)

        rng = np.random.default_rng(a.texture_seed)
        vessels = shapes.ridges(rng, size, 0.012) * 0.8 + 0.2 * shapes.smooth_noise(
            rng, size, 0.004
        )
        air = np.zeros_like(u)
        markings = np.zeros_like(u)
        for s in SIDES:
            lung = a.lungs[s]
            hilum_u, hilum_v = 0.5 + lung.sign * 0.1, lung.cy + 0.01
            near_hilum = np.exp(-np.hypot(u - hilum_u, v - hilum_v) / 0.16)
            markings += self.lung[s] * near_hilum
            deep = (
                np.clip(shapes.ellipse_field(u, v, lung.cx, lung.cy, lung.rx, lung.ry), 0, 1) ** 0.5
            )
            air += self.lung[s] * (0.72 + 0.28 * deep) * a.air_scale[s]
            tissue += 0.22 * shapes.gaussian(u, v, hilum_u, hilum_v, 0.03, 0.05)
        air = air * (1.0 - self.fluid) + self.lucency
        markings = 0.3 * markings * vessels * self.markings_scale * (1.0 - self.fluid)

        heart = 0.3 * self.heart
        trachea = 0.25 * shapes.segment(u, v, (0.5, 0.0), (0.5, 0.36), 0.012, 0.004) * body
        bubble = 0.3 * shapes.ellipse(
            u, v, a.lungs["L"].cx - 0.02, a.lungs["L"].dome_v + 0.05, 0.04, 0.022, 0.006
        )
        bones = self._bones() * body
        return (
            tissue
            + heart
            + bones
            + markings
            + self.opacity
            + 0.15 * self.fluid
            - air
            - trachea
            - bubble
        )

    def _bones(self) -> np.ndarray:
        a, u, v = self.anatomy, self.u, self.v
        d = np.abs(u - 0.5)
        # Posterior ribs: parallel arcs from the spine, rising a little, then
        # curving down at the chest wall; anterior ribs fainter, sloping the other way.
        q = (v + 0.12 * d - a.rib_curv * np.maximum(d - 0.1, 0) ** 2 - a.rib_v0) / a.rib_spacing
        band = np.exp(-(((q - np.round(q)) / 0.13) ** 2))
        q2 = (v - 0.35 * d - a.rib_v0 + 0.08) / (a.rib_spacing * 1.15)
        band2 = np.exp(-(((q2 - np.round(q2)) / 0.12) ** 2))
        cage = shapes.ellipse(u, v, 0.5, 0.46, a.body_rx - 0.035, 0.36, 0.02)
        ribs = (0.13 * band * (q > -0.3) * (q < 10.3) + 0.05 * band2 * (q2 > 0) * (q2 < 6)) * cage
        ribs *= d > 0.04
        clav = sum(
            shapes.segment(
                u,
                v,
                (0.5 + s * 0.05, a.clavicle_v + 0.02),
                (0.5 + s * 0.3, a.clavicle_v - 0.03),
                0.011,
                0.004,
            )
            for s in (-1, 1)
        )
        vert = 0.5 + 0.5 * np.cos(2 * math.pi * v / 0.045)
        spine = shapes.segment(u, v, (0.5, 0.0), (0.5, 1.1), 0.032, 0.006) * (0.25 + 0.15 * vert)
        bones = ribs + 0.4 * clav + spine
        if a.view == "AP":  # scapulae project over the upper lung fields
            for s in (-1, 1):
                bones += 0.12 * shapes.ellipse(
                    u, v, 0.5 + s * 0.34, 0.3, 0.07, 0.13, 0.01, angle=s * 0.3
                )
        return bones


@dataclass(frozen=True)
class Film:
    """Pose and exposure of one image."""

    angle_deg: float
    scale: float
    shift_u: float
    shift_v: float
    mu: float  # attenuation scale
    gamma: float
    contrast: float
    brightness: float
    noise: float
    blur: float  # in pixels at 1024 px, scaled with the image

    @staticmethod
    def sample(rng: np.random.Generator, site: Site = NIH_LIKE) -> Film:
        """A film of ``site``: the same draws for every site, scaled by its factors."""
        return Film(
            angle_deg=rng.uniform(-4, 4),
            scale=rng.uniform(0.93, 1.04),
            shift_u=rng.uniform(-0.03, 0.03),
            shift_v=rng.uniform(-0.03, 0.03),
            mu=rng.uniform(1.0, 1.25) * site.exposure,
            gamma=rng.uniform(0.85, 1.15),
            contrast=rng.uniform(0.9, 1.1),
            brightness=rng.uniform(-0.05, 0.05),
            noise=rng.uniform(0.008, 0.02) * site.noise,
            blur=rng.uniform(0.8, 2.0) * site.blur,
        )

    def matrix(self, size: int) -> np.ndarray:
        """2x3 affine from anatomy pixels to film pixels (rotate and scale about the centre)."""
        c = size / 2.0
        m = cv2.getRotationMatrix2D((c, c), self.angle_deg, self.scale)
        m[:, 2] += (self.shift_u * size, self.shift_v * size)
        return m

    def expose(self, attenuation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Warp into pose, develop the film and add noise: uint8 image."""
        size = attenuation.shape[0]
        warped = cv2.warpAffine(
            attenuation,
            self.matrix(size),
            (size, size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0.0,
        )
        film = 1.0 - np.exp(-self.mu * np.maximum(warped, 0.0))
        film = np.clip(film, 0.0, 1.0) ** self.gamma
        film = self.contrast * (film - 0.5) + 0.5 + self.brightness
        film += (
            self.noise
            * np.sqrt(np.clip(film, 0.05, 1.0))
            * rng.standard_normal(film.shape, dtype=np.float32).astype(np.float64)
        )
        sigma = self.blur * size / 1024.0
        if sigma >= 0.3:
            film = cv2.GaussianBlur(film, (0, 0), sigmaX=sigma)
        return np.clip(np.rint(film * 255.0), 0, 255).astype(np.uint8)

    def box_to_film(
        self, box: tuple[float, float, float, float], size: int
    ) -> tuple[float, float, float, float]:
        """Anatomy box ``(u0, v0, u1, v1)`` to a film-pixel ``(x, y, w, h)`` around its corners."""
        u0, v0, u1, v1 = box
        corners = np.array([[u0, v0, 1], [u1, v0, 1], [u0, v1, 1], [u1, v1, 1]], dtype=np.float64)
        corners[:, :2] *= size
        xy = corners @ self.matrix(size).T
        x0, y0 = np.clip(xy.min(axis=0), 0, size)
        x1, y1 = np.clip(xy.max(axis=0), 0, size)
        return float(x0), float(y0), float(x1 - x0), float(y1 - y0)
