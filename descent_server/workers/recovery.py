"""Lease recovery in every worker: a thread of its main process runs a pass every few seconds.

The pass itself is services/recovery.py; this module binds it to the broker (enqueue, queue
depth), runs it in a thread started on `worker_ready` (celery_app.py) and prunes the file
broker's processed messages. `recover_leases` in tasks.py runs one pass for a beat schedule.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from descent_server.db.session import make_engine
from descent_server.services.recovery import RecoveryReport
from descent_server.services.recovery import recover_once as recover
from descent_server.settings import Settings, get_settings
from descent_server.workers import queue as broker

PROCESSED_MESSAGE_TTL_S = 3600.0
log = logging.getLogger(__name__)


def recover_once(
    *, session_factory: Callable[[], Any] | None = None, settings: Settings | None = None
) -> RecoveryReport:
    """Run one recovery pass against the current broker, then prune its old messages."""
    settings = settings or get_settings()
    report = recover(
        enqueue=broker.enqueue_run,
        queue_depth=broker.queue_depth,
        session_factory=session_factory,
        settings=settings,
    )
    _prune_processed(settings)
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
            while not self.stop.wait(settings.recovery_interval_s):
                try:
                    recover_once(session_factory=factory, settings=settings)
                except Exception:  # noqa: BLE001 - database or broker down: try next round
                    log.warning("lease recovery pass failed", exc_info=True)
        finally:
            engine.dispose()


_loop = _Loop()


def start_background() -> None:
    """Start this process's lease recovery thread (idempotent)."""
    if _loop.thread is not None and _loop.thread.is_alive():
        return
    _loop.stop.clear()
    _loop.thread = threading.Thread(target=_loop.run, name="descent-recovery", daemon=True)
    _loop.thread.start()


def stop_background(timeout_s: float = 5.0) -> None:
    """Stop the lease recovery thread and wait for it briefly."""
    _loop.stop.set()
    if _loop.thread is not None:
        _loop.thread.join(timeout_s)
        _loop.thread = None
