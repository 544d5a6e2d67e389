"""Per-epoch curves: a run's loss, its parameters or layer norms, and a sweep's losses."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from descent_server.ml.plots._render import (
    aligned,
    fit_stack,
    locked,
    log_ticks,
    marker_for,
    new_figure,
    no_data,
    positive_or_nan,
    set_title,
    thin,
    to_png,
)
from descent_server.ml.types import divergence_message

ArrayLike = Sequence[Any] | np.ndarray


def _epoch_axis(ax: Axes) -> None:
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True))
    ax.grid(True, alpha=0.3)


def _value_axis(ax: Axes, log: bool) -> None:
    if log:
        ax.set_yscale("log")
        log_ticks(ax.yaxis)
    else:
        # Losses like 2.2e18 get one "1e18" above the axis instead of unreadable ticks; no
        # offset, so b creeping from -100 to -99.99993 reads as itself, not as "1e-5 - 99.9".
        ax.ticklabel_format(
            axis="y", style="sci", scilimits=(-3, 5), useMathText=False, useOffset=False
        )


def auto_log(*series: np.ndarray) -> bool:
    """Say whether positive values span more than three decades (then a log axis reads best)."""
    values = np.concatenate([s[np.isfinite(s) & (s > 0)] for s in series] or [np.zeros(0)])
    return bool(values.size and values.max() > 1e3 * values.min())


def _last_finite(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    ok = np.flatnonzero(np.isfinite(y))
    return (float(x[ok[-1]]), float(y[ok[-1]])) if ok.size else None


def _curve(ax: Axes, x: np.ndarray, y: np.ndarray, log: bool, **style: Any) -> None:
    if log:
        y = positive_or_nan(y)
    x, y = thin(x, y)
    ax.plot(x, y, marker=marker_for(x.size), **style)


def divergence_label(epochs: ArrayLike, loss: ArrayLike) -> str | None:
    """Label the × of a diverged run: the API error's words, then its last finite loss."""
    last = _last_finite(*aligned(epochs, loss))
    return None if last is None else f"{divergence_message(int(last[0]))} (loss {last[1]:.4g})"


@locked
def loss_plot(
    epochs: ArrayLike,
    loss: ArrayLike,
    val_loss: ArrayLike | None = None,
    *,
    log: bool | None = None,
    diverged: bool = False,
    title: str = "Loss per epoch",
    y_label: str = "loss",
    width: int = 800,
    height: int = 600,
    dpi: float = 100,
) -> bytes:
    """Draw loss (and validation loss) per epoch; mark where a diverged run stopped.

    `log=None` picks a log axis when the loss spans more than three decades.
    """
    fig = new_figure(width, height, dpi)
    ax = fig.add_subplot()
    x, y = aligned(epochs, loss)
    xv, yv = aligned(epochs, val_loss) if val_loss is not None else (x[:0], y[:0])
    if log is None:
        log = auto_log(y, yv)
    _epoch_axis(ax)
    ax.set_ylabel(y_label + (" (log scale)" if log else ""))
    set_title(ax, title)
    if not np.isfinite(y).any():
        no_data(ax)
        return to_png(fig, ax)
    _curve(ax, x, y, log, color="C0", label="training loss")
    if np.isfinite(yv).any():
        _curve(ax, xv, yv, log, color="C1", label="validation loss")
    label = divergence_label(x, y) if diverged else None
    last = _last_finite(x, y)
    if label is not None and last is not None:
        ax.plot(*last, marker="x", color="C3", markersize=14, mew=3, ls="none", label=label)
    _value_axis(ax, log)
    # A diverging loss climbs to the upper right, a healthy one falls to the lower right.
    ax.legend(loc="upper left" if diverged else "upper right")
    return to_png(fig, ax)


@locked
def params_plot(
    epochs: ArrayLike,
    series: Mapping[str, ArrayLike],
    secondary: Mapping[str, ArrayLike] | None = None,
    *,
    log: bool = False,
    title: str = "Parameters per epoch",
    y_label: str | None = None,
    secondary_label: str | None = None,
    panels: bool = False,
    width: int = 800,
    height: int = 600,
    dpi: float = 100,
) -> bytes:
    """Draw series per epoch: on stacked `panels`, or `secondary` on a twin axis.

    Regression passes {"a": ..., "b": ...} with panels (slope and intercept have different
    scales, and on twin axes their curves would lie exactly on top of each other); an MLP
    passes weight norms with gradient norms as secondary.
    """
    if panels and secondary is None and len(series) > 1:
        return _panels(epochs, series, log, title, width, height, dpi)
    fig = new_figure(width, height, dpi)
    ax = fig.add_subplot()
    _epoch_axis(ax)
    set_title(ax, title)
    left = dict(series)
    right = dict(secondary) if secondary is not None else {}
    if not right and len(left) == 2:
        name = list(left)[1]
        right = {name: left.pop(name)}
    if not left and not right:
        no_data(ax)
        return to_png(fig, ax)
    # With one series per axis the axis label takes the series' colour: which is which.
    ax.set_ylabel(
        y_label or (next(iter(left)) if len(left) == 1 else "value"),
        color="C0" if len(left) == 1 else "black",
    )
    colors = (f"C{i % 10}" for i in range(len(left) + len(right)))
    for name, values in left.items():
        x, y = aligned(epochs, values)
        _curve(ax, x, y, log, color=next(colors), label=name)
    _value_axis(ax, log)
    axes = [ax]
    if right:
        twin = ax.twinx()
        twin.set_ylabel(
            secondary_label or (next(iter(right)) if len(right) == 1 else "value"),
            color=f"C{len(left)}" if len(right) == 1 else "black",
        )
        for name, values in right.items():
            x, y = aligned(epochs, values)
            _curve(twin, x, y, log, color=next(colors), label=name, ls="--")
        _value_axis(twin, log)
        axes.append(twin)
    handles = [h for a in axes for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, loc="best", fontsize="small", ncols=math.ceil(len(handles) / 12))
    return to_png(fig, *axes)


MAX_PANELS = 4  # beyond this many series, the weights share one panel and the bias has one
AXIS_NAMES = {"a": "a (slope)", "b": "b (intercept)"}


def _panels(
    epochs: ArrayLike,
    series: Mapping[str, ArrayLike],
    log: bool,
    title: str,
    width: int,
    height: int,
    dpi: float,
) -> bytes:
    """Draw each series (or the weights, then the bias) on its own panel, epochs shared."""
    groups: list[dict[str, ArrayLike]] = [{name: v} for name, v in series.items()]
    if len(groups) > MAX_PANELS:
        weights = {k: v for k, v in series.items() if k != "bias"}
        groups = [weights] + ([{"bias": series["bias"]}] if "bias" in series else [])
    fig = new_figure(width, height, dpi)
    axes = list(fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0])
    set_title(axes[0], title)
    colors = (f"C{i % 10}" for i in range(len(series)))
    for ax, group in zip(axes, groups, strict=True):
        ax.grid(True, alpha=0.3)
        for name, values in group.items():
            x, y = aligned(epochs, values)
            _curve(ax, x, y, log, color=next(colors), label=name)
        only = next(iter(group)) if len(group) == 1 else None
        ax.set_ylabel(AXIS_NAMES.get(only, only) if only else "weights")
        _value_axis(ax, log)
        if only is None:
            ax.legend(loc="best", fontsize="small", ncols=math.ceil(len(group) / 12))
    _epoch_axis(axes[-1])
    fit_stack(fig, axes)
    fig.align_ylabels(axes)  # one column of labels, whatever the tick widths
    return to_png(fig)


@locked
def sweep_loss_plot(
    curves: Sequence[tuple[str, ArrayLike, ArrayLike, bool]],
    *,
    log: bool = True,
    title: str = "Loss per epoch, every run of the sweep",
    y_label: str = "loss",
    width: int = 800,
    height: int = 600,
    dpi: float = 100,
) -> bytes:
    """Draw every run's loss on one plot, labelled; a diverged run gets an × where it stopped."""
    fig = new_figure(width, height, dpi)
    ax = fig.add_subplot()
    _epoch_axis(ax)
    ax.set_ylabel(y_label + (" (log scale)" if log else ""))
    set_title(ax, title)
    drawn = 0
    for i, (label, epochs, loss, diverged) in enumerate(curves):
        x, y = aligned(epochs, loss)
        if not np.isfinite(y).any():
            continue
        color = f"C{i % 10}" if len(curves) <= 10 else _many(i, len(curves))
        _curve(ax, x, y, log, color=color, label=label + (" (diverged)" if diverged else ""))
        last = _last_finite(x, y)
        if diverged and last is not None:
            ax.plot(*last, marker="x", color=color, markersize=12, mew=2.5, ls="none")
        drawn += 1
    if not drawn:
        no_data(ax)
        return to_png(fig, ax)
    _value_axis(ax, log)
    ax.legend(loc="best", fontsize="small", ncols=math.ceil(drawn / 12))
    return to_png(fig, ax)


def _many(i: int, n: int) -> tuple[float, float, float, float]:
    from matplotlib import colormaps

    return tuple(colormaps["turbo"](0.05 + 0.9 * i / max(n - 1, 1)))  # type: ignore[return-value]
