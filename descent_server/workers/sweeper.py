"""The sweeper: re-enqueue runs nobody picked up, take back runs whose worker died.

Every worker runs it in a thread of its main process (started on `worker_ready`); several
sweepers at once are safe because each change is a compare-and-set on the run row.
`sweep_stale` in tasks.py runs one pass for a beat schedule, if one is wanted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from descent_server.db.session import make_engine, session_scope
from descent_server.repository import leases
from descent_server.settings import Settings, get_settings

PROCESSED_MESSAGE_TTL_S = 3600.0
log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    """What one pass did."""

    requeued: list[str] = field(default_factory=list)  # queued, never picked up
    restarted: list[str] = field(default_factory=list)  # heartbeat stopped, queued again
    failed: list[str] = field(default_factory=list)  # heartbeat stopped, out of attempts


def sweep_once(
    *,
    session_factory: Callable[[], Any] | None = None,
    settings: Settings | None = None,
    enqueue: Callable[[str, str], None] | None = None,
    queue_depth: Callable[[str], int | None] | None = None,
) -> SweepReport:
    """Run one sweep: release dead leases, then re-enqueue queued runs whose message is lost."""
    # Every "how old is it" is decided by the database's clock inside the query (leases.py):
    # this machine's clock may disagree with the workers' that wrote the heartbeats.
    from descent_server.workers import queue as broker

    settings = settings or get_settings()
    enqueue = enqueue or broker.enqueue_run
    queue_depth = queue_depth or broker.queue_depth
    report = SweepReport()

    timeout_s = settings.lease_timeout_s
    with session_scope(session_factory) as session:
        stale = leases.find_stale_running(session, lease_timeout_s=timeout_s)
    for run_id, attempt, queue in stale:
        with session_scope(session_factory) as session:
            outcome = leases.release_stale(session, run_id, attempt, lease_timeout_s=timeout_s)
        if outcome == "queued":
            enqueue(run_id, queue)
            report.restarted.append(run_id)
        elif outcome == "failed":
            report.failed.append(run_id)

    wait_s = settings.requeue_after_s
    with session_scope(session_factory) as session:
        waiting = leases.find_unpicked_queued(session, wait_s=wait_s)
        queued = leases.count_queued(session)
    for queue in {q for _, q in waiting}:
        depth = queue_depth(queue)
        # As many messages as queued runs: every run still has its message (a long queue,
        # not a lost one), and re-sending would only pile up duplicates.
        if depth is not None and depth >= queued.get(queue, 0):
            continue
        for run_id, _ in (w for w in waiting if w[1] == queue):
            with session_scope(session_factory) as session:
                # Stamped with the database's time of the send itself: a pass slowed by a
                # broker outage must not make its own sends look overdue to the next pass.
                marked = leases.mark_enqueued(session, run_id, wait_s=wait_s)
            if marked:
                enqueue(run_id, queue)
                report.requeued.append(run_id)
    _prune_processed(settings)
    if report.requeued or report.restarted or report.failed:
        log.info("sweep: %s", report)
    return report


def _prune_processed(settings: Settings) -> None:
    """Delete the file broker's old processed messages (they are kept only to move atomically)."""
    if not settings.resolved_broker_url().startswith("filesystem"):
        return
    folder = (settings.data_dir / "broker" / "processed").resolve()
    cutoff = time.time() - PROCESSED_MESSAGE_TTL_S
    for path in folder.glob("*.msg") if folder.is_dir() else ():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass  # another worker pruned it first


class _Loop:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        from sqlalchemy.orm import sessionmaker
        from sqlalchemy.pool import NullPool

        settings = get_settings()
        # Its own engine, and no pooled connection kept open between passes: pool children
        # are forked from this process, and must not inherit a live connection of ours.
        engine = make_engine(settings.resolved_database_url(), poolclass=NullPool)
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        try:
            while not self.stop.wait(settings.sweeper_interval_s):
                try:
                    sweep_once(session_factory=factory, settings=settings)
                except Exception:  # noqa: BLE001 - database or broker down: try next round
                    log.warning("sweep failed", exc_info=True)
        finally:
            engine.dispose()


_loop = _Loop()


def start_background() -> None:
    """Start the sweeper thread of this process (idempotent)."""
    if _loop.thread is not None and _loop.thread.is_alive():
        return
    _loop.stop.clear()
    _loop.thread = threading.Thread(target=_loop.run, name="descent-sweeper", daemon=True)
    _loop.thread.start()


def stop_background(timeout_s: float = 5.0) -> None:
    """Stop the sweeper thread and wait for it briefly."""
    _loop.stop.set()
    if _loop.thread is not None:
        _loop.thread.join(timeout_s)
        _loop.thread = None
