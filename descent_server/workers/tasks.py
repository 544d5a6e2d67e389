"""Celery tasks: arguments are ids only; each loads what it needs and calls a service."""

from __future__ import annotations

import logging

from descent_server.workers.celery_app import app

log = logging.getLogger(__name__)


@app.task(name="descent_server.workers.tasks.train_run")
def train_run(run_id: str) -> str | None:
    """Train run `run_id` if its lease can be taken; return its final status (None: skipped)."""
    from descent_server.db.session import session_factory
    from descent_server.services.training import run_training

    return run_training(session_factory=session_factory, run_id=run_id)


@app.task(name="descent_server.workers.tasks.sweep_stale")
def sweep_stale() -> dict[str, list[str]]:
    """Run one sweeper pass (for a beat schedule; workers also sweep on their own)."""
    from descent_server.workers.sweeper import sweep_once

    report = sweep_once()
    return {"requeued": report.requeued, "restarted": report.restarted, "failed": report.failed}
