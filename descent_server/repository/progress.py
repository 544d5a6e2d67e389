"""The live-progress hub's one query: how far each watched run has got."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from descent_server.db.models import Run


def run_versions(session: Session, run_ids: Collection[str]) -> dict[str, tuple[int, int]]:
    """Return {run_id: (version, progress_epoch)} for the runs that exist."""
    if not run_ids:
        return {}
    query = select(Run.id, Run.version, Run.progress_epoch).where(Run.id.in_(list(run_ids)))
    return {row.id: (row.version, row.progress_epoch) for row in session.execute(query)}
