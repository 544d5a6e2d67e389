"""Lease recovery: re-enqueue queued runs nobody picked up, take back runs whose worker died.

One pass is `recover_once`. Several passes at once (every worker runs one) are safe because
each change is a compare-and-set on the run row (repository/leases.py). The broker is reached
only through the `enqueue` and `queue_depth` functions the caller passes in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from descent_server.db.session import session_scope
from descent_server.domain import Status
from descent_server.repository import leases
from descent_server.settings import Settings, get_settings

log = logging.getLogger(__name__)

Enqueue = Callable[[str, str], None]  # (run_id, queue)
QueueDepth = Callable[[str], int | None]  # messages waiting on a queue; None: unknown


@dataclass
class RecoveryReport:
    """What one pass did."""

    requeued: list[str] = field(default_factory=list)  # queued, never picked up
    restarted: list[str] = field(default_factory=list)  # heartbeat stopped, queued again
    failed: list[str] = field(default_factory=list)  # heartbeat stopped, out of attempts


def recover_once(
    *,
    enqueue: Enqueue,
    queue_depth: QueueDepth,
    session_factory: Callable[[], Any] | None = None,
    settings: Settings | None = None,
) -> RecoveryReport:
    """Run one pass: release dead leases, then re-enqueue queued runs whose message is lost."""
    # Every "how old is it" is decided by the database's clock inside the query (leases.py):
    # this machine's clock may disagree with the workers' that wrote the heartbeats.
    settings = settings or get_settings()
    report = RecoveryReport()

    timeout_s = settings.lease_timeout_s
    with session_scope(session_factory) as session:
        stale = leases.find_stale_running(session, lease_timeout_s=timeout_s)
    for run_id, attempt, queue in stale:
        with session_scope(session_factory) as session:
            outcome = leases.release_stale(session, run_id, attempt, lease_timeout_s=timeout_s)
        if outcome == Status.QUEUED:
            enqueue(run_id, queue)
            report.restarted.append(run_id)
        elif outcome == Status.FAILED:
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
    if report.requeued or report.restarted or report.failed:
        log.info("lease recovery: %s", report)
    return report
