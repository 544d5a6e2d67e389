"""Queries on runs (always scoped to their owner); status changes bump `version`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, cast, exists, func, literal_column, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from descent_server.db.models import Artifact, Epoch, Run, Snapshot, utcnow
from descent_server.domain import FINAL_STATUSES, LIVE_STATUSES, Status
from descent_server.repository import run_order
from descent_server.repository.pages import page
from descent_server.repository.run_order import RunOrder


@dataclass(frozen=True)
class RunFilter:
    """What the run list keeps: every given condition must hold (tags: all of them)."""

    status: str | None = None
    kind: str | None = None
    dataset_id: str | None = None
    sweep_id: str | None = None
    tags: Sequence[str] = ()
    q: str | None = None  # a case-insensitive substring of the name
    created_after: datetime | None = None
    created_before: datetime | None = None


def get(session: Session, *, run_id: str, owner: str) -> Run | None:
    """Return the owner's run, or None."""
    return session.scalars(select(Run).where(Run.id == run_id, Run.owner == owner)).first()


def by_idempotency_key(session: Session, *, owner: str, key: str) -> Run | None:
    """Return the owner's run submitted with this Idempotency-Key, or None."""
    query = select(Run).where(Run.owner == owner, Run.idempotency_key == key)
    return session.scalars(query).first()


def list_page(
    session: Session,
    *,
    owner: str,
    limit: int,
    cursor: str | None,
    where: RunFilter | None = None,
    order: RunOrder | None = None,
) -> tuple[list[Run], str | None]:
    """Return one page of the owner's runs, filtered and sorted, and the next cursor.

    Newest first by default; raises BadCursor for a cursor made for another sort.
    """
    order = order or RunOrder.parse(run_order.DEFAULT_SORT)
    query = select(Run).where(Run.owner == owner, *_conditions(session, where or RunFilter()))
    rows, more = page(list(session.scalars(run_order.ordered(query, order, cursor, limit))), limit)
    return rows, (run_order.encode(order, rows[-1]) if more else None)


def _conditions(session: Session, where: RunFilter) -> list[ColumnElement[bool]]:
    """Return the SQL conditions of a filter."""
    found: list[ColumnElement[bool]] = []
    for column, value in (
        (Run.status, where.status), (Run.kind, where.kind),
        (Run.dataset_id, where.dataset_id), (Run.sweep_id, where.sweep_id),
    ):  # fmt: skip
        if value is not None:
            found.append(column == value)
    found.extend(_has_tag(session, tag) for tag in dict.fromkeys(where.tags))
    if where.q:
        found.append(Run.name.icontains(where.q, autoescape=True))
    if where.created_after is not None:
        found.append(Run.created_at > _utc(where.created_after))
    if where.created_before is not None:
        found.append(Run.created_at < _utc(where.created_before))
    return found


def _has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    """True for runs whose tags include `tag` (JSON containment on either backend)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(Run.tags, JSONB).contains([tag])
    values = func.json_each(Run.tags).table_valued("value")
    return exists(select(literal_column("1")).select_from(values).where(values.c.value == tag))


def _utc(moment: datetime) -> datetime:
    """A moment as UTC (a time without a zone is taken as UTC), as created_at is stored."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def of_owner(session: Session, *, owner: str, run_ids: Sequence[str]) -> list[Run]:
    """Return the owner's runs among `run_ids`, in any order (others' and missing: left out)."""
    return list(session.scalars(select(Run).where(Run.owner == owner, Run.id.in_(run_ids))))


def update_metadata(session: Session, *, run_id: str, values: dict[str, Any]) -> None:
    """Set name, tags or notes of a run and bump its version (the service commits)."""
    session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(**values, version=Run.version + 1)
        .execution_options(synchronize_session=False)
    )


def in_sweep(session: Session, *, sweep_id: str) -> list[Run]:
    """Return the runs of a sweep in submission order."""
    query = select(Run).where(Run.sweep_id == sweep_id).order_by(Run.created_at, Run.id)
    return list(session.scalars(query))


def count_active(session: Session, *, owner: str) -> int:
    """Count the owner's queued and running runs."""
    query = select(func.count()).where(Run.owner == owner, Run.status.in_(LIVE_STATUSES))
    return int(session.scalar(query) or 0)


def add(session: Session, run: Run) -> None:
    """Stage a new run (the service commits)."""
    session.add(run)


def cancel_if_queued(session: Session, *, run_id: str) -> bool:
    """Cancel a run that no worker holds yet, atomically; True if it was still queued."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == Status.QUEUED)
        .values(
            status=Status.CANCELLED,
            cancel_requested=True,
            finished_at=utcnow(),
            version=Run.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def request_cancel(session: Session, *, run_id: str) -> bool:
    """Flag a running run for cancellation (the worker stops between epochs)."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.not_in(FINAL_STATUSES), Run.cancel_requested.is_(False))
        .values(cancel_requested=True, version=Run.version + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def delete(session: Session, *, run_id: str) -> None:
    """Delete a run with its history, snapshots and artifacts (no reliance on FK cascades)."""
    for model in (Epoch, Snapshot, Artifact):
        session.execute(sql_delete(model).where(model.run_id == run_id))
    session.execute(sql_delete(Run).where(Run.id == run_id))
