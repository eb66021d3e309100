"""A hospital, as the demo draws it: how its films are exposed and who its patients are.

:data:`NIH_LIKE` is the demo's NIH-layout set (every factor 1: the draws are
NIH-like by construction). :data:`SECOND_HOSPITAL` is the external set the demo
also makes (``cxr.external.demo_hospital``): under-exposed, noisier and blurrier
films from another scanner, fewer findings, and more bedside AP films. A model
trained on the first and scored on the second shows the drop a real external
validation shows, on data whose truth is known. :data:`THIRD_HOSPITAL` is a third
site, held out of every model, on which the sources stage measures whether
training on the first two beats training on the first alone.

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
#: The demo's third hospital (``demo.third_images``): a scanner between the two others in
#: exposure, noisier than NIH's and blurred, more findings than the second's, half of its
#: films bedside AP. No model of the committed pipeline trains on it (docs/sources.md).
THIRD_HOSPITAL = Site(exposure=0.7, noise=3.0, blur=10.0, prevalence=0.8, ap_share=0.5)
