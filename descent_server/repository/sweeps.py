"""Queries on sweeps (always scoped to their owner)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, not_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from descent_server.db.models import Run, Sweep
from descent_server.domain import LIVE_STATUSES, Status
from descent_server.repository.pages import keyset, page


def get(session: Session, *, sweep_id: str, owner: str) -> Sweep | None:
    """Return the owner's sweep, or None."""
    query = select(Sweep).where(Sweep.id == sweep_id, Sweep.owner == owner)
    return session.scalars(query).first()


def list_page(
    session: Session, *, owner: str, limit: int, cursor: str | None, status: Status | None = None
) -> tuple[list[Sweep], str | None]:
    """Return one page of the owner's sweeps, newest first, by status, and the next cursor."""
    query = select(Sweep).where(Sweep.owner == owner)
    if status is not None:
        query = query.where(_status_is(status))
    return page(list(session.scalars(keyset(query, Sweep, cursor, limit))), limit)


def _status_is(status: Status) -> Any:
    """SQL for a sweep's status, the rule of services.sweeps.status."""
    live = exists().where(Run.sweep_id == Sweep.id, Run.status.in_(LIVE_STATUSES))
    succeeded = exists().where(Run.sweep_id == Sweep.id, Run.status == Status.SUCCEEDED)
    cancelled = Sweep.cancel_requested.is_(True)
    if status == Status.RUNNING:
        return live
    if status == Status.CANCELLED:
        return and_(not_(live), cancelled)
    if status == Status.SUCCEEDED:
        return and_(not_(live), not_(cancelled), succeeded)
    return and_(not_(live), not_(cancelled), not_(succeeded))


def runs_of(session: Session, *, sweep_ids: list[str]) -> dict[str, list[Run]]:
    """Return the runs of each sweep, in submission order."""
    found: dict[str, list[Run]] = {sweep_id: [] for sweep_id in sweep_ids}
    if not sweep_ids:
        return found
    query = select(Run).where(Run.sweep_id.in_(sweep_ids)).order_by(Run.created_at, Run.id)
    for run in session.scalars(query):
        found[run.sweep_id or ""].append(run)
    return found


def add(session: Session, sweep: Sweep) -> None:
    """Stage a new sweep (the service commits)."""
    session.add(sweep)


def delete(session: Session, *, sweep_id: str) -> None:
    """Delete the sweep row (its runs are deleted first by the service)."""
    session.execute(sql_delete(Sweep).where(Sweep.id == sweep_id))
