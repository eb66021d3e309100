"""cxr: chest X-ray multi-label classification on NIH ChestX-ray14 and data in its layout.

The library is pure: functions and classes that take explicit arguments. The
DVC stage commands in ``stages/`` read ``params.yaml`` and call into it.
"""

__version__ = "0.1.0"
