"""An MLP regressor's fitted curve over its data: one PNG at an epoch, or the curve's film (GIF).

The curve is a stored fit snapshot: the predicted target at evenly spaced x over the extent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from descent_server.ml.plots._gif import encode_gif
from descent_server.ml.plots._render import fit_axes, floats, locked, new_figure, set_title, to_png

MAX_SCATTER = 5000
MAX_FRAMES = 200
Y_MARGIN = 0.05  # of the y range, above and below what is drawn


def fit_title(epoch: int | None) -> str:
    """Title a fit picture: epoch 0 is the untrained model, later ones follow training."""
    if epoch is None:
        return "Data and fitted curve"
    if epoch == 0:
        return "Fitted curve, initial (epoch 0)"
    return f"Fitted curve after epoch {epoch}"


def _y_limits(*arrays: np.ndarray) -> tuple[float, float]:
    """Return y limits holding every finite value of `arrays`, with a margin."""
    values = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if values.size == 0:
        return -1.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    pad = (hi - lo) * Y_MARGIN if hi > lo else 0.5
    return lo - pad, hi + pad


def _draw(
    fig: Figure, x: Any, y: Any, grid_x: Any, curves: Sequence[Any], x_label: str, y_label: str
) -> tuple[Axes, Line2D]:
    """Draw the data and axes on `fig`; return the axes and the (empty) curve's line."""
    xs, ys, gx = floats(x), floats(y), floats(grid_x)
    if xs.size != ys.size:
        raise ValueError("x and y need the same number of values")
    if gx.size < 2 or any(np.size(c) != gx.size for c in curves):
        raise ValueError("a fitted curve needs one value per grid x, at least 2")
    ax = fig.add_subplot()
    if xs.size > MAX_SCATTER:  # a fixed subset keeps a million rows drawable
        keep = np.sort(np.random.RandomState(0).choice(xs.size, MAX_SCATTER, replace=False))
        xs, ys = xs[keep], ys[keep]
    ax.scatter(xs, ys, s=30 if xs.size <= 100 else 4, color="C0", alpha=0.6, label="data")
    (line,) = ax.plot([], [], color="C3", lw=2.5, label="fitted curve", zorder=3)
    ax.set(xlim=(float(np.nanmin(gx)), float(np.nanmax(gx))), xlabel=x_label, ylabel=y_label)
    ax.set_ylim(*_y_limits(ys, *(floats(c) for c in curves)))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", framealpha=0.9)
    return ax, line


@locked
def mlp_fit_plot(
    x: Any,
    y: Any,
    grid_x: Any,
    curve: Any,
    epoch: int | None = None,
    *,
    x_label: str = "x",
    y_label: str = "y",
    width: int = 800,
    height: int = 600,
    dpi: float = 100,
) -> bytes:
    """Draw the data points (x, y) and the fitted curve: curve[i] is the prediction at grid_x[i]."""
    fig = new_figure(width, height, dpi)
    ax, line = _draw(fig, x, y, grid_x, [curve], x_label, y_label)
    line.set_data(floats(grid_x), floats(curve))
    set_title(ax, fit_title(epoch))
    return to_png(fig, ax)


@locked
def mlp_fit_gif(
    x: Any,
    y: Any,
    grid_x: Any,
    curves: Sequence[Any],
    epochs: Sequence[int],
    width: int = 800,
    height: int = 600,
    duration_ms: int = 300,
    *,
    dpi: float = 100,
    x_label: str = "x",
    y_label: str = "y",
    max_frames: int = MAX_FRAMES,
) -> bytes:
    """Animate the fitted curve, one frame per snapshot, the epoch in each title.

    More than `max_frames` snapshots are thinned evenly, always keeping the first and last.
    The y axis holds every frame's curve, so frames never rescale.
    """
    if len(curves) == 0 or len(curves) != len(epochs):
        raise ValueError("need one epoch per fitted curve, and at least one curve")
    keep = np.unique(np.linspace(0, len(curves) - 1, min(len(curves), max_frames)).astype(int))
    chosen = [floats(curves[i]) for i in keep]
    fig = new_figure(width, height, dpi)
    ax, line = _draw(fig, x, y, grid_x, chosen, x_label, y_label)
    gx = floats(grid_x)
    title = ax.set_title(fit_title(int(epochs[keep[-1]])), y=1.0)
    fit_axes(fig, ax)  # laid out once, for the longest title: frames never shift
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    # Everything but the curve and the title is rendered once; each frame restores that
    # background and redraws only those two (blitting): far cheaper than a full draw.
    line.set_visible(False)
    title.set_visible(False)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    line.set_visible(True)
    title.set_visible(True)
    frames: list[np.ndarray] = []
    for i, values in zip(keep, chosen, strict=True):
        line.set_data(gx, values)
        title.set_text(fit_title(int(epochs[i])))
        canvas.restore_region(background)
        ax.draw_artist(line)
        ax.draw_artist(title)
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    exact = np.round(np.array([to_rgb("C0"), to_rgb("C3")]) * 255).astype(np.uint8)
    return encode_gif(frames, exact, duration_ms)
