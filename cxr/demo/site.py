"""A hospital, as the demo draws it: how its films are exposed and who its patients are.

:data:`NIH_LIKE` is the demo's NIH-layout set (every factor 1: the draws are
NIH-like by construction). :data:`SECOND_HOSPITAL` is the external set the demo
also makes (``cxr.demo.second_hospital``): under-exposed, noisier and blurrier
films from another scanner, fewer findings, and more bedside AP films. A model
trained on the first and scored on the second shows the drop a real external
validation shows, on data whose truth is known.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Site:
    """Multipliers of the film's draws (``cxr.demo.anatomy.Film``) and the cohort's
    (``cxr.demo.cohort``); ``ap_share`` is None for the cohort's own (NIH's)."""

    exposure: float = 1.0  # attenuation scale: below 1, flatter, greyer films
    noise: float = 1.0  # quantum noise
    blur: float = 1.0  # the scanner's blur
    prevalence: float = 1.0  # every finding's prevalence
    ap_share: float | None = None  # share of AP (bedside) films


NIH_LIKE = Site()
SECOND_HOSPITAL = Site(exposure=0.75, noise=2.0, blur=1.8, prevalence=0.6, ap_share=0.65)
