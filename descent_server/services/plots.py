"""Plots rendered on request from stored data, cached per run version; an ETag per picture.

The API only reads the data; the drawing itself happens in the render pool's processes.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import astuple, dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.db.session import session_factory
from descent_server.repository import history as repo
from descent_server.services import history, render_pool
from descent_server.services.errors import InvalidInput, NotFound, NotReady
from descent_server.services.render_pool import Job
from descent_server.services.runs import get as get_run
from descent_server.services.training_data import load_training_data
from descent_server.settings import get_settings

T = TypeVar("T")

CURVE_POINTS = 4000  # rows read for a curve: enough for any picture width
GIF_FRAMES = 200  # at most this many snapshots are animated (evenly spaced, last kept)
CACHE_BYTES = 128 * 1024 * 1024  # big GIFs must not pin the process's memory
REGRESSION = "linear_regression"


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


@dataclass(frozen=True)
class Picture:
    """Rendered bytes (None when the client's ETag is current) with its tag and media type."""

    content: bytes | None
    etag: str
    media_type: str


class LRUCache:
    """A small thread-safe least-recently-used cache of rendered pictures (entries and bytes)."""

    def __init__(self, size: int, max_bytes: int = CACHE_BYTES) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        """Return the cached bytes (marking them recently used) or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        """Store bytes, evicting the least recently used beyond `size` entries or `max_bytes`."""
        with self._lock:
            previous = self._items.pop(key, None)
            self._bytes -= len(previous) if previous is not None else 0
            self._items[key] = value
            self._bytes += len(value)
            while self._items and (len(self._items) > self.size or self._bytes > self.max_bytes):
                _, evicted = self._items.popitem(last=False)
                self._bytes -= len(evicted)


_cache: LRUCache | None = None


def cache() -> LRUCache:
    """Return the process-wide picture cache (sized from settings on first use)."""
    global _cache
    if _cache is None:
        _cache = LRUCache(get_settings().plot_cache_entries)
    return _cache


async def render(
    *, run_id: str, owner: str, name: str, options: PlotOptions, if_none_match: str | None = None
) -> Picture:
    """Return picture `name` of the run (422 if its kind never has it, 409 before its data)."""
    check_size(options)
    loader = _LOADERS.get(name)
    if loader is None:
        raise NotFound(f"no plot named {name!r}")
    # The run row alone is enough for a 304 or a cached picture; read on the render pool's
    # loader threads, so a burst of pictures never holds the threads other routes need.
    run = await render_pool.pool().load(
        partial(read, lambda s: get_run(session=s, run_id=run_id, owner=owner))
    )
    check_applies(run, name)
    # run.version moves on every stored epoch or status change: the picture's identity.
    key = repr((run.id, run.version, run.progress_epoch, name, astuple(options)))
    return await cached_picture(
        key=key,
        media_type="image/gif" if name == "boundary.gif" else "image/png",
        if_none_match=if_none_match,
        owner=owner,
        load=lambda session: loader(session, run, options),
    )


async def cached_picture(
    *, key: str, media_type: str, if_none_match: str | None, owner: str,
    load: Callable[[Session], Job],
) -> Picture:  # fmt: skip
    """Return the picture identified by `key`: no bytes on an ETag match, else cached or drawn.

    A miss takes one of the owner's render places (429 when all are taken), reads the data
    with `load` and draws it in the render pool (503 when that takes too long).
    """
    etag = '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'
    if etag_matches(etag, if_none_match):
        return Picture(None, etag, media_type)
    content = cache().get(key)
    if content is None:
        pool = render_pool.pool()
        with pool.reserve(owner):
            job = await pool.load(partial(read, load))
            content = await pool.draw(job)
        cache().put(key, content)
    return Picture(content, etag, media_type)


def read(fn: Callable[[Session], T]) -> T:
    """Call `fn` with a short session of its own (closed before any drawing starts)."""
    with session_factory() as session:
        return fn(session)


def etag_matches(etag: str, if_none_match: str | None) -> bool:
    """True when an If-None-Match header names `etag` (or is `*`)."""
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag in tags or "*" in tags


def check_size(options: PlotOptions) -> None:
    """Refuse pictures bigger than settings allow (422 naming the parameter), before any work."""
    settings = get_settings()
    for field in ("width", "height"):
        if getattr(options, field) > settings.max_image_px:
            raise InvalidInput.at(["query", field], f"at most {settings.max_image_px} pixels")
    # The canvas is exactly width x height pixels whatever the dpi (figure size = pixels / dpi).
    pixels = options.width * options.height * options.frames
    if pixels > settings.max_render_pixels:
        what, field = ("width × height × frames", "frames") if options.frames > 1 else (
            "width × height", "width")  # fmt: skip
        raise InvalidInput.at(
            ["query", field],
            f"{what} is {pixels:,} pixels; at most {settings.max_render_pixels:,} "
            "(max_render_pixels): ask for a smaller picture"
            + (" or fewer frames" if options.frames > 1 else ""),
        )


# Plots every run has are absent; the others say which runs have them.
ONE_FEATURE_REGRESSION = "one-feature linear_regression runs"
_APPLIES: dict[str, str] = {
    "fit": ONE_FEATURE_REGRESSION,
    "surface": ONE_FEATURE_REGRESSION,
    "contour": ONE_FEATURE_REGRESSION,
    "boundary": "two-feature mlp_classifier runs that record snapshots",
    "boundary.gif": "two-feature mlp_classifier runs that record snapshots",
}


def check_applies(run: Run, name: str) -> None:
    """Refuse a plot this kind or shape of run never has (422 naming the plot and who has it).

    Unlike 409 (not yet: retry later), no amount of waiting brings this picture.
    """
    if name not in _APPLIES:
        return
    n = len(run.features)
    shape = f"{run.kind}, {n} feature{'s' * (n != 1)}"
    if name in ("fit", "surface", "contour"):
        applies = run.kind == REGRESSION and n == 1
    else:
        # Before the worker's analysis an MLP's snapshot settings are unknown: a 409 then.
        recorded = run.analysis is None or "extent" in run.analysis
        applies = run.kind != REGRESSION and n == 2 and recorded
        if run.kind != REGRESSION and n == 2 and not recorded:
            shape += ", no snapshots recorded"
    if not applies:
        shown = name if name.endswith(".gif") else f"{name}.png"
        raise InvalidInput.at(
            ["path", "name"],
            f"{shown} exists for {_APPLIES[name]} only; this run: {shape} "
            "(loss.png and params.png exist for every run)",
        )


def _size(options: PlotOptions) -> dict[str, Any]:
    return {"width": options.width, "height": options.height, "dpi": options.dpi}


def _curve_rows(session: Session, run: Run) -> list[dict[str, Any]]:
    """Return a shape-keeping sample of the history (409 before epoch 0 is stored)."""
    rows = repo.downsample(session, run.id, CURVE_POINTS)
    if not rows:
        raise NotReady(f"run {run.id} has no epochs yet")
    return rows


def _column(rows: list[dict[str, Any]], field: str) -> np.ndarray:
    return np.array([np.nan if r[field] is None else r[field] for r in rows], dtype=np.float64)


def _loss(session: Session, run: Run, options: PlotOptions) -> Job:
    rows = _curve_rows(session, run)
    val = _column(rows, "val_loss")
    return Job.of(
        "loss_plot", [r["epoch"] for r in rows], _column(rows, "loss"),
        val if np.isfinite(val).any() else None,
        log=options.log, diverged=run.status == "diverged", **_size(options),
    )  # fmt: skip


def _params(session: Session, run: Run, options: PlotOptions) -> Job:
    rows = _curve_rows(session, run)
    epochs = [r["epoch"] for r in rows]
    if run.kind == REGRESSION:
        series = _series([_flat_params(r["params"]) for r in rows])
        return Job.of(
            "params_plot", epochs, series, log=bool(options.log), panels=True, **_size(options)
        )
    weights = _series([r["weight_norms"] for r in rows])
    grads = _series([r["grad_norms"] for r in rows])
    return Job.of(
        "params_plot", epochs, {f"|W| {k}": v for k, v in weights.items()},
        {f"|∇| {k}": v for k, v in grads.items()} or None,
        log=bool(options.log), title="Weight and gradient norms per epoch",
        y_label="weight norm", secondary_label="gradient norm", **_size(options),
    )  # fmt: skip


def _fit(session: Session, run: Run, options: PlotOptions) -> Job:
    params = history.latest_params(session, run)
    if params is None:
        raise NotReady(f"run {run.id} has no parameters yet")
    data = load_training_data(session=session, run=run)
    return Job.of(
        "fit_plot", data.X[:, 0], data.y, params, options.x,
        x_label=_label(run, run.features[0]), y_label=_label(run, run.target), **_size(options),
    )  # fmt: skip


def _path(session: Session, run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = repo.downsample(session, run.id, CURVE_POINTS)
    params = [r["params"] for r in rows if "a" in r["params"]]
    a = np.array([p["a"] if p["a"] is not None else np.nan for p in params], dtype=np.float64)
    b = np.array([p["b"] if p["b"] is not None else np.nan for p in params], dtype=np.float64)
    loss = _column([r for r in rows if "a" in r["params"]], "loss")
    return a, b, loss


def _surface(session: Session, run: Run, options: PlotOptions) -> Job:
    a, b, loss = _path(session, run)
    return Job.of(
        "surface_plot", history.surface_of(session, run), a, b, loss,
        log=bool(options.log), **_size(options),
    )  # fmt: skip


def _contour(session: Session, run: Run, options: PlotOptions) -> Job:
    a, b, _ = _path(session, run)
    label = f"lr = {run.hyperparameters.get('learning_rate'):g}"
    return Job.of(
        "contour_plot", history.surface_of(session, run), [(label, a, b)] if a.size else [],
        log=True if options.log is None else options.log, **_size(options),
    )  # fmt: skip


def _boundary(session: Session, run: Run, options: PlotOptions) -> Job:
    epochs = _snapshot_epochs(session, run)
    epoch = epochs[-1] if options.epoch is None else options.epoch
    grid = history.snapshot_grid(session, run, epoch)
    if grid is None:
        raise NotFound(f"run {run.id} has no snapshot at epoch {epoch}")
    data = load_training_data(session=session, run=run)
    analysis = run.analysis or {}
    return Job.of(
        "boundary_plot", grid, analysis["extent"], analysis["classes"], data.X, data.y, epoch,
        x_label=run.features[0], y_label=run.features[1], **_size(options),
    )  # fmt: skip


def _boundary_gif(session: Session, run: Run, options: PlotOptions) -> Job:
    epochs = _snapshot_epochs(session, run)
    count = min(len(epochs), options.frames)
    keep = np.unique(np.linspace(0, len(epochs) - 1, count).astype(int))
    chosen = [epochs[i] for i in keep]
    grids = [history.snapshot_grid(session, run, e) for e in chosen]
    data = load_training_data(session=session, run=run)
    analysis = run.analysis or {}
    return Job.of(
        "boundary_gif", grids, chosen, analysis["extent"], analysis["classes"], data.X, data.y,
        x_label=run.features[0], y_label=run.features[1], **_size(options),
    )  # fmt: skip


def _snapshot_epochs(session: Session, run: Run) -> list[int]:
    """Return the run's snapshot epochs (409 before the first; `check_applies` ran before)."""
    epochs = repo.snapshot_epochs(session, run.id) if run.analysis else []
    if not epochs:
        raise NotReady(f"run {run.id} has no snapshots yet")
    return epochs


def _label(run: Run, column: str) -> str:
    """Return a builtin dataset's axis label with units for `column`, else the column name."""
    from descent_server.ml.datasets import BUILTINS

    builtin = BUILTINS.get(run.dataset_id.removeprefix("builtin:"))
    if run.dataset_id.startswith("builtin:") and builtin is not None:
        return builtin.labels.get(column, column)
    return column


def _flat_params(params: dict[str, Any]) -> dict[str, Any]:
    """{"weights": [w0, w1], "bias": b} → {"w[0]": w0, "w[1]": w1, "bias": b}."""
    if "weights" not in params:
        return params
    flat = {f"w[{i}]": w for i, w in enumerate(params["weights"])}
    return {**flat, "bias": params.get("bias")}


def _series(dicts: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Turn per-epoch dicts into one array per key (missing values are NaN)."""
    keys = list(dict.fromkeys(k for d in dicts for k in d))
    return {
        k: np.array([np.nan if d.get(k) is None else d[k] for d in dicts], dtype=np.float64)
        for k in keys
        if all(isinstance(d.get(k), int | float | None) for d in dicts)
    }


_LOADERS: dict[str, Callable[[Session, Run, PlotOptions], Job]] = {
    "loss": _loss,
    "params": _params,
    "fit": _fit,
    "surface": _surface,
    "contour": _contour,
    "boundary": _boundary,
    "boundary.gif": _boundary_gif,
}
