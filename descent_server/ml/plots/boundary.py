"""Decision regions of a classifier with its data: one PNG or an animated GIF.

Two features are drawn as they are; more are drawn on the plane of the first two principal
components (`projection`, ml/projection's PCAPlane.to_dict()): the data rows are projected
onto it and the axes say which component each is and how much of the variance it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from descent_server.ml.plots._gif import encode_gif
from descent_server.ml.plots._render import (
    fit_axes,
    floats,
    locked,
    new_figure,
    set_title,
    to_png,
)
from descent_server.ml.projection import PCAPlane

MAX_SCATTER = 5000
MAX_FRAMES = 200
# How much of a class's colour its region gets (the rest is white), so points stay visible.
REGION_TINT = 0.3
POINT_AREA_BUDGET = 6000.0  # marker area (pt²) × points: 3000 points get the smallest, 3


def class_colors(k: int) -> np.ndarray:
    """Return k RGB colours (k × 3 floats): tab10's C0, C1, … as the course's scatter uses."""
    if k <= 10:
        return np.array([to_rgb(f"C{i}") for i in range(k)])
    return np.array(colormaps["turbo"](np.linspace(0.05, 0.95, k)))[:, :3]


def _region_palette(k: int) -> np.ndarray:
    # One extra entry (grey) for indices outside 0..k-1, so a bad grid cannot crash a render.
    tint = REGION_TINT * class_colors(k) + (1 - REGION_TINT)
    return np.round(np.vstack([tint, [0.85, 0.85, 0.85]]) * 255).astype(np.uint8)


def _regions(grid: Any, palette: np.ndarray) -> np.ndarray:
    g = np.asarray(grid)
    if g.ndim != 2 or g.size == 0:
        raise ValueError("a snapshot grid must be a non-empty 2-D array (x2 rows × x1 columns)")
    index = np.where((g >= 0) & (g < palette.shape[0] - 1), g, palette.shape[0] - 1)
    return palette[index.astype(np.intp)]


def _image_extent(
    extent: Sequence[float], shape: tuple[int, ...]
) -> tuple[float, float, float, float]:
    # Grid values are samples at linspace(min, max, n): each pixel is centred on its sample.
    x1min, x1max, x2min, x2max = (float(v) for v in extent)
    dx = (x1max - x1min) / max(shape[1] - 1, 1) / 2
    dy = (x2max - x2min) / max(shape[0] - 1, 1) / 2
    return (x1min - dx, x1max + dx, x2min - dy, x2max + dy)


def boundary_title(epoch: int | None) -> str:
    """Title a boundary picture: epoch 0 is the untrained model, later ones follow training."""
    if epoch is None:
        return "Decision regions"
    return "Decision regions, initial (epoch 0)" if epoch == 0 else (
        f"Decision regions after epoch {epoch}")  # fmt: skip


def _draw(
    fig: Figure,
    grid: Any,
    extent: Sequence[float],
    classes: Sequence[Any],
    X: Any,
    y: Any,
    x_label: str,
    y_label: str,
) -> tuple[Axes, AxesImage]:
    """Draw regions, data and labels on `fig`; return the axes and the region image."""
    ax = fig.add_subplot()
    k = len(classes)
    palette = _region_palette(k)
    rgb = _regions(grid, palette)
    image = ax.imshow(
        rgb,
        origin="lower",
        extent=_image_extent(extent, rgb.shape),
        interpolation="nearest",
        aspect="auto",
        zorder=0,
    )
    points = np.asarray(X, dtype=np.float64) if np.size(X) else np.zeros((0, 2))
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError("the data points must be (n, 2): pass a projection for more features")
    labels = floats(y)
    if points.shape[0] > MAX_SCATTER:  # a fixed subset keeps a million rows drawable
        keep = np.sort(np.random.RandomState(0).choice(points.shape[0], MAX_SCATTER, False))
        points, labels = points[keep], labels[keep]
    colors = class_colors(k)
    # Thousands of points stay small and faint so the regions show; a few (iris's 150) are
    # drawn larger and firmer, or they would barely be seen.
    area = float(np.clip(POINT_AREA_BUDGET / max(points.shape[0], 1), 3, 16))
    alpha = 0.5 if area <= 3 else 0.8
    for i, name in enumerate(classes):
        mine = points[labels == i]
        ax.scatter(
            mine[:, 0], mine[:, 1], color=colors[i], s=area, alpha=alpha, label=str(name),
            zorder=2,
        )  # fmt: skip
    x1min, x1max, x2min, x2max = (float(v) for v in extent)
    ax.set(xlim=(x1min, x1max), ylim=(x2min, x2max), xlabel=x_label, ylabel=y_label)
    ax.legend(
        loc="upper right",
        markerscale=4 * (3 / area) ** 0.5,  # legend markers keep one size whatever `area`
        title="class (points and regions)",
        title_fontsize="small",
        framealpha=0.9,
    )
    return ax, image


def _on_plane(
    X: Any, x_label: str, y_label: str, projection: Mapping[str, Any] | None
) -> tuple[Any, str, str]:
    """Return the points to draw and the axis labels: as given, or on the projection's plane."""
    if projection is None:
        return X, x_label, y_label
    plane = PCAPlane.from_dict(projection)
    rows = np.asarray(X, dtype=np.float64).reshape(-1, plane.mean.size)
    return plane.project_raw(rows), *plane.axis_labels()


@locked
def boundary_plot(
    grid: Any,
    extent: Sequence[float],
    classes: Sequence[Any],
    X: Any,
    y: Any,
    epoch: int | None = None,
    *,
    x_label: str = "x1",
    y_label: str = "x2",
    width: int = 800,
    height: int = 600,
    dpi: float = 100,
    projection: Mapping[str, Any] | None = None,
) -> bytes:
    """Draw predicted-class regions (grid: x2 rows × x1 columns) under the data points.

    With a `projection` X holds the raw rows of every feature and the extent is in plane
    coordinates; the axes are labelled with the components (x_label, y_label unused).
    """
    X, x_label, y_label = _on_plane(X, x_label, y_label, projection)
    fig = new_figure(width, height, dpi)
    ax, _ = _draw(fig, grid, extent, classes, X, y, x_label, y_label)
    set_title(ax, boundary_title(epoch))
    return to_png(fig, ax)


@locked
def boundary_gif(
    grids: Sequence[Any],
    epochs: Sequence[int],
    extent: Sequence[float],
    classes: Sequence[Any],
    X: Any,
    y: Any,
    width: int = 800,
    height: int = 600,
    duration_ms: int = 300,
    *,
    dpi: float = 100,
    x_label: str = "x1",
    y_label: str = "x2",
    max_frames: int = MAX_FRAMES,
    projection: Mapping[str, Any] | None = None,
) -> bytes:
    """Animate the decision regions, one frame per snapshot, the epoch in each title.

    More than `max_frames` snapshots are thinned evenly, always keeping the first and last.
    A `projection` places X (raw rows) on its plane, as in boundary_plot.
    """
    if len(grids) == 0 or len(grids) != len(epochs):
        raise ValueError("need one epoch per snapshot grid, and at least one snapshot")
    X, x_label, y_label = _on_plane(X, x_label, y_label, projection)
    keep = np.unique(np.linspace(0, len(grids) - 1, min(len(grids), max_frames)).astype(int))
    fig = new_figure(width, height, dpi)
    ax, image = _draw(fig, grids[keep[-1]], extent, classes, X, y, x_label, y_label)
    title = ax.set_title(boundary_title(int(epochs[keep[-1]])), y=1.0)
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    fit_axes(fig, ax)  # laid out once, for the longest title: frames never shift
    # Matplotlib renders everything but the regions and the title once, on a transparent
    # canvas; each frame is then numpy: regions into the axes box, that layer over them,
    # and only the title redrawn (blitting). ~10x faster than a full draw per frame.
    image.set_visible(False)
    title.set_visible(False)
    fig.patch.set_alpha(0.0)
    ax.patch.set_alpha(0.0)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    title.set_visible(True)
    palette = _region_palette(len(classes))
    box = ax.get_window_extent()
    frames: list[np.ndarray] = []
    for i in keep:
        title.set_text(boundary_title(int(epochs[i])))
        canvas.restore_region(background)
        ax.draw_artist(title)
        layer = np.asarray(canvas.buffer_rgba())
        regions = _regions(grids[i], palette)
        rows, cols = _pixel_index(regions.shape, (box.x0, box.y0, box.x1, box.y1), layer.shape)
        base = np.full(layer.shape[:2] + (3,), 255, dtype=np.uint8)
        base[rows.start : rows.stop, cols.start : cols.stop] = regions[rows.index][:, cols.index]
        alpha = layer[..., 3:4].astype(np.float32) / 255.0
        blended = layer[..., :3] * alpha + base * (1.0 - alpha)
        frames.append(np.round(blended).astype(np.uint8))
    # Every region and point colour goes into the shared palette, so a class that only
    # appears late still gets its exact colour.
    points = np.round(class_colors(len(classes)) * 255).astype(np.uint8)
    return encode_gif(frames, np.vstack([palette, points]), duration_ms)


class _Span:
    """Pixel rows (or columns) [start, stop) of the axes box and the grid cell each shows."""

    def __init__(self, start: int, stop: int, index: np.ndarray) -> None:
        self.start, self.stop, self.index = start, stop, index


def _pixel_index(
    grid_shape: tuple[int, ...], box: tuple[float, float, float, float], canvas: tuple[int, ...]
) -> tuple[_Span, _Span]:
    """Map the canvas pixels inside the axes box to the nearest grid row and column."""
    x0, y0, x1, y1 = box
    height = canvas[0]

    def span(lo: float, hi: float, n: int) -> tuple[int, int, np.ndarray]:
        start, stop = int(np.ceil(lo - 0.5)), int(np.floor(hi - 0.5)) + 1
        centres = np.arange(start, stop) + 0.5
        # Axis limits equal the extent, whose ends are the first and last grid samples.
        index = np.rint((centres - lo) / max(hi - lo, 1e-9) * (n - 1)).astype(np.intp)
        return start, stop, np.clip(index, 0, n - 1)

    c0, c1, cols = span(x0, x1, grid_shape[1])
    # Display y grows upwards, buffer rows downwards; grid row 0 is the lowest x2.
    r0, r1, rows = span(height - y1, height - y0, grid_shape[0])
    return _Span(r0, r1, rows[::-1]), _Span(c0, c1, cols)
