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
from typing import TypeVar

import numpy as np
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.db.session import session_factory
from descent_server.domain import Status
from descent_server.services import kinds, render_pool
from descent_server.services.errors import InvalidInput
from descent_server.services.plot_data import (
    PlotOptions,
    column,
    curve_rows,
    series,
    size,
)
from descent_server.services.render_pool import Job
from descent_server.services.runs import get as get_run
from descent_server.settings import get_settings

T = TypeVar("T")

CACHE_BYTES = 128 * 1024 * 1024  # big GIFs must not pin the process's memory


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
        media_type="image/gif" if name.endswith(".gif") else "image/png",
        if_none_match=if_none_match,
        owner=owner,
        load=lambda session: _job(session, run, name, options),
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


def check_applies(run: Run, name: str) -> None:
    """Refuse a plot this kind or shape of run never has (422 naming the plot and who has it).

    Unlike 409 (not yet: retry later), no amount of waiting brings this picture.
    """
    if name in COMMON or kinds.get(run.kind).plot_applies(run, name):
        return
    shown = name if name.endswith(".gif") else f"{name}.png"
    who = [a.plots[name] for a in kinds.adapters() if name in a.plots]
    if not who:
        raise InvalidInput.at(["path", "name"], f"no plot named {shown}")
    n = len(run.features)
    shape = f"{run.kind}, {n} feature{'s' * (n != 1)}"
    if (
        run.analysis is not None
        and "extent" not in run.analysis
        and name in (kinds.get(run.kind).plots)
    ):
        shape += ", no snapshots recorded"
    raise InvalidInput.at(
        ["path", "name"],
        f"{shown} exists for {' and '.join(who)} only; this run: {shape} "
        "(loss.png and params.png exist for every run)",
    )


def _job(session: Session, run: Run, name: str, options: PlotOptions) -> Job:
    """Return the render job of picture `name`: loss and norms here, the rest by the kind."""
    adapter = kinds.get(run.kind)
    if name == "loss":
        rows = curve_rows(session, run)
        val = column(rows, "val_loss")
        return Job.of(
            "loss_plot", [r["epoch"] for r in rows], column(rows, "loss"),
            val if np.isfinite(val).any() else None,
            log=options.log, diverged=run.status == Status.DIVERGED, **size(options),
        )  # fmt: skip
    if name == "params" and not adapter.draws_params:
        rows = curve_rows(session, run)
        weights = series([r["weight_norms"] for r in rows])
        grads = series([r["grad_norms"] for r in rows])
        return Job.of(
            "params_plot", [r["epoch"] for r in rows], {f"|W| {k}": v for k, v in weights.items()},
            {f"|∇| {k}": v for k, v in grads.items()} or None,
            log=bool(options.log), title="Weight and gradient norms per epoch",
            y_label="weight norm", secondary_label="gradient norm", **size(options),
        )  # fmt: skip
    return adapter.plot_job(name, session, run, options)


COMMON = ("loss", "params")  # every run has these
