"""What runs inside a render process: jobs in over a pipe, image bytes (or the error) out.

Deliberately light: numpy and matplotlib (Agg, through `descent_server.ml.plots`), never the
database, the web stack or Keras, so a fresh process starts in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any

NICENESS = 10


def serve(conn: Connection) -> None:
    """Draw each `(function name, args, kwargs)` received; reply (ok, bytes or error, peak RSS)."""
    # Ctrl-C in a terminal reaches the whole process group: the API stops us, not the signal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(AttributeError, OSError):  # no nice() on Windows
        os.nice(NICENESS)  # on a busy machine the API's own threads get the CPU first
    from descent_server.ml import plots

    conn.send(None)  # ready: starting up does not count against a job's time
    while True:
        try:
            name, args, kwargs = conn.recv()
        except EOFError:  # the API closed the pipe: recycled or shutting down
            return
        reply: tuple[bool, Any]
        try:
            reply = (True, getattr(plots, name)(*args, **kwargs))
        except Exception as exc:  # the API re-raises it; the process stays usable
            reply = (False, exc)
        try:
            conn.send((*reply, peak_rss()))
        except Exception as exc:  # e.g. an exception that does not pickle
            conn.send((False, RuntimeError(f"render failed: {exc!r}"), peak_rss()))


def peak_rss() -> int:
    """Return this process's peak resident memory in bytes (0 where the OS does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS bytes, Linux KiB
