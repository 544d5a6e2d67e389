"""Queries on learning-rate range tests (owner-scoped reads; the worker's fenced writes).

The row is the lease, as a run's is: `claim` moves a queued test to running and bumps its
attempt, `finish` writes only while that attempt holds it. `expire` fails the tests a lost
worker left behind (see services/lr_range_tests.py), judged by the database's clock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from descent_server.db.models import LrRangeTest
from descent_server.domain import LIVE_STATUSES, Status
from descent_server.repository.leases import db_now
from descent_server.repository.pages import keyset, page


def add(session: Session, test: LrRangeTest) -> None:
    """Stage a new range test (the service commits)."""
    session.add(test)


def get(session: Session, *, test_id: str, owner: str) -> LrRangeTest | None:
    """Return the owner's range test, or None."""
    query = select(LrRangeTest).where(LrRangeTest.id == test_id, LrRangeTest.owner == owner)
    return session.scalars(query).first()


def by_id(session: Session, test_id: str) -> LrRangeTest | None:
    """Return a range test whoever owns it (for the worker)."""
    return session.get(LrRangeTest, test_id)


def list_page(
    session: Session, *, owner: str, limit: int, cursor: str | None
) -> tuple[list[LrRangeTest], str | None]:
    """Return one page of the owner's range tests, newest first, and the next cursor."""
    query = select(LrRangeTest).where(LrRangeTest.owner == owner)
    return page(list(session.scalars(keyset(query, LrRangeTest, cursor, limit))), limit)


def count_live(session: Session, *, owner: str) -> int:
    """Return how many of the owner's range tests are queued or running."""
    query = select(func.count()).where(
        LrRangeTest.owner == owner, LrRangeTest.status.in_(LIVE_STATUSES)
    )
    return int(session.scalar(query) or 0)


def claim(session: Session, test_id: str) -> int | None:
    """Move a queued test to running; return the new attempt, None if it is not queued."""
    attempt = session.execute(
        update(LrRangeTest)
        .where(LrRangeTest.id == test_id, LrRangeTest.status == Status.QUEUED)
        .values(
            attempt=LrRangeTest.attempt + 1,
            status=Status.RUNNING,
            started_at=db_now(session),
        )
        .returning(LrRangeTest.attempt)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    return None if attempt is None else int(attempt)


def finish(
    session: Session,
    test_id: str,
    attempt: int,
    *,
    status: Status,
    result: dict[str, Any] | None,
    error: dict[str, Any] | None,
) -> bool:
    """Store the outcome while `attempt` still holds the test; True if it did."""
    stmt = (
        update(LrRangeTest)
        .where(
            LrRangeTest.id == test_id,
            LrRangeTest.attempt == attempt,
            LrRangeTest.status == Status.RUNNING,
        )
        .values(status=status, result=result, error=error, finished_at=db_now(session))
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def expire(
    session: Session, *, owner: str, queued_s: float, running_s: float, error: dict[str, Any]
) -> int:
    """Fail the owner's tests queued longer than queued_s or running longer than running_s."""
    stuck = or_(
        and_(
            LrRangeTest.status == Status.QUEUED,
            LrRangeTest.created_at < db_now(session, -queued_s),
        ),
        and_(
            LrRangeTest.status == Status.RUNNING,
            LrRangeTest.started_at < db_now(session, -running_s),
        ),
    )
    stmt = (
        update(LrRangeTest)
        .where(LrRangeTest.owner == owner, stuck)
        .values(status=Status.FAILED, error=error, finished_at=db_now(session))
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
