"""Queries of early stopping: a run's rule, its peers' stored values, the decisions made once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from descent_server.db.models import Epoch, PruneDecision, Run, Sweep, utcnow

METRICS = {"loss": Epoch.loss, "val_loss": Epoch.val_loss}


def rule_of(session: Session, run_id: str) -> tuple[str | None, dict[str, Any] | None, int]:
    """Return (sweep id, the sweep's early_stop or None, run.epochs) of a run."""
    row = session.execute(
        select(Run.sweep_id, Sweep.early_stop, Run.epochs)
        .outerjoin(Sweep, Sweep.id == Run.sweep_id)
        .where(Run.id == run_id)
    ).first()
    if row is None:
        return None, None, 0
    return row.sweep_id, row.early_stop, int(row.epochs)


def values_at(session: Session, *, sweep_id: str, epoch: int, metric: str) -> dict[str, Any]:
    """Return {run id: stored metric at `epoch`} of every run of the sweep that stored it."""
    column = METRICS[metric]
    rows = session.execute(
        select(Epoch.run_id, column)
        .join(Run, Run.id == Epoch.run_id)
        .where(Run.sweep_id == sweep_id, Epoch.epoch == epoch)
    )
    return {row[0]: row[1] for row in rows}


def decision(session: Session, *, run_id: str, rung: int) -> bool | None:
    """Return the stored decision (True: stop) of a run at a rung, or None if not made yet."""
    stop = session.scalar(
        select(PruneDecision.stop).where(PruneDecision.run_id == run_id, PruneDecision.rung == rung)
    )
    return None if stop is None else bool(stop)


def stopped(session: Session, *, run_id: str) -> bool:
    """Return True if a stored decision already stopped the run at some rung."""
    query = select(func.count()).where(PruneDecision.run_id == run_id, PruneDecision.stop)
    return bool(session.scalar(query))


def add_decision(
    session: Session, *, run_id: str, rung: int, value: float | None, stop: bool, peers: int
) -> None:
    """Store a decision unless one is stored for (run, rung) already (that one stands)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    values = {"run_id": run_id, "rung": rung, "value": value, "stop": stop, "peers": peers}
    stmt = insert(PruneDecision).values(**values, decided_at=utcnow())
    session.execute(stmt.on_conflict_do_nothing(index_elements=["run_id", "rung"]))
