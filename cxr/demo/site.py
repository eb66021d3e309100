"""A hospital, as the demo draws it: how its films are exposed and who its patients are.

:data:`NIH_LIKE` is the demo's NIH-layout set (every factor 1: the draws are
NIH-like by construction). :data:`SECOND_HOSPITAL` is the external set the demo
also makes (``cxr.external.demo_hospital``): under-exposed, noisier and blurrier
films from another scanner, fewer findings, and more bedside AP films. A model
trained on the first and scored on the second shows the drop a real external
validation shows, on data whose truth is known.

The factors are large because the demo's model looks at 64-px arrays: a blur of
16 px at 1,024 px is one pixel there. Milder ones (attenuation x0.75, noise x2,
blur x1.8) left the demo model's AUROC where it was (a mean drop of +0.001,
-0.002 to 0.004): at 64 px, after CLAHE, those films look like the NIH-like ones.
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
SECOND_HOSPITAL = Site(exposure=0.5, noise=5.0, blur=16.0, prevalence=0.6, ap_share=0.65)
