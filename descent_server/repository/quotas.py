"""Shared counters and quota queries: rate-limit windows, per-owner locks, stored bytes."""

from __future__ import annotations

from sqlalchemy import delete, false, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from descent_server.db.models import Dataset, RateLimit, Run

# The first key of the two-key advisory lock form, so that owner locks never collide with
# another use of advisory locks (the second key is hashtext(owner)).
OWNER_LOCK_SPACE = 0x0DE5
# Slack for float rounding: `limit` requests of 60/limit seconds each must fit in 60 s.
EPSILON_S = 1e-6


def take(session: Session, *, key: str, now: float, cost: float, period: float) -> bool:
    """Spend `cost` seconds of the key's bucket (`period` seconds deep) if it has them."""
    # The generic cell rate algorithm: the bucket is a moment, `full_at`; a request moves it
    # `cost` later (from now if it was already full) unless that passes now + period.
    table = RateLimit.__table__
    postgres = _dialect(session) == "postgresql"
    insert = (postgresql if postgres else sqlite).insert(table)
    insert = insert.values(key=key, full_at=now + cost)
    later = func.greatest if postgres else func.max  # SQLite's two-argument max is scalar
    full_at = later(table.c.full_at, now) + cost
    # One statement, atomic on both backends: concurrent requests of a key serialise on its
    # row, and a refused one (the WHERE fails, no row comes back) spends nothing.
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"full_at": full_at},
        where=full_at <= now + period + EPSILON_S,
    ).returning(table.c.full_at)
    return session.execute(statement).first() is not None


def full_at(session: Session, *, key: str) -> float | None:
    """Return the moment the key's bucket is full again (None if it has no row)."""
    return session.scalar(select(RateLimit.full_at).where(RateLimit.key == key))


def prune(session: Session, *, now: float) -> int:
    """Delete the buckets that are full again by `now` (a missing row is a full bucket)."""
    result = session.execute(delete(RateLimit).where(RateLimit.full_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]


def lock_owner(session: Session, *, owner: str) -> None:
    """Serialise the owner's check-then-insert sections until this transaction ends."""
    if _dialect(session) == "postgresql":
        lock = func.pg_advisory_xact_lock(OWNER_LOCK_SPACE, func.hashtext(owner))
        session.execute(select(lock))
        return
    # SQLite has one writer at a time: a write that changes nothing still takes the database
    # write lock, and holds it (and every other writer out) until commit or rollback.
    session.execute(
        update(RateLimit).where(false()).values(full_at=RateLimit.full_at),
        execution_options={"synchronize_session": False},
    )


def dataset_bytes(session: Session, *, owner: str) -> int:
    """Return the bytes of every dataset the owner stored."""
    query = select(func.coalesce(func.sum(Dataset.size_bytes), 0)).where(Dataset.owner == owner)
    return int(session.scalar(query) or 0)


def run_stored_bytes(session: Session, *, owner: str) -> int:
    """Return the estimated stored bytes of every run the owner has (any status)."""
    query = select(func.coalesce(func.sum(Run.stored_bytes), 0)).where(Run.owner == owner)
    return int(session.scalar(query) or 0)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name
