"""Queries on sweeps (always scoped to their owner)."""

from __future__ import annotations

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from descent_server.db.models import Sweep


def get(session: Session, *, sweep_id: str, owner: str) -> Sweep | None:
    """Return the owner's sweep, or None."""
    query = select(Sweep).where(Sweep.id == sweep_id, Sweep.owner == owner)
    return session.scalars(query).first()


def add(session: Session, sweep: Sweep) -> None:
    """Stage a new sweep (the service commits)."""
    session.add(sweep)


def delete(session: Session, *, sweep_id: str) -> None:
    """Delete the sweep row (its runs are deleted first by the service)."""
    session.execute(sql_delete(Sweep).where(Sweep.id == sweep_id))
