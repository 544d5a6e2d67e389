"""Live progress: one hub per event loop polls the database, event streams wait on it.

An idle listener holds no database connection and no thread: it awaits an asyncio.Event.
The hub runs one small query every POLL_INTERVAL_S for the (version, progress_epoch) of
the runs that have listeners and wakes those whose run changed; a woken listener reads its
new rows in one short threadpool call and gives the connection back. Listeners of one run
woken at the same epoch share that read, so a crowd costs one query per change, not one each.
The reads themselves are services/live.py's; this module waits, shares and frames them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from descent_server.api.schemas.runs import RunRead
from descent_server.domain import FINAL_STATUSES
from descent_server.services import live as service

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.1  # one query per process per interval, however many listeners
STATUS_INTERVAL_S = 0.5  # progress-only status events at most this often

Poll = Callable[[Engine, list[str]], dict[str, Any]]
Key = tuple[Engine, str]


@dataclass(eq=False)
class Listener:
    """One stream's wait: `wake` is set when the run's version differs from `seen`."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    seen: Any = None  # the (version, progress_epoch) of the listener's last read


@dataclass
class Hub:
    """Wake the listeners of runs whose row changed; one polling task while anyone listens."""

    interval: float = POLL_INTERVAL_S
    poll: Poll = service.run_versions
    _listeners: dict[Key, set[Listener]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _reads: dict[tuple[Any, ...], asyncio.Task[Batch | None]] = field(default_factory=dict)

    @contextlib.contextmanager
    def subscribe(self, engine: Engine, run_id: str) -> Iterator[Listener]:
        """Yield a Listener woken whenever the run's row is not what it last saw."""
        key = (engine, run_id)
        listener = Listener()
        self._listeners.setdefault(key, set()).add(listener)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-hub")
        try:
            yield listener
        finally:
            waiting = self._listeners.get(key, set())
            waiting.discard(listener)
            if not waiting:
                self._listeners.pop(key, None)

    async def read(
        self, engine: Engine, run_id: str, owner: str, after: int, epochs: bool
    ) -> Batch | None:
        """Fetch in the threadpool; listeners woken together at the same place share one read.

        Sharing is safe: a listener records the version its batch saw, so a change the shared
        read missed still differs from `seen` and wakes it again.
        """
        key = (engine, run_id, owner, after, epochs)
        task = self._reads.get(key)
        if task is None:
            task = asyncio.ensure_future(run_in_threadpool(fetch, *key))
            self._reads[key] = task
            task.add_done_callback(lambda _: self._reads.pop(key, None))
        # shield: one listener leaving must not cancel the read the others wait for.
        return await asyncio.shield(task)

    @property
    def listeners(self) -> int:
        """Return how many streams are listening."""
        return sum(len(v) for v in self._listeners.values())

    async def _run(self) -> None:
        while self._listeners:
            await asyncio.sleep(self.interval)
            by_engine: dict[Engine, list[str]] = {}
            for engine, run_id in list(self._listeners):
                by_engine.setdefault(engine, []).append(run_id)
            for engine, run_ids in by_engine.items():
                try:
                    versions = await run_in_threadpool(self.poll, engine, run_ids)
                except Exception:  # noqa: BLE001 - a database blip must not kill the hub
                    log.warning("live hub poll failed; retrying", exc_info=True)
                    continue
                for run_id in run_ids:
                    version = versions.get(run_id, "gone")
                    for listener in self._listeners.get((engine, run_id), ()):
                        if listener.seen != version:
                            listener.wake.set()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """Return the hub of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub


@dataclass
class Batch:
    """What one short database call found: the run and its next epochs."""

    run: dict[str, Any]
    version: tuple[int, int]  # what the hub compares: (version, progress_epoch)
    rows: list[tuple[int, str]]  # (epoch, JSON of its history row), serialized once
    more: bool  # a full page: read again before waiting

    @property
    def final(self) -> bool:
        """True when the run will not change any more."""
        return self.run["status"] in FINAL_STATUSES


def fetch(engine: Engine, run_id: str, owner: str, after: int, epochs: bool) -> Batch | None:
    """Read the run and its epochs after `after`, serialized (None if the run is gone)."""
    found = service.read(engine, run_id, owner, after, epochs=epochs)
    if found is None:
        return None
    data = RunRead.of(found.run).model_dump(mode="json")
    rows = [(row["epoch"], _dumps(row)) for row in found.rows]
    return Batch(data, found.version, rows, more=found.more)


def _material(run: dict[str, Any]) -> tuple[Any, ...]:
    """The parts of a run whose change deserves a status event at once."""
    return (
        run["status"], run["attempt"], run["cancel_requested"], run["device"],
        run["error"] is None, run["result"] is None, run["analysis"] is None,
        len(run["diagnostics"]),
    )  # fmt: skip


@dataclass
class Diagnoses:
    """Which of a run's diagnoses a stream has sent: each once, none before its epoch's row.

    A stream resumed after epoch N (Last-Event-ID or since_epoch) skips those found at or
    before N: they went out with their epochs on the earlier connection.
    """

    after: int  # where the stream (re)started
    sent: set[tuple[str, str]] | None = None  # (code, severity): a run stores each once

    def due(self, run: dict[str, Any], upto: int | None) -> list[dict[str, Any]]:
        """Return the diagnoses not sent yet, found at or before `upto` (None: all), in epoch
        order, and count them as sent."""
        found = run["diagnostics"]
        if self.sent is None:
            self.sent = {(d["code"], d["severity"]) for d in found if d["epoch"] <= self.after}
        new = [
            d for d in found
            if (d["code"], d["severity"]) not in self.sent and (upto is None or d["epoch"] <= upto)
        ]  # fmt: skip
        new.sort(key=lambda d: d["epoch"])
        self.sent.update((d["code"], d["severity"]) for d in new)
        return new


async def stream_run(
    engine: Engine, run_id: str, owner: str, after: int, *, epochs: bool = True
) -> AsyncIterator[dict[str, Any]]:
    """Yield SSE messages: every epoch after `after`, each diagnosis after its epoch, status
    changes; end after final."""
    hub = get_hub()
    diagnoses = Diagnoses(after)
    with hub.subscribe(engine, run_id) as listener:
        sent: tuple[Any, ...] | None = None
        sent_progress: Any = None
        sent_at = 0.0
        while True:
            listener.wake.clear()
            batch = await hub.read(engine, run_id, owner, after, epochs)
            if batch is None:  # deleted while we watched
                return
            listener.seen = batch.version
            for after, row in batch.rows:
                yield {"event": "epoch", "id": str(after), "data": row}
            # No id: a reconnecting client's Last-Event-ID stays the last epoch it got.
            for found in diagnoses.due(batch.run, after if batch.more else None):
                yield {"event": "diagnosis", "data": _dumps(found)}
            # A final status waits until every epoch before it went out.
            done = batch.final and not batch.more
            material, progress = _material(batch.run), batch.run["progress"]
            due = progress != sent_progress and time.monotonic() - sent_at >= STATUS_INTERVAL_S
            if (material != sent or due) and (done or not batch.final):
                sent, sent_progress, sent_at = material, progress, time.monotonic()
                yield {"event": "status", "data": _dumps(batch.run), "retry": 1000}
            if done:
                return
            if not batch.more:
                await listener.wake.wait()


def _dumps(value: Any) -> str:
    # orjson writes NaN and Infinity as null, as docs/api.md says.
    return orjson.dumps(value).decode()
