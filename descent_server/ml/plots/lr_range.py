"""A learning-rate range test's picture: smoothed loss against a log learning rate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from descent_server.ml.plots._render import floats, locked, new_figure, no_data, set_title, to_png

ArrayLike = Sequence[Any] | np.ndarray


@locked
def lr_range_plot(
    learning_rates: ArrayLike,
    losses: ArrayLike,
    *,
    suggested: float | None = None,
    rule: str | None = None,
    title: str = "Learning-rate range test",
    width: int = 800,
    height: int = 600,
    dpi: float = 100,
) -> bytes:
    """Draw the smoothed loss per learning rate (log x axis); a dashed line at the suggestion."""
    fig = new_figure(width, height, dpi)
    ax = fig.add_subplot()
    x, y = floats(learning_rates), floats(losses)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("smoothed loss")
    set_title(ax, title)
    if not keep.any():
        no_data(ax)
        return to_png(fig, ax)
    ax.set_xscale("log")
    ax.plot(x[keep], y[keep], color="C0", label="smoothed loss")
    if suggested is not None and np.isfinite(suggested) and suggested > 0:
        how = f" ({rule})" if rule else ""
        ax.axvline(suggested, color="C3", ls="--", label=f"suggested {suggested:.3g}{how}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left")
    return to_png(fig, ax)
