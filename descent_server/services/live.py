"""Live progress reads: how far watched runs have got, and a run with its newest epochs.

The live hub (api/live.py) calls these from its threadpool; each opens one short session on
the engine it is given and closes it before returning, so an idle stream holds no connection.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.repository import history as history_repo
from descent_server.repository import progress as progress_repo
from descent_server.repository import runs as runs_repo

PAGE_ROWS = 1000  # epochs read per short database call


@dataclass
class Snapshot:
    """What one short read found: the run (detached, loaded) and its next epochs."""

    run: Run
    version: tuple[int, int]  # what the hub compares: (version, progress_epoch)
    rows: list[dict[str, Any]]  # history rows, in epoch order
    more: bool  # a full page: read again before waiting


def run_versions(engine: Engine, run_ids: Collection[str]) -> dict[str, tuple[int, int]]:
    """Return {run_id: (version, progress_epoch)} of the runs that exist, in one short session."""
    with Session(engine) as session:
        return progress_repo.run_versions(session, run_ids)


def read(
    engine: Engine, run_id: str, owner: str, after: int, *, epochs: bool, limit: int = PAGE_ROWS
) -> Snapshot | None:
    """Read the owner's run, then up to `limit` epochs after `after` (None if the run is gone)."""
    with Session(engine) as session:
        # The run first: when it is final, every epoch it counts is already committed.
        run = runs_repo.get(session, run_id=run_id, owner=owner)
        if run is None:
            return None
        version = (run.version, run.progress_epoch)
        if not epochs or run.progress_epoch <= after:
            return Snapshot(run, version, [], more=False)
        page = history_repo.read_history(session, run_id, since_epoch=after, limit=limit)
        return Snapshot(run, version, page.rows, more=page.next_since_epoch is not None)
