"""Parallel coordinates of a sweep: one line per run, from each swept value to its metric.

Every vertical axis is scaled to [0, 1] on its own: numbers linearly, log-uniform axes by
their logarithm, choices as evenly spaced categories (in order of first appearance). The
last axis is the final metric (log scale when it spans two decades); lines are coloured by
it, lower is better. A pruned run is dashed, a diverged run (no finite metric) is grey and
dotted, ending above the metric axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.lines import Line2D

from descent_server.ml.plots._render import locked, new_figure, no_data, set_title, to_png

Scale = Literal["linear", "log", "category"]
ABOVE = 1.08  # where a diverged run's line ends: above the top of the metric axis


def _numbers(values: Sequence[Any]) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out[i] = float(v)
    return out


def _place(values: Sequence[Any], scale: Scale) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """Return each value's height in [0, 1] and (height, label) ticks for one axis."""
    if scale != "category":
        x = _numbers(values)
        if scale == "log":
            x = np.where(x > 0, x, np.nan)
        t = np.log10(x) if scale == "log" else x
        finite = t[np.isfinite(t)]
        if finite.size and len(finite) == len(t):
            lo, hi = float(finite.min()), float(finite.max())
            span = hi - lo if hi > lo else 1.0
            ticks = np.linspace(lo, hi, 3) if hi > lo else np.array([lo])
            labels = [(float((k - lo) / span), f"{10**k if scale == 'log' else k:.3g}")
                      for k in ticks]  # fmt: skip
            return (t - lo) / span if hi > lo else np.full(len(t), 0.5), labels
    names = [repr(v) if not isinstance(v, str) else v for v in values]
    order = list(dict.fromkeys(names))
    step = 1.0 / (len(order) - 1) if len(order) > 1 else 0.0
    heights = {name: (i * step if len(order) > 1 else 0.5) for i, name in enumerate(order)}
    return np.array([heights[n] for n in names]), [(heights[n], n[:18]) for n in order]


@locked
def parallel_plot(
    axes: Sequence[tuple[str, Scale]],
    runs: Sequence[tuple[Sequence[Any], float | None, str]],
    *,
    metric: str = "val_loss",
    title: str = "Every run of the sweep: swept values → final metric",
    width: int = 800,
    height: int = 600,
    dpi: float = 100,
) -> bytes:
    """Draw one line per run (values per axis, final metric, "succeeded"/"pruned"/…)."""
    fig = new_figure(width, height, dpi)
    ax = fig.add_subplot()
    set_title(ax, title)
    if not axes or not runs:
        no_data(ax, "no runs to draw")
        return to_png(fig, ax)
    columns = [_place([run[0][i] for run in runs], scale)[0] for i, (_, scale) in enumerate(axes)]
    ticks = [_place([run[0][i] for run in runs], scale)[1] for i, (_, scale) in enumerate(axes)]
    scores = _numbers([run[1] for run in runs])
    finite = scores[np.isfinite(scores)]
    log = bool(finite.size and finite.min() > 0 and finite.max() / finite.min() >= 100)
    metric_scale: Scale = "log" if log else "linear"
    if finite.size:
        placed, metric_ticks = _place(list(finite), metric_scale)
        metric_col = np.full(len(runs), ABOVE)
        metric_col[np.isfinite(scores)] = placed
    else:
        metric_col, metric_ticks = np.full(len(runs), ABOVE), []
    norm: Normalize = (
        LogNorm(finite.min(), finite.max()) if log
        else Normalize(*(finite.min(), finite.max()) if finite.size else (0, 1))
    )  # fmt: skip
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    xs = np.arange(len(axes) + 1)
    # The best run last, so it lies on top.
    for i in np.argsort(-np.nan_to_num(scores, nan=np.inf), kind="stable"):
        ys = [col[i] for col in columns] + [metric_col[i]]
        state = runs[i][2]
        if not np.isfinite(scores[i]):
            ax.plot(xs, ys, color="0.6", ls=":", lw=1.2)
        else:
            ls = "--" if state == "pruned" else "-"
            ax.plot(xs, ys, color=cmap(norm(scores[i])), ls=ls, lw=1.6, alpha=0.9)
    for x, marks in enumerate([*ticks, metric_ticks]):
        ax.axvline(x, color="0.2", lw=0.8)
        for y, label in marks:
            ax.text(x + 0.02, y, label, fontsize="x-small", va="center", ha="left", color="0.15")
    ax.set_xticks(xs, [name for name, _ in axes] + [metric + (" (log)" if log else "")])
    ax.set_xlim(-0.1, len(axes) + 0.4)
    ax.set_ylim(-0.05, ABOVE + 0.05)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    legend = [
        Line2D([], [], color="0.3", ls="-", label="finished"),
        Line2D([], [], color="0.3", ls="--", label="pruned"),
        Line2D([], [], color="0.6", ls=":", label="diverged / no metric"),
    ]
    ax.legend(handles=legend, loc="upper center", fontsize="x-small", ncols=3,
              bbox_to_anchor=(0.5, -0.07), frameon=False)  # fmt: skip
    cax = fig.add_axes((0.9, 0.1, 0.03, 0.8))  # placed beside `ax` by fit_axes
    from matplotlib.cm import ScalarMappable

    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax)
    bar.set_label(f"final {metric} (lower is better)")
    return to_png(fig, ax, colorbar=cax)
