"""The run row as a lease: claims, heartbeats, fencing, attempts, and the sweeper's pass."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from descent_server.db.models import Run, utcnow
from descent_server.repository import leases
from descent_server.settings import Settings
from descent_server.workers.sweeper import sweep_once
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


def test_sweep_restarts_dead_runs_and_requeues_lost_messages(
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

    report = sweep_once(
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
    again = sweep_once(
        session_factory=session_factory,
        enqueue=lambda run_id, queue: sent.append((run_id, queue)),
        queue_depth=lambda queue: 0,
    )
    assert (again.requeued, again.restarted, again.failed) == ([], [], [])


def test_sweep_leaves_queues_whose_messages_are_all_there(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        insert_run(session, created_at=utcnow() - timedelta(minutes=5))
        session.commit()
    report = sweep_once(
        session_factory=session_factory,
        enqueue=lambda run_id, queue: None,
        queue_depth=lambda queue: 1,  # one queued run, one message: a long queue, not a loss
    )
    assert report.requeued == []
