"""The run row is the lease: claims, heartbeats and every worker write, fenced by attempt.

Each function is one conditional UPDATE (compare-and-set), so two workers or a worker and
lease recovery never both win, on SQLite and PostgreSQL alike. None of them commits: the caller
owns the transaction. `version` is bumped on every change a client can see (not on a bare
heartbeat, which no API field shows).

Every lease time (heartbeat, claim, release, enqueue stamp) is the database's clock, written
and compared inside the same statement: workers on machines whose clocks disagree cannot make
a live lease look stale, nor a dead one look fresh. No Python clock is read here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from descent_server.db.models import Run
from descent_server.domain import FINAL_STATUSES, Status
from descent_server.settings import get_settings

WORKER_LOST = {"code": "worker_lost", "message": "the worker running this run stopped"}


def fenced_update(session: Session, run_id: str, attempt: int, **values: Any) -> bool:
    """Update the run only while `attempt` holds its lease (running); True if it did."""
    stmt = (
        update(Run)
        .where(Run.id == run_id, Run.attempt == attempt, Run.status == Status.RUNNING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def db_now(session: Session, offset_s: float = 0.0) -> ColumnElement[Any]:
    """Return SQL for the database's current UTC time, shifted by `offset_s` seconds."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLAlchemy stores SQLite datetimes as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'; this is
        # the same text (%f is SS.mmm), so stored and computed times compare as strings.
        return func.strftime("%Y-%m-%d %H:%M:%f000", "now", f"{offset_s:+.6f} seconds")
    return func.now() + timedelta(seconds=offset_s)  # timestamptz, the server's clock


def duration_s(session: Session) -> ColumnElement[Any]:
    """Return SQL for the seconds from the run's started_at to now (null if it never started)."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday("now") - func.julianday(Run.started_at)) * 86400.0
    return func.extract("epoch", func.now() - Run.started_at)


def _stale(session: Session, timeout_s: float) -> ColumnElement[bool]:
    """True for a heartbeat older than `timeout_s` by the database's clock (or none at all)."""
    return or_(Run.heartbeat_at.is_(None), Run.heartbeat_at < db_now(session, -timeout_s))


def _claimable(session: Session, lease_timeout_s: float) -> Any:
    stale = _stale(session, lease_timeout_s)
    return or_(Run.status == Status.QUEUED, and_(Run.status == Status.RUNNING, stale))


def claim(
    session: Session,
    run_id: str,
    *,
    lease_timeout_s: float | None = None,
    max_attempts: int | None = None,
) -> int | None:
    """Take the lease of a queued (or abandoned running) run; return the new attempt or None.

    A run that has used `max_attempts` is failed with `worker_lost` instead, and one whose
    cancel was requested is cancelled; both return None, as does a run someone else holds.
    """
    settings = get_settings()
    lease_timeout_s = settings.lease_timeout_s if lease_timeout_s is None else lease_timeout_s
    max_attempts = settings.max_attempts if max_attempts is None else max_attempts
    now = db_now(session)
    claimable = and_(Run.id == run_id, _claimable(session, lease_timeout_s))
    attempt = session.execute(
        update(Run)
        .where(claimable, Run.attempt < max_attempts, Run.cancel_requested.is_(False))
        .values(
            attempt=Run.attempt + 1,
            status=Status.RUNNING,
            started_at=func.coalesce(Run.started_at, now),
            heartbeat_at=now,
            error=None,
            version=Run.version + 1,
        )
        .returning(Run.attempt)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if attempt is not None:
        return int(attempt)
    cancelled = and_(claimable, Run.cancel_requested.is_(True))
    _close(session, cancelled, now, status=Status.CANCELLED)
    _close(session, and_(claimable, Run.attempt >= max_attempts), now, error=WORKER_LOST)
    return None


def _close(
    session: Session, where: Any, now: Any, status: Status = Status.FAILED, error: Any = None
) -> list[str]:
    values: dict[str, Any] = {
        "status": status,
        "finished_at": now,
        "duration_s": duration_s(session),
        "version": Run.version + 1,
    }
    if error is not None:
        values["error"] = error
    rows = session.execute(
        update(Run)
        .where(where)
        .values(**values)
        .returning(Run.id)
        .execution_options(synchronize_session=False)
    )
    return [row[0] for row in rows]


def heartbeat(session: Session, run_id: str, attempt: int) -> bool | None:
    """Renew the lease; return the cancel flag, or None if this attempt lost the lease."""
    flag = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.attempt == attempt, Run.status == Status.RUNNING)
        .values(heartbeat_at=db_now(session))
        .returning(Run.cancel_requested)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    return None if flag is None else bool(flag)


def cancel_requested(session: Session, run_id: str, attempt: int) -> bool | None:
    """Read the cancel flag (a cheap read); None if this attempt no longer holds the run."""
    row = session.execute(
        select(Run.cancel_requested, Run.attempt, Run.status).where(Run.id == run_id)
    ).first()
    if row is None or row.attempt != attempt or row.status != Status.RUNNING:
        return None
    return bool(row.cancel_requested)


def finish(
    session: Session,
    run_id: str,
    attempt: int,
    status: str,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> bool:
    """Set the final status (and result or error) if `attempt` still holds the lease."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"not a final status: {status}")
    now = db_now(session)
    return fenced_update(
        session,
        run_id,
        attempt,
        status=status,
        result=result,
        error=error,
        finished_at=now,
        duration_s=duration_s(session),
        heartbeat_at=now,
        version=Run.version + 1,
    )


def fail_running(session: Session, run_id: str, error: dict[str, Any]) -> bool:
    """Fail a running run whatever its attempt (its worker is gone for good); True if it did."""
    running = and_(Run.id == run_id, Run.status == Status.RUNNING)
    return bool(_close(session, running, db_now(session), error=error))


def set_analysis(session: Session, run_id: str, attempt: int, analysis: dict[str, Any]) -> bool:
    """Store run.analysis (known before training), fenced."""
    return fenced_update(session, run_id, attempt, analysis=analysis, version=Run.version + 1)


def set_device(session: Session, run_id: str, attempt: int, device: str, backend: str) -> bool:
    """Record where the run trains ("cpu", "cuda:0 NVIDIA H200") and on what backend, fenced."""
    return fenced_update(
        session, run_id, attempt, device=device, backend=backend, version=Run.version + 1
    )


def find_unpicked_queued(
    session: Session, *, wait_s: float, limit: int = 500
) -> list[tuple[str, str]]:
    """Return (id, queue) of queued runs enqueued (or created) over `wait_s` seconds ago."""
    since = func.coalesce(Run.enqueued_at, Run.created_at)
    rows = session.execute(
        select(Run.id, Run.queue)
        .where(
            Run.status == Status.QUEUED,
            Run.cancel_requested.is_(False),
            since < db_now(session, -wait_s),
        )
        .order_by(since)
        .limit(limit)
    )
    return [(row.id, row.queue) for row in rows]


def mark_enqueued(session: Session, run_id: str, *, wait_s: float) -> bool:
    """Stamp enqueued_at on a queued run still unpicked after `wait_s`; False if it moved on."""
    since = func.coalesce(Run.enqueued_at, Run.created_at)
    stmt = (
        update(Run)
        .where(Run.id == run_id, Run.status == Status.QUEUED, since < db_now(session, -wait_s))
        .values(enqueued_at=db_now(session))
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def count_queued(session: Session) -> dict[str, int]:
    """Return the number of queued runs per queue name."""
    rows = session.execute(
        select(Run.queue, func.count()).where(Run.status == Status.QUEUED).group_by(Run.queue)
    )
    return {queue: int(n) for queue, n in rows}


def find_stale_running(
    session: Session, *, lease_timeout_s: float, limit: int = 500
) -> list[tuple[str, int, str]]:
    """Return (id, attempt, queue) of running runs not heartbeating for `lease_timeout_s`."""
    rows = session.execute(
        select(Run.id, Run.attempt, Run.queue)
        .where(Run.status == Status.RUNNING, _stale(session, lease_timeout_s))
        .limit(limit)
    )
    return [(row.id, row.attempt, row.queue) for row in rows]


def release_stale(
    session: Session,
    run_id: str,
    attempt: int,
    *,
    lease_timeout_s: float | None = None,
    max_attempts: int | None = None,
) -> Status | None:
    """Take a dead attempt's lease back: "queued" to run again, "failed" past max_attempts.

    Returns None when the attempt heartbeated or finished meanwhile (nothing to do).
    """
    settings = get_settings()
    max_attempts = settings.max_attempts if max_attempts is None else max_attempts
    lease_timeout_s = settings.lease_timeout_s if lease_timeout_s is None else lease_timeout_s
    now = db_now(session)
    stale = and_(
        Run.id == run_id,
        Run.attempt == attempt,
        Run.status == Status.RUNNING,
        _stale(session, lease_timeout_s),
    )
    if attempt >= max_attempts:
        return Status.FAILED if _close(session, stale, now, error=WORKER_LOST) else None
    stmt = (
        update(Run)
        .where(stale)
        .values(status=Status.QUEUED, enqueued_at=now, version=Run.version + 1)
        .execution_options(synchronize_session=False)
    )
    released = session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
    return Status.QUEUED if released else None
