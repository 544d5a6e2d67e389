"""The run row as a lease: claims, heartbeats, fencing, attempts, and a lease recovery pass.

Every lease time is the database's clock: a test skews the server code's Python clock.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from descent_server.db.models import Run, utcnow
from descent_server.db.models import utcnow as real_utcnow
from descent_server.repository import leases
from descent_server.services.recovery import recover_once
from descent_server.settings import Settings
from tests.helpers.runs import insert_run


def _get(session: Session, run_id: str) -> Run:
    session.expire_all()
    run = session.get(Run, run_id)
    assert run is not None
    return run


def test_claim_takes_a_queued_run_once(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        run_id = insert_run(session)
        session.commit()
        version = _get(session, run_id).version
        assert leases.claim(session, run_id) == 1
        session.commit()
        assert leases.claim(session, run_id) is None  # held, heartbeat fresh
        run = _get(session, run_id)
        assert (run.status, run.attempt, run.version) == ("running", 1, version + 1)
        assert run.started_at is not None and run.heartbeat_at is not None


def test_a_stale_lease_is_taken_over_and_the_zombie_is_fenced(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        run_id = insert_run(session)
        assert leases.claim(session, run_id) == 1
        session.commit()
        assert leases.claim(session, run_id, lease_timeout_s=-1) == 2
        session.commit()
        assert leases.heartbeat(session, run_id, 1) is None  # attempt 1 lost its lease
        assert not leases.set_device(session, run_id, 1, "cpu", "numpy")
        assert not leases.finish(session, run_id, 1, "succeeded", {"x": 1})
        assert leases.heartbeat(session, run_id, 2) is False
        assert leases.finish(session, run_id, 2, "succeeded", {"x": 2})
        session.commit()
        run = _get(session, run_id)
        assert (run.status, run.result) == ("succeeded", {"x": 2})
        assert leases.claim(session, run_id, lease_timeout_s=-1) is None  # final


def test_max_attempts_fails_the_run_as_worker_lost(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        run_id = insert_run(session)
        for attempt in (1, 2):
            assert leases.claim(session, run_id, lease_timeout_s=-1, max_attempts=2) == attempt
        assert leases.claim(session, run_id, lease_timeout_s=-1, max_attempts=2) is None
        session.commit()
        run = _get(session, run_id)
        assert run.status == "failed"
        assert run.error is not None and run.error["code"] == "worker_lost"


def test_heartbeat_reports_the_cancel_flag(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        run_id = insert_run(session)
        attempt = leases.claim(session, run_id)
        assert attempt == 1
        assert leases.cancel_requested(session, run_id, attempt) is False
        session.commit()
        _get(session, run_id).cancel_requested = True
        session.commit()
        assert leases.heartbeat(session, run_id, attempt) is True
        assert leases.cancel_requested(session, run_id, attempt) is True


def test_recovery_restarts_dead_runs_and_requeues_lost_messages(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    sent: list[tuple[str, str]] = []
    with session_factory() as session:
        lost_message = insert_run(session, created_at=utcnow() - timedelta(minutes=5))
        waiting = insert_run(session)  # just committed: its message is surely on its way
        dead = insert_run(session, queue="gpu")
        spent = insert_run(session)
        assert leases.claim(session, dead) == 1
        for _ in range(3):
            leases.claim(session, spent, lease_timeout_s=-1)
        old = utcnow() - timedelta(minutes=5)
        session.commit()
        for run_id in (dead, spent):
            _get(session, run_id).heartbeat_at = old
            session.commit()

    report = recover_once(
        session_factory=session_factory,
        enqueue=lambda run_id, queue: sent.append((run_id, queue)),
        queue_depth=lambda queue: 0,
    )
    assert report.requeued == [lost_message]
    assert report.restarted == [dead]
    assert report.failed == [spent]
    assert sorted(sent) == sorted([(lost_message, "cpu"), (dead, "gpu")])
    with session_factory() as session:
        assert _get(session, dead).status == "queued"
        assert _get(session, spent).error["code"] == "worker_lost"  # type: ignore[index]
        assert _get(session, waiting).enqueued_at is None
    # A second pass right away finds nothing to do.
    again = recover_once(
        session_factory=session_factory,
        enqueue=lambda run_id, queue: sent.append((run_id, queue)),
        queue_depth=lambda queue: 0,
    )
    assert (again.requeued, again.restarted, again.failed) == ([], [], [])


def test_recovery_leaves_queues_whose_messages_are_all_there(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        insert_run(session, created_at=utcnow() - timedelta(minutes=5))
        session.commit()
    report = recover_once(
        session_factory=session_factory,
        enqueue=lambda run_id, queue: None,
        queue_depth=lambda queue: 1,  # one queued run, one message: a long queue, not a loss
    )
    assert report.requeued == []


def _skew_python_clock(monkeypatch: pytest.MonkeyPatch, offset: timedelta) -> None:
    """Make every `utcnow` of the server code (its only clock) read `offset` off."""
    skewed = lambda: real_utcnow() + offset  # noqa: E731
    for name, module in list(sys.modules.items()):
        if name.startswith("descent_server") and getattr(module, "utcnow", None) is real_utcnow:
            monkeypatch.setattr(module, "utcnow", skewed)


def _as_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite hands back its text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _database_now(session: Session) -> datetime:
    return _as_utc(session.execute(select(leases.db_now(session))).scalar_one())


@pytest.mark.parametrize("skew", [timedelta(hours=1), -timedelta(hours=1)])
def test_a_skewed_clock_cannot_make_a_live_lease_look_stale(
    settings: Settings,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    skew: timedelta,
) -> None:
    with session_factory() as session:
        live, dead = insert_run(session), insert_run(session)
        assert leases.claim(session, live) == 1 and leases.claim(session, dead) == 1
        session.commit()
        # A worker on a machine whose clock is an hour off renews its lease ...
        _skew_python_clock(monkeypatch, skew)
        assert leases.heartbeat(session, live, 1) is False
        # ... and the other's worker died 5 minutes ago, by the database's clock.
        session.execute(
            update(Run).where(Run.id == dead).values(heartbeat_at=leases.db_now(session, -300))
        )
        session.commit()
        beat = _as_utc(_get(session, live).heartbeat_at)  # type: ignore[arg-type]
        assert abs(beat - _database_now(session)) < timedelta(seconds=30)  # not an hour off
        # Lease recovery and a worker with skewed clocks see the live lease live, the dead one dead.
        assert leases.claim(session, live) is None
        assert [row[0] for row in leases.find_stale_running(session, lease_timeout_s=30)] == [dead]
        session.rollback()
    report = recover_once(
        session_factory=session_factory, enqueue=lambda run_id, queue: None,
        queue_depth=lambda queue: 0,
    )  # fmt: skip
    assert (report.restarted, report.failed) == ([dead], [])
    with session_factory() as session:
        assert _get(session, live).status == "running"
        assert _get(session, dead).status == "queued"
