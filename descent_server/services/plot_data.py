"""What every plot reads: the options a client may vary and shape-keeping curve rows.

Shared by `services/plots.py` (cache, ETags, the plots every run has) and the kinds' own
plots in `services/kinds/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.repository import history as repo
from descent_server.services.errors import NotReady

CURVE_POINTS = 4000  # rows read for a curve: enough for any picture width
GIF_FRAMES = 200  # at most this many snapshots are animated (evenly spaced, last kept)


@dataclass(frozen=True)
class PlotOptions:
    """What a client may vary in a picture."""

    width: int = 800
    height: int = 600
    dpi: float = 100
    log: bool | None = None
    x: float | None = None
    epoch: int | None = None
    frames: int = 1  # frames of an animation (at most; fewer when there are fewer snapshots)


def size(options: PlotOptions) -> dict[str, Any]:
    """Return the canvas keyword arguments of a render job."""
    return {"width": options.width, "height": options.height, "dpi": options.dpi}


def curve_rows(session: Session, run: Run) -> list[dict[str, Any]]:
    """Return a shape-keeping sample of the history (409 before epoch 0 is stored)."""
    rows = repo.downsample(session, run.id, CURVE_POINTS)
    if not rows:
        raise NotReady(f"run {run.id} has no epochs yet")
    return rows


def column(rows: list[dict[str, Any]], field: str) -> np.ndarray:
    """Return one field of the rows as float64 (None → NaN)."""
    return np.array([np.nan if r.get(field) is None else r[field] for r in rows], dtype=np.float64)


def series(dicts: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Turn per-epoch dicts into one array per key (missing values are NaN)."""
    keys = list(dict.fromkeys(k for d in dicts for k in d))
    return {
        k: np.array([np.nan if d.get(k) is None else d[k] for d in dicts], dtype=np.float64)
        for k in keys
        if all(isinstance(d.get(k), int | float | None) for d in dicts)
    }


def label(run: Run, name: str) -> str:
    """Return a builtin dataset's axis label with units for column `name`, else the name."""
    from descent_server.ml.datasets import BUILTINS

    builtin = BUILTINS.get(run.dataset_id.removeprefix("builtin:"))
    if run.dataset_id.startswith("builtin:") and builtin is not None:
        return builtin.labels.get(name, name)
    return name


def chosen_frames(epochs: list[int], frames: int) -> list[int]:
    """Return at most `frames` of the snapshot epochs, evenly spaced, first and last kept."""
    count = min(len(epochs), frames)
    keep = np.unique(np.linspace(0, len(epochs) - 1, count).astype(int))
    return [epochs[i] for i in keep]


def snapshot_epochs(session: Session, run: Run) -> list[int]:
    """Return the run's snapshot epochs (409 before the first)."""
    epochs = repo.snapshot_epochs(session, run.id) if run.analysis else []
    if not epochs:
        raise NotReady(f"run {run.id} has no snapshots yet")
    return epochs
