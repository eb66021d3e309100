"""Progress bars that suit where they are written: live in a terminal, a line every few
seconds in a log.

tqdm redraws its bar up to ten times a second. In a terminal that is one line
rewritten in place; in a log that is not a terminal (``dvc repro`` under CI,
``> run.log``) every redraw is another line, thousands per stage. tqdm reads
``TQDM_*`` variables as its defaults when it is imported, so :func:`pace_progress`
(called by ``stages/__init__.py`` before anything imports tqdm) sets
``TQDM_MININTERVAL`` there: a bar then writes a line at most every
:data:`LOG_INTERVAL` seconds, and its last line when it ends. This module imports
nothing heavy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from typing import TextIO

#: Seconds between a bar's lines in a log.
LOG_INTERVAL = 10


def pace_progress(
    environ: MutableMapping[str, str] = os.environ, stream: TextIO | None = None
) -> dict[str, str]:
    """Set tqdm's refresh interval for a ``stream`` (default stderr, where tqdm writes) that
    is not a terminal; return what was set. A value the user set wins."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if (isatty is not None and isatty()) or "TQDM_MININTERVAL" in environ:
        return {}
    environ["TQDM_MININTERVAL"] = str(LOG_INTERVAL)
    return {"TQDM_MININTERVAL": str(LOG_INTERVAL)}
