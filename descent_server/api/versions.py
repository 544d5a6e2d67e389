"""What this API process knows of recently polled runs: their version, owner and JSON.

`GET /v1/runs/{id}` with If-None-Match is answered from here when the run's version was
confirmed by a database read or by the live hub's poll (api/live.py) that began at most
FRESH_S ago: a 304, or the JSON of the last read when that is the current version. Writes
through this process drop the run's entry at once (`forget`); a failed hub poll drops every
entry of that database (`Versions.lost`), so polls fall through to the database and its 503.
Only runs that exist and were read go in, at most MAX_KNOWN, the least recently polled first
out; entries nobody polled for KEEP_S leave.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Engine

POLL_INTERVAL_S = 0.1  # the live hub's: one query per process per interval
FRESH_S = 2 * POLL_INTERVAL_S  # a version confirmed this recently answers polls from memory
KEEP_S = 5.0  # a run nobody polled for this long leaves the map and the hub's query
# Runs remembered per process, the least recently polled evicted first: bounds the memory
# (with MAX_BODY_BYTES: 32 MiB at worst) and the hub's query, whatever clients poll.
MAX_KNOWN = 2048
MAX_BODY_BYTES = 16 * 1024  # a larger Run's JSON is not kept: its 200s read the database

Key = tuple[Engine, str]


class Stamp(NamedTuple):
    """When an observation began, and how many entries had been dropped by then."""

    at: float
    drops: int


@dataclass
class Known:
    """What this process knows of one polled run."""

    owner: str
    version: int  # run.version: the ETag
    confirmed: float  # monotonic start of the newest read or hub poll that saw it
    asked: float  # monotonic time of the last GET
    body: bytes | None = None  # the Run's JSON at `body_version`
    body_version: int = -1


class Versions:
    """The versions of recently polled runs; written from threadpool routes, hence the lock.

    An observation (a read, a hub poll) counts only when no entry was dropped since it began:
    a read that started before a PATCH committed must not bring back the version before it.
    """

    def __init__(self, fresh_s: float = FRESH_S, keep_s: float = KEEP_S,
                 size: int = MAX_KNOWN) -> None:  # fmt: skip
        self.fresh_s, self.keep_s, self.size = fresh_s, keep_s, size
        self._lock = threading.Lock()
        self._known: OrderedDict[Key, Known] = OrderedDict()  # least recently asked first
        self._drops = 0

    def __len__(self) -> int:
        return len(self._known)

    @property
    def drops(self) -> int:
        """How many times entries were dropped by writes: a read begun before may be stale."""
        return self._drops

    def stamp(self) -> Stamp:
        """Return the stamp of an observation beginning now."""
        with self._lock:
            return Stamp(time.monotonic(), self._drops)

    def watched(self) -> list[Key]:
        """Return the (engine, run id) of every entry."""
        with self._lock:
            return list(self._known)

    def fresh(self, key: Key, owner: str) -> tuple[int, bytes | None] | None:
        """Return the run's (version, JSON or None) if fresh and `owner`'s; count the ask."""
        now = time.monotonic()
        with self._lock:
            known = self._known.get(key)
            if known is None or known.owner != owner:
                return None
            known.asked = now
            self._known.move_to_end(key)
            if now - known.confirmed > self.fresh_s:
                return None
            body = known.body if known.body_version == known.version else None
            return known.version, body

    def remember(self, key: Key, owner: str, version: int, body: bytes, stamp: Stamp) -> None:
        """Record what the owner's read, begun at `stamp`, found."""
        with self._lock:
            if stamp.drops != self._drops:
                return
            known = self._known.get(key)
            if known is None:
                while len(self._known) >= self.size:
                    self._known.popitem(last=False)
                known = self._known[key] = Known(owner, version, stamp.at, 0.0)
            known.asked = time.monotonic()
            self._known.move_to_end(key)
            # Versions only grow: the highest seen by any observation is the newest.
            known.version = max(known.version, version)
            known.confirmed = max(known.confirmed, stamp.at)
            if len(body) <= MAX_BODY_BYTES and version >= known.body_version:
                known.body, known.body_version = body, version

    def refresh(
        self, engine: Engine, polled: list[str], found: dict[str, Any], stamp: Stamp
    ) -> None:
        """Record a hub poll begun at `stamp`: versions of the runs found, the others gone."""
        with self._lock:
            if stamp.drops != self._drops:
                return
            for run_id in polled:
                known = self._known.get((engine, run_id))
                if known is None:
                    continue
                if run_id not in found:
                    del self._known[(engine, run_id)]  # deleted
                    continue
                known.version = max(known.version, found[run_id][0])
                known.confirmed = max(known.confirmed, stamp.at)

    def lost(self, engine: Engine) -> None:
        """Drop every entry of `engine`: its database did not answer, so nothing is fresh."""
        with self._lock:
            for key in [k for k in self._known if k[0] is engine]:
                del self._known[key]

    def forget(self, run_ids: Iterable[str] | None = None) -> None:
        """Drop these runs' entries (None: every entry): they changed in this process."""
        ids = None if run_ids is None else set(run_ids)
        with self._lock:
            self._drops += 1
            for key in [k for k in self._known if ids is None or k[1] in ids]:
                del self._known[key]

    def gone(self, key: Key, owner: str) -> None:
        """The owner's read found no such run: drop its entry."""
        with self._lock:
            known = self._known.get(key)
            if known is not None and known.owner == owner:
                del self._known[key]

    def expire(self) -> None:
        """Drop the entries nobody asked for in the last keep_s."""
        oldest = time.monotonic() - self.keep_s
        with self._lock:
            while self._known:
                key, known = next(iter(self._known.items()))
                if known.asked >= oldest:
                    return
                del self._known[key]


KNOWN = Versions()  # this process's: every hub feeds it, every write route drops from it


def forget(*run_ids: str) -> None:
    """Drop these runs from this process's memory (none given: every run); call after a write."""
    KNOWN.forget(run_ids or None)
