"""The input guard: refuse to read what is not a frontal chest radiograph like the training data.

``image`` holds the model-free checks (blank, noise, two-tone, structureless
images are "not a radiograph"); ``view`` the layout classifier that says
"lateral view", "inverted" or "rotated"; ``distance`` the Mahalanobis distance
of the trained network's pooled features ("unlike the training data");
``guard`` puts them together, fits them (training split; the distance's cut on
validation) and saves them beside the model. Method, thresholds and measured
rates: docs/guard.md.
"""
