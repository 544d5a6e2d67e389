"""Pictures render in worker processes of their own: bounded, killed on timeout, recycled.

A route loads the data (database reads stay in the API, on a few loader threads of this
pool, never the request threadpool) into a `Job`: the name of a pure function of
`descent_server.ml.plots` and plain arrays. One of `render_processes` children draws it
while the route awaits without holding a thread. A child still drawing after
`render_timeout_s` is killed (503); children are replaced after a number of jobs or a big
peak RSS, so the memory of a large picture goes back to the operating system.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any, Literal, TypeVar

from descent_server.services import render_child
from descent_server.services.errors import RateLimited, Unavailable
from descent_server.settings import get_settings

T = TypeVar("T")

PlotFunction = Literal[
    "loss_plot", "params_plot", "fit_plot", "surface_plot", "contour_plot",
    "boundary_plot", "boundary_gif", "sweep_loss_plot", "mlp_fit_plot", "mlp_fit_gif",
    "compare_loss_plot",
    "parallel_plot", "lr_range_plot",
]  # fmt: skip
JOBS_PER_CHILD = 50  # then a fresh process: whatever the allocator kept is returned
RECYCLE_PEAK_BYTES = 768 * 1024 * 1024  # a child that once grew this big is replaced at once
QUEUED_PER_PROCESS = 4  # jobs waiting for a process, beyond which renders get a 503
OWNER_RETRY_AFTER_S = 1
START_TIMEOUT_S = 60.0  # a fresh process imports matplotlib unless the fork server has it
# Imported once by the fork server; every render process is forked from it ready to draw.
# multiprocessing re-runs the parent's main script in each child: the `descent-server`
# script imports descent_server.cli, which is free in a child when the server has it.
PRELOAD = [
    "descent_server.services.render_child",
    "descent_server.ml.plots",
    "descent_server.ml.surface",
    "descent_server.cli",
]


@dataclass(frozen=True)
class Job:
    """A call `descent_server.ml.plots.<name>(*args, **kwargs)` returning image bytes."""

    name: PlotFunction
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, name: PlotFunction, *args: Any, **kwargs: Any) -> Job:
        """Build the job that calls plots function `name` with these arguments."""
        return cls(name, args, kwargs)


class RenderPool:
    """`processes` render processes fed from one bounded queue; a per-owner limit in front."""

    def __init__(self, *, processes: int, timeout_s: float, per_owner: int) -> None:
        self.timeout_s = timeout_s
        self.per_owner = per_owner
        self.max_queued = processes * QUEUED_PER_PROCESS
        self.retry_after = max(1, math.ceil(timeout_s))
        self._queue: queue.Queue[tuple[Job, Future[bytes], float] | None] = queue.Queue()
        self._owners: Counter[str] = Counter()
        self._lock = threading.Lock()
        context = _context()
        self._slots = [_Slot(context) for _ in range(processes)]
        self._feeders = [
            threading.Thread(target=self._feed, args=(slot,), name=f"render-{i}", daemon=True)
            for i, slot in enumerate(self._slots)
        ]
        for feeder in self._feeders:
            feeder.start()
        # Database reads for renders: few threads, so renders never crowd the request pool.
        self._loader = ThreadPoolExecutor(processes + 2, thread_name_prefix="render-load")

    @contextlib.contextmanager
    def reserve(self, owner: str) -> Iterator[None]:
        """Hold one of `owner`'s render places for the block (429 when all are taken)."""
        with self._lock:
            if self._owners[owner] >= self.per_owner:
                raise RateLimited(
                    f"{self.per_owner} of your pictures are already being drawn; "
                    "retry when one is done",
                    retry_after=OWNER_RETRY_AFTER_S,
                )
            self._owners[owner] += 1
        try:
            yield
        finally:
            with self._lock:
                self._owners[owner] -= 1
                if self._owners[owner] <= 0:
                    del self._owners[owner]

    async def load(self, fn: Callable[[], T]) -> T:
        """Run `fn` (database reads) on a loader thread of the pool and return its result."""
        return await asyncio.get_running_loop().run_in_executor(self._loader, fn)

    async def draw(self, job: Job) -> bytes:
        """Draw `job` in a render process; the caller awaits without holding a thread."""
        return await asyncio.wrap_future(self.submit(job))

    def submit(self, job: Job) -> Future[bytes]:
        """Queue `job` (503 when the queue is full); the future resolves to the image bytes."""
        if self._queue.qsize() >= self.max_queued:
            raise Unavailable("too many pictures are waiting to be drawn; retry shortly",
                              retry_after=self.retry_after)  # fmt: skip
        future: Future[bytes] = Future()
        self._queue.put((job, future, time.monotonic()))
        return future

    def pids(self) -> list[int]:
        """Return the ids of the render processes now running (for operators and tests)."""
        return [pid for slot in self._slots if (pid := slot.pid) is not None]

    def close(self) -> None:
        """Cancel the queued jobs, then stop the feeders and their processes."""
        with contextlib.suppress(queue.Empty):
            while True:
                if (item := self._queue.get_nowait()) is not None:
                    item[1].cancel()
        for _ in self._feeders:
            self._queue.put(None)
        for feeder in self._feeders:
            feeder.join(timeout=10)
        self._loader.shutdown(wait=False, cancel_futures=True)

    def _feed(self, slot: _Slot) -> None:
        while (item := self._queue.get()) is not None:
            job, future, queued_at = item
            if not future.set_running_or_notify_cancel():  # its client went away
                continue
            if time.monotonic() - queued_at > self.timeout_s:
                # Its client has waited a whole render's time already: answer now, not later.
                future.set_exception(Unavailable(
                    "the render queue is busy; retry shortly", retry_after=self.retry_after
                ))  # fmt: skip
                continue
            try:
                future.set_result(slot.draw(job, self.timeout_s))
            except BaseException as exc:
                future.set_exception(exc)
        slot.stop()


class _Slot:
    """One render process, started on demand and replaced when killed or recycled."""

    def __init__(self, context: BaseContext) -> None:
        self._context = context
        self._process: Any = None
        self._conn: Connection | None = None
        self._jobs = 0

    @property
    def pid(self) -> int | None:
        """Return the process id of this slot's render process, if one is running."""
        process = self._process
        return None if process is None else int(process.pid)

    def draw(self, job: Job, timeout_s: float) -> bytes:
        """Draw `job` in this slot's process; kill the process if it takes over `timeout_s`."""
        conn = self._conn or self._start()
        try:
            conn.send((job.name, job.args, dict(job.kwargs)))
            if not conn.poll(timeout_s):
                self.stop()
                raise Unavailable(
                    f"the picture took over {timeout_s:g} s to draw and was stopped; "
                    "ask for a smaller picture or fewer frames",
                    retry_after=max(1, math.ceil(timeout_s)),
                )
            ok, payload, peak = conn.recv()
        except (EOFError, OSError):  # the process died (e.g. killed for memory)
            self.stop()
            raise Unavailable("the render process stopped; retry shortly", retry_after=1) from None
        self._jobs += 1
        if self._jobs >= JOBS_PER_CHILD or peak > RECYCLE_PEAK_BYTES:
            self.stop()
        if not ok:
            raise payload
        assert isinstance(payload, bytes)
        return payload

    def stop(self) -> None:
        """Kill the process (idle or not) and forget it; the next job starts a fresh one."""
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=10)
        self._process, self._conn, self._jobs = None, None, 0

    def _start(self) -> Connection:
        parent, child = self._context.Pipe()
        process = self._context.Process(  # type: ignore[attr-defined]
            target=render_child.serve, args=(child,), name="descent-render", daemon=True
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        try:
            if parent.poll(START_TIMEOUT_S):
                parent.recv()
                return parent
        except (EOFError, OSError):
            pass
        self.stop()
        raise Unavailable("no render process could be started; retry shortly", retry_after=5)


def _context() -> BaseContext:
    """Return a fork server context (spawn where there is none): never fork a threaded API."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


_pool: RenderPool | None = None
_pool_lock = threading.Lock()


def pool() -> RenderPool:
    """Return the process-wide render pool (sized from settings on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            settings = get_settings()
            _pool = RenderPool(
                processes=settings.render_processes,
                timeout_s=settings.render_timeout_s,
                per_owner=settings.render_per_owner,
            )
        return _pool
