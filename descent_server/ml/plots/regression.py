"""Pictures of a one-feature regression: the fit, the loss surface and its contour."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator
from mpl_toolkits.mplot3d import Axes3D

from descent_server.ml.plots._render import (
    floats,
    locked,
    new_figure,
    no_data,
    power_label,
    set_title,
    to_png,
)

ArrayLike = Sequence[Any] | np.ndarray
MAX_SCATTER = 5000
MAX_PATH = 2000


class SurfaceLike(Protocol):
    """What `ml.surface.loss_surface` returns: loss[i, j] is the loss at (a[j], b[i])."""

    a: Any
    b: Any
    loss: Any
    optimum: Mapping[str, float]


def _sample(n: int, limit: int) -> np.ndarray:
    # A fixed-seed subset keeps huge data sets drawable and the picture stable.
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.RandomState(0).choice(n, limit, replace=False))


def _number(v: float) -> str:
    return f"{v:,.2f}" if 1e-2 <= abs(v) < 1e7 else f"{v:.4g}"


@locked
def fit_plot(
    x: ArrayLike,
    y: ArrayLike,
    params: Mapping[str, Any],
    x_pred: float | None = None,
    *,
    x_label: str = "x",
    y_label: str = "y",
    title: str = "Data and fitted line",
    point_labels: Sequence[str] | None = None,
    width: int = 800,
    height: int = 600,
    dpi: float = 100,
) -> bytes:
    """Draw the data, the line ŷ = a·x + b and, if `x_pred` is given, the prediction there."""
    if "a" not in params or "b" not in params:
        raise ValueError("fit_plot needs one-feature parameters {'a', 'b'}")
    xs, ys = floats(x), floats(y)
    a, b = (np.nan if params[k] is None else float(params[k]) for k in ("a", "b"))
    fig = new_figure(width, height, dpi)
    ax = fig.add_subplot()
    set_title(ax, title)
    ax.set(xlabel=x_label, ylabel=y_label)
    ax.grid(True, alpha=0.3)
    keep = _sample(xs.size, MAX_SCATTER)
    ax.scatter(
        xs[keep], ys[keep], s=30 if xs.size <= 100 else 4, color="C0", label="data", zorder=3
    )
    if point_labels is not None and xs.size <= 50:
        edge = np.nanmin(xs) + 0.75 * (np.nanmax(xs) - np.nanmin(xs))
        for xi, yi, text in zip(xs, ys, point_labels, strict=False):
            right = xi > edge  # labels near the right edge go left, to stay inside the axes
            ax.annotate(
                str(text),
                (xi, yi),
                xytext=(-6 if right else 6, -12),
                textcoords="offset points",
                ha="right" if right else "left",
                fontsize="small",
                color="0.3",
            )
    finite_x = xs[np.isfinite(xs)]
    span = [*finite_x, *([x_pred] if x_pred is not None and np.isfinite(x_pred) else [])]
    if not span:
        no_data(ax)
        return to_png(fig, ax)
    lo, hi = min(span), max(span)
    pad = 0.05 * (hi - lo) or 1.0
    line_x = np.array([lo - pad, hi + pad])
    if np.isfinite(a) and np.isfinite(b):
        sign = "−" if b < 0 else "+"
        ax.plot(
            line_x, a * line_x + b, color="C2", lw=2, label=f"ŷ = {a:.6g}·x {sign} {abs(b):.6g}"
        )
        if x_pred is not None and np.isfinite(x_pred):
            y_pred = a * x_pred + b
            ax.axvline(x_pred, lw=1, ls="--", color="C1", label=f"prediction input x = {x_pred:g}")
            ax.scatter(
                [x_pred],
                [y_pred],
                s=80,
                color="C1",
                marker="D",
                zorder=4,
                label=f"prediction ŷ({x_pred:g}) = {_number(y_pred)}",
            )
            ax.annotate(
                f"ŷ = {_number(y_pred)}",
                (x_pred, y_pred),
                xytext=(10, 8),
                textcoords="offset points",
                color="C1",
                fontweight="bold",
            )
    else:
        ax.text(
            0.5,
            0.95,
            "parameters are not finite (diverged): no line to draw",
            ha="center",
            va="top",
            transform=ax.transAxes,
            color="C3",
        )
    ax.set_xlim(line_x[0], line_x[1])
    ax.legend(loc="upper left")
    return to_png(fig, ax)


def _grid(surface: SurfaceLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = floats(surface.a), floats(surface.b)
    loss = np.array(surface.loss, dtype=np.float64)
    if loss.shape != (b.size, a.size):
        raise ValueError(f"surface.loss must be (len(b), len(a)) = {(b.size, a.size)}")
    if a.size < 2 or b.size < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a loss surface needs at least 2 finite a and 2 finite b values")
    loss[~np.isfinite(loss)] = np.nan
    # Ascending axes, so paths can be located on the grid by binary search.
    ia, ib = np.argsort(a, kind="stable"), np.argsort(b, kind="stable")
    return a[ia], b[ib], loss[np.ix_(ib, ia)]


def _path(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pa, pb = floats(a), floats(b)
    n = min(pa.size, pb.size)
    index = np.arange(n)
    if n > MAX_PATH:  # an even stride that keeps the first and last step
        index = np.unique(np.r_[np.linspace(0, n - 1, MAX_PATH).astype(np.int64), n - 1])
    pa, pb = pa[index], pb[index]
    ok = np.isfinite(pa) & np.isfinite(pb)
    return pa[ok], pb[ok], index[ok]


def _inside(a: np.ndarray, b: np.ndarray, ga: np.ndarray, gb: np.ndarray) -> np.ndarray:
    return (a >= ga.min()) & (a <= ga.max()) & (b >= gb.min()) & (b <= gb.max())


def _bilinear(ga: np.ndarray, gb: np.ndarray, loss: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Interpolate the grid's loss at points inside it (axes ascending)."""
    i = np.clip(np.searchsorted(gb, b) - 1, 0, gb.size - 2)
    j = np.clip(np.searchsorted(ga, a) - 1, 0, ga.size - 2)
    tb = (b - gb[i]) / (gb[i + 1] - gb[i])
    ta = (a - ga[j]) / (ga[j + 1] - ga[j])
    top = loss[i, j] * (1 - ta) + loss[i, j + 1] * ta
    bottom = loss[i + 1, j] * (1 - ta) + loss[i + 1, j + 1] * ta
    return top * (1 - tb) + bottom * tb


def _optimum(surface: SurfaceLike) -> tuple[float, float, float] | None:
    opt = getattr(surface, "optimum", None) or {}
    try:
        point = (float(opt["a"]), float(opt["b"]), float(opt["loss"]))
    except (KeyError, TypeError, ValueError):
        return None
    return point if all(np.isfinite(point)) else None


@locked
def surface_plot(
    surface: SurfaceLike,
    path_a: ArrayLike | None = None,
    path_b: ArrayLike | None = None,
    path_loss: ArrayLike | None = None,
    *,
    log: bool = False,
    title: str = "Loss surface and descent path",
    a_label: str = "a (slope)",
    b_label: str = "b (intercept)",
    z_label: str = "loss (MSE)",
    width: int = 800,
    height: int = 600,
    dpi: float = 100,
) -> bytes:
    """Draw the 3-D loss surface over (a, b) with the descent path on it, as the course does."""
    ga, gb, loss = _grid(surface)
    fig = new_figure(width, height, dpi)
    # Drawing order by zorder, not by depth, so the path is never buried under the surface.
    # A 3-D axes keeps its own margins inside its box: give it the canvas below the title.
    top = max(0.5, 1 - 0.3 * dpi / height)
    box = (0.0, 0.0, 1.0, top)
    ax = cast(Axes3D, fig.add_axes(box, projection="3d", computed_zorder=False))
    fig.suptitle(title, y=1 - 0.08 * dpi / height, va="top")
    ax.set(xlabel=a_label, ylabel=b_label, zlabel=("log₁₀ " + z_label) if log else z_label)
    z = np.log10(np.where(loss > 0, loss, np.nan)) if log else loss
    A, B = np.meshgrid(ga, gb)
    path = (path_a, path_b) if path_a is not None and path_b is not None else None
    ax.plot_surface(
        A,
        B,
        z,
        cmap="coolwarm",
        rcount=40,
        ccount=40,
        linewidth=0,
        antialiased=False,
        alpha=0.55 if path else 0.9,
        zorder=1,
    )
    if path is not None:
        pa, pb, index = _path(*path)
        if path_loss is not None:
            pz = floats(path_loss)
            pz = np.concatenate([pz, np.full(max(0, index.max(initial=-1) + 1 - pz.size), np.nan)])
            pz = pz[index]
        else:
            inside = _inside(pa, pb, ga, gb)
            pz = np.full(pa.shape, np.nan)
            pz[inside] = _bilinear(ga, gb, loss, pa[inside], pb[inside])
        pz = np.log10(np.where(pz > 0, pz, np.nan)) if log else pz
        ok = _inside(pa, pb, ga, gb) & np.isfinite(pz)
        if ok.any():
            ax.plot(
                pa[ok],
                pb[ok],
                pz[ok],
                color="red",
                lw=1.5,
                marker=".",
                ms=4,
                zorder=3,
                label=f"descent path ({int(ok.sum())} points)",
            )
            ax.scatter(
                pa[ok][0], pb[ok][0], pz[ok][0], color="black", s=40, zorder=4, label="start"
            )
    opt = _optimum(surface)
    if opt is not None and _inside(np.array(opt[0]), np.array(opt[1]), ga, gb):
        oz = np.log10(opt[2]) if log and opt[2] > 0 else opt[2]
        ax.scatter(
            opt[0],
            opt[1],
            oz,
            marker="*",
            s=200,
            color="gold",
            edgecolor="black",
            zorder=5,
            label="least-squares optimum",
        )
    ax.ticklabel_format(axis="z", style="sci", scilimits=(-3, 4), useMathText=False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left")
    return to_png(fig)


@locked
def contour_plot(
    surface: SurfaceLike,
    paths: Sequence[tuple[str, ArrayLike, ArrayLike]] = (),
    *,
    log: bool = True,
    levels: int = 25,
    title: str = "Loss contour and descent path",
    a_label: str = "a (slope)",
    b_label: str = "b (intercept)",
    z_label: str = "loss (MSE)",
    width: int = 800,
    height: int = 600,
    dpi: float = 100,
) -> bytes:
    """Draw the loss contour over (a, b) with one or several labelled descent paths."""
    ga, gb, loss = _grid(surface)
    fig = new_figure(width, height, dpi)
    ax = fig.add_subplot()
    set_title(ax, title)
    ax.set(xlabel=a_label, ylabel=b_label)
    finite = loss[np.isfinite(loss)]
    if finite.size == 0:
        no_data(ax, "loss surface is not finite")
        return to_png(fig, ax)
    bar = _filled_contour(fig, ax, ga, gb, loss, finite, log, levels, z_label)
    halo = [patheffects.withStroke(linewidth=3.5, foreground="white")]
    for i, (label, a, b) in enumerate(paths):
        pa, pb, _ = _path(a, b)
        if pa.size == 0:
            continue
        color = f"C{(i + 1) % 10}"  # C0 blue is lost on the colour map's low end
        outside = not _inside(pa[-1:], pb[-1:], ga, gb)[0]
        # The white halo goes on the line only: on dense markers it merges into a blob.
        ax.plot(
            pa,
            pb,
            color=color,
            lw=1.8,
            ls="--" if outside else "-",
            label=label + (" (ends off the plot)" if outside else ""),
            path_effects=halo,
        )
        if pa.size <= 400:
            ax.plot(pa, pb, ".", color=color, ms=3)
        ax.plot(pa[0], pb[0], "o", color=color, ms=8, mec="black")
        ax.plot(pa[-1], pb[-1], "s", color=color, ms=8, mec="black")
    opt = _optimum(surface)
    if opt is not None:
        ax.plot(
            opt[0], opt[1], "*", ms=16, color="gold", mec="black", label="least-squares optimum"
        )
    ax.set_xlim(ga.min(), ga.max())
    ax.set_ylim(gb.min(), gb.max())
    ax.legend(loc="upper right", fontsize="small", title="○ start  □ end", title_fontsize="small")
    return to_png(fig, ax, colorbar=bar)


def _filled_contour(
    fig: Any,
    ax: Axes,
    ga: np.ndarray,
    gb: np.ndarray,
    loss: np.ndarray,
    finite: np.ndarray,
    log: bool,
    levels: int,
    z_label: str,
) -> Axes:
    cax = fig.add_axes((0.9, 0.1, 0.03, 0.8))  # placed beside `ax` by fit_axes
    lo, hi = finite.min(), finite.max()
    positive = finite[finite > 0]
    if log and positive.size and positive.max() > positive.min():
        # Geometric levels: a quadratic bowl spanning many decades still shows its valley.
        z = np.where(loss > 0, loss, np.nan)
        steps = np.geomspace(positive.min(), positive.max(), levels)
        cs = ax.contourf(ga, gb, z, levels=steps, norm=LogNorm(), cmap="viridis", alpha=0.9)
        ax.contour(ga, gb, z, levels=steps, colors="white", linewidths=0.4, alpha=0.5)
        bar = fig.colorbar(cs, cax=cax, ticks=LogLocator())
        bar.ax.yaxis.set_major_formatter(FuncFormatter(power_label))
        bar.minorticks_off()
    else:
        steps = np.linspace(lo, hi if hi > lo else lo + 1, levels)
        cs = ax.contourf(ga, gb, loss, levels=steps, cmap="viridis", alpha=0.9)
        ax.contour(ga, gb, loss, levels=steps, colors="white", linewidths=0.4, alpha=0.5)
        bar = fig.colorbar(cs, cax=cax, ticks=MaxNLocator(nbins=6))  # round values
    bar.set_label(z_label + (" (log scale)" if log else ""))
    return cax
