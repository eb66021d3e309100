"""The commands a user runs by hand that are not DVC stages: ``cxr predict``, ``serve``,
``compare``, ``params`` (and ``cli``, the ``cxr`` command that gathers them with the stages).

Importing this package first imports :mod:`stages`, so a command runs on the kernels a
stage runs on (a file gets the probability the evaluate stage gave the same image) and
paces its progress bars the same way.
"""

import stages  # noqa: F401  (caps the CPU kernels, paces progress bars)
