"""Several runs' losses on one plot: one colour per run, validation loss dashed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from descent_server.ml.plots._render import aligned, locked, new_figure, no_data, set_title, to_png
from descent_server.ml.plots.curves import (
    _curve,
    _epoch_axis,
    _last_finite,
    _many,
    _value_axis,
    auto_log,
)

ArrayLike = Sequence[Any] | np.ndarray
# (label, epochs, loss, validation loss or None, diverged)
Curve = tuple[str, ArrayLike, ArrayLike, ArrayLike | None, bool]


@locked
def compare_loss_plot(
    curves: Sequence[Curve],
    *,
    log: bool | None = None,
    title: str = "Loss per epoch",
    y_label: str = "loss",
    width: int = 800,
    height: int = 600,
    dpi: float = 100,
) -> bytes:
    """Draw each run's loss (solid) and validation loss (dashed) in its colour, named.

    `log=None` picks a log axis when the losses span more than three decades; a diverged
    run gets an × where its loss was last finite.
    """
    fig = new_figure(width, height, dpi)
    ax = fig.add_subplot()
    series = []
    for label, epochs, loss, val_loss, diverged in curves:
        x, y = aligned(epochs, loss)
        xv, yv = aligned(epochs, val_loss) if val_loss is not None else (x[:0], y[:0])
        series.append((label, x, y, xv, yv, diverged))
    if log is None:
        log = auto_log(*(s[2] for s in series), *(s[4] for s in series))
    _epoch_axis(ax)
    ax.set_ylabel(y_label + (" (log scale)" if log else ""))
    set_title(ax, title)
    drawn = 0
    dashed = False
    for i, (label, x, y, xv, yv, diverged) in enumerate(series):
        if not np.isfinite(y).any():
            continue
        color = f"C{i % 10}" if len(series) <= 10 else _many(i, len(series))
        _curve(ax, x, y, log, color=color, label=label + (" (diverged)" if diverged else ""))
        if np.isfinite(yv).any():
            _curve(ax, xv, yv, log, color=color, ls="--")
            dashed = True
        last = _last_finite(x, y)
        if diverged and last is not None:
            ax.plot(*last, marker="x", color=color, markersize=12, mew=2.5, ls="none")
        drawn += 1
    if not drawn:
        no_data(ax)
        return to_png(fig, ax)
    _value_axis(ax, log)
    handles, labels = ax.get_legend_handles_labels()
    if dashed:  # which line style is which, once
        handles.append(Line2D([], [], color="grey", ls="--"))
        labels.append("validation loss (dashed)")
    ax.legend(handles, labels, loc="best", fontsize="small", ncols=math.ceil(len(labels) / 12))
    return to_png(fig, ax)
