"""Queries on runs (always scoped to their owner); status changes bump `version`."""

from __future__ import annotations

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from descent_server.db.models import Artifact, Epoch, Run, Snapshot, utcnow
from descent_server.domain import FINAL_STATUSES, LIVE_STATUSES, Status
from descent_server.repository.pages import keyset, page


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
    status: str | None = None,
    kind: str | None = None,
) -> tuple[list[Run], str | None]:
    """Return one page of the owner's runs, newest first, filtered, and the next cursor."""
    query = select(Run).where(Run.owner == owner)
    if status:
        query = query.where(Run.status == status)
    if kind:
        query = query.where(Run.kind == kind)
    return page(list(session.scalars(keyset(query, Run, cursor, limit))), limit)


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
