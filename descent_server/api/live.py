"""Live progress: one hub per event loop polls the database, event streams wait on it.

An idle listener holds no database connection and no thread: it awaits an asyncio.Event.
The hub runs one small query every POLL_INTERVAL_S for the (version, progress_epoch) of
the runs that have listeners and wakes those whose run changed; a woken listener reads its
new rows in one short threadpool call and gives the connection back. Listeners of one run
woken at the same epoch share that read, so a crowd costs one query per change, not one each.
The reads themselves are services/live.py's; this module waits, shares and frames them.

The same hub query keeps the versions of recently polled runs current (api/versions.py), so
that `GET /v1/runs/{id}` with If-None-Match is answered from memory while they are fresh;
a GET without If-None-Match always reads the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from descent_server.api.responses import JSONResponse
from descent_server.api.schemas.runs import RunRead
from descent_server.api.versions import (
    KNOWN,
    POLL_INTERVAL_S,
    Key,
    Stamp,
    Versions,
)
from descent_server.domain import FINAL_STATUSES
from descent_server.services import live as service

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 0.5  # progress-only status events at most this often

Poll = Callable[[Engine, list[str]], dict[str, Any]]
Shared = tuple[Stamp, "asyncio.Task[Batch | None]"]  # a read in flight, and when it began


@dataclass(eq=False)
class Listener:
    """One stream's wait: `wake` is set when the run's version differs from `seen`."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    seen: Any = None  # the (version, progress_epoch) of the listener's last read


@dataclass
class Hub:
    """Wake the listeners of runs whose row changed, and keep the polled runs' versions
    current; one polling task while anyone listens or polls."""

    interval: float = POLL_INTERVAL_S
    poll: Poll = service.run_versions
    known: Versions = field(default_factory=Versions)
    _listeners: dict[Key, set[Listener]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _reads: dict[tuple[Any, ...], Shared] = field(default_factory=dict)

    @contextlib.contextmanager
    def subscribe(self, engine: Engine, run_id: str) -> Iterator[Listener]:
        """Yield a Listener woken whenever the run's row is not what it last saw."""
        key = (engine, run_id)
        listener = Listener()
        self._listeners.setdefault(key, set()).add(listener)
        self._start()
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
        return (await self._shared(engine, run_id, owner, after, epochs))[1]

    async def read_run(self, engine: Engine, run_id: str, owner: str) -> Batch | None:
        """Read the run as `read` does (shared), and remember it for the polls that follow."""
        stamp, batch = await self._shared(engine, run_id, owner, 0, False)
        if batch is None:
            self.known.gone((engine, run_id), owner)
        else:
            self.known.remember((engine, run_id), owner, batch.version[0], batch.body, stamp)
            self._start()
        return batch

    async def _shared(
        self, engine: Engine, run_id: str, owner: str, after: int, epochs: bool
    ) -> tuple[Stamp, Batch | None]:
        key = (engine, run_id, owner, after, epochs)
        shared = self._reads.get(key)
        # A read begun before a write through this process may have missed it: a request
        # that arrives after the write starts its own.
        if shared is None or shared[0].drops != self.known.drops:
            task = asyncio.ensure_future(run_in_threadpool(fetch, *key))
            shared = self._reads[key] = (self.known.stamp(), task)
            task.add_done_callback(functools.partial(self._done, key, shared))
        # shield: one listener leaving must not cancel the read the others wait for.
        return shared[0], await asyncio.shield(shared[1])

    def _done(self, key: tuple[Any, ...], shared: Shared, _: object) -> None:
        if self._reads.get(key) is shared:
            del self._reads[key]

    @property
    def listeners(self) -> int:
        """Return how many streams are listening."""
        return sum(len(v) for v in self._listeners.values())

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-hub")

    async def _run(self) -> None:
        while self._listeners or len(self.known):
            await asyncio.sleep(self.interval)
            self.known.expire()
            by_engine: dict[Engine, list[str]] = {}
            for engine, run_id in {*self._listeners, *self.known.watched()}:
                by_engine.setdefault(engine, []).append(run_id)
            for engine, run_ids in by_engine.items():
                stamp = self.known.stamp()
                try:
                    versions = await run_in_threadpool(self.poll, engine, run_ids)
                except Exception:  # noqa: BLE001 - a database blip must not kill the hub
                    self.known.lost(engine)  # polls read the database (and get its 503)
                    log.warning("live hub poll failed; retrying", exc_info=True)
                    continue
                self.known.refresh(engine, run_ids, versions, stamp)
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
        hub = _hubs[loop] = Hub(known=KNOWN)
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

    @functools.cached_property
    def body(self) -> bytes:
        """The run as a response body, serialized once for every poll that shares it."""
        return bytes(JSONResponse(self.run).body)


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
