"""Shared plumbing: figures of an exact pixel size, PNG bytes, a render lock, clean arrays."""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator
from matplotlib.transforms import Bbox
from PIL import Image

P = ParamSpec("P")
R = TypeVar("R")

# Matplotlib documents itself as not thread safe (shared font and text caches), so renders
# from a threaded server are serialised; one 800×600 render is tens of milliseconds.
_LOCK = threading.RLock()

MAX_PIXELS = 4000


def locked(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` under the module-wide render lock."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _LOCK:
            return fn(*args, **kwargs)

    return wrapper


def new_figure(width: int, height: int, dpi: float) -> Figure:
    """Return a figure whose PNG is exactly width × height pixels, on its own Agg canvas."""
    if not (1 <= width <= MAX_PIXELS and 1 <= height <= MAX_PIXELS):
        raise ValueError(f"width and height must be 1..{MAX_PIXELS} pixels")
    if not (np.isfinite(dpi) and 1 <= dpi <= 1000):
        raise ValueError("dpi must be 1..1000")
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def fit_axes(fig: Figure, ax: Axes, *twins: Axes, colorbar: Axes | None = None) -> None:
    """Size `ax` (its twins follow) so ticks, labels, title and colour bar fill the canvas.

    One measuring pass instead of constrained layout's several (half the render time);
    never bbox_inches="tight", which would change the pixel size.
    """
    w = fig.bbox.width
    # Colour bar: a fixed-width strip anchored to the right edge of the axes.
    bar_gap, bar_width = 0.15 * fig.dpi / w, 0.2 * fig.dpi / w

    def place(x0: float, y0: float, x1: float, y1: float) -> None:
        for a in (ax, *twins):
            a.set_position((x0, y0, x1 - x0, y1 - y0))
        if colorbar is not None:
            colorbar.set_position((x1 + bar_gap, y0, bar_width, y1 - y0))

    _fill(fig, place, [ax, *twins, *([colorbar] if colorbar is not None else [])])


def fit_stack(fig: Figure, axes: Sequence[Axes]) -> None:
    """Size a column of panels (top first, sharing x) so they fill the canvas, evenly tall."""
    # Room between panels for the lower one's "1e5" multiplier and both edge tick labels.
    gap = 0.3 * fig.dpi / fig.bbox.height

    def place(x0: float, y0: float, x1: float, y1: float) -> None:
        space = gap if (y1 - y0) > 2 * gap * len(axes) else 0.0
        tall = (y1 - y0 - space * (len(axes) - 1)) / len(axes)
        for i, a in enumerate(axes):
            a.set_position((x0, y1 - i * (tall + space) - tall, x1 - x0, tall))

    _fill(fig, place, list(axes))


def _fill(
    fig: Figure, place: Callable[[float, float, float, float], None], axes: Sequence[Axes]
) -> None:
    """Place `axes` once, measure what sticks out, and place them again to fill the canvas."""
    w, h = fig.bbox.width, fig.bbox.height
    pad = 0.06 * fig.dpi
    start = (0.1, 0.1, 0.9, 0.9)
    place(*start)
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    renderer = canvas.get_renderer()
    boxes = [a.get_tightbbox(renderer) for a in axes]
    used = Bbox.union([b for b in boxes if b is not None])
    x0 = start[0] + (pad - used.x0) / w
    x1 = start[2] - (used.x1 - (w - pad)) / w
    y0 = start[1] + (pad - used.y0) / h
    y1 = start[3] - (used.y1 - (h - pad)) / h
    if x1 - x0 > 0.15 and y1 - y0 > 0.15:  # a canvas too small for its labels keeps `start`
        place(x0, y0, x1, y1)


def to_png(fig: Figure, *axes: Axes, colorbar: Axes | None = None) -> bytes:
    """Render `fig` to PNG bytes (RGB), first fitting `axes` (main, then twins) if given."""
    if axes:
        fit_axes(fig, *axes, colorbar=colorbar)
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    # RGB at zlib level 3 encodes ~40% faster than RGBA at level 6 for ~10% more bytes.
    canvas.draw()
    rgb = np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=3, dpi=(fig.dpi, fig.dpi))
    return buf.getvalue()


def floats(values: Sequence[Any] | np.ndarray | None) -> np.ndarray:
    """Return a float64 1-D array with None and ±inf turned into NaN (gaps in a line)."""
    if values is None:
        return np.zeros(0)
    # numpy turns None into NaN when asked for float64.
    arr = np.array(values, dtype=np.float64).ravel()
    arr[~np.isfinite(arr)] = np.nan
    return arr


def aligned(epochs: Sequence[Any] | np.ndarray, values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return epochs and values as float arrays cut to a common length."""
    e, v = floats(epochs), floats(values)
    n = min(e.size, v.size)
    return e[:n], v[:n]


def thin(x: np.ndarray, y: np.ndarray, max_points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Keep each bucket's lowest and highest point so a long curve keeps its shape."""
    n = x.size
    if n <= max_points:
        return x, y
    buckets = max_points // 2
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    # reduceat over bucket starts gives per-bucket extremes in one pass; NaN never wins.
    lo = np.where(np.isnan(y), np.inf, y)
    hi = np.where(np.isnan(y), -np.inf, y)
    starts = edges[:-1]
    keep = [starts, np.minimum(edges[1:] - 1, n - 1)]
    for vals, ufunc in ((lo, np.minimum), (hi, np.maximum)):
        ext = ufunc.reduceat(vals, starts)
        # The first index in each bucket that reaches the bucket's extreme.
        hit = vals == np.repeat(ext, np.diff(edges))
        idx = np.flatnonzero(hit)
        first = np.searchsorted(idx, starts)
        keep.append(idx[np.minimum(first, idx.size - 1)])
    index = np.unique(np.concatenate(keep))
    return x[index], y[index]


def positive_or_nan(values: np.ndarray) -> np.ndarray:
    """Return `values` with non-positive entries as NaN, for a log axis."""
    out = values.copy()
    out[~(out > 0)] = np.nan
    return out


def set_title(ax: Any, text: str) -> None:
    """Set a title at a fixed height (automatic title placement costs a full tick layout)."""
    ax.set_title(text, y=1.0)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_label(value: float, _pos: object = None) -> str:
    """Format a log tick as 10⁸ in plain text (mathtext would be parsed anew per figure)."""
    if not value > 0:
        return ""
    exponent = np.log10(value)
    if abs(exponent - round(exponent)) < 1e-9:
        return "10" + str(round(exponent)).translate(_SUPERSCRIPT)
    return f"{value:g}"


def log_ticks(axis: Any) -> None:
    """Label a log axis with plain-text powers; drop minor ticks over two decades or more."""
    axis.set_major_formatter(FuncFormatter(power_label))
    lo, hi = axis.get_view_interval()
    if lo > 0 and hi / lo >= 100:
        # Each tick is a set of artists with text layout: few ticks render fast.
        axis.set_minor_locator(NullLocator())
        axis.set_minor_formatter(NullFormatter())


def no_data(ax: Any, message: str = "no data yet") -> None:
    """Write a centred notice on an empty axes."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.4")


def marker_for(n: int) -> str | None:
    """Return a point marker for short series (so one point still shows), else none."""
    return "." if n <= 60 else None
