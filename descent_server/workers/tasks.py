"""Celery tasks: arguments are ids only; each loads what it needs and calls a service."""

from __future__ import annotations

import logging
from typing import Any

from billiard.einfo import ExceptionInfo
from celery import Task
from celery.exceptions import TimeLimitExceeded

from descent_server.workers.celery_app import app
from descent_server.workers.config import LR_RANGE_TASK, RECOVER_TASK, TRAIN_TASK

log = logging.getLogger(__name__)


class TrainTask(Task):  # type: ignore[misc]
    """The training task; a child killed at the hard time limit fails its run."""

    def on_failure(
        self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: ExceptionInfo
    ) -> None:
        """Fail the run as "time_limit" when the pool killed its child (runs in the parent)."""
        if not isinstance(exc, TimeLimitExceeded) or not args:
            return
        from descent_server.db.session import session_factory
        from descent_server.services.training import fail_after_time_limit
        from descent_server.settings import get_settings

        limit_s = get_settings().task_time_limit_s
        # Not retried: the same run would hit the same limit again.
        if fail_after_time_limit(session_factory=session_factory, run_id=args[0], limit_s=limit_s):
            log.warning("run %s killed at the hard time limit (%s s)", args[0], limit_s)


@app.task(name=TRAIN_TASK, base=TrainTask)
def train_run(run_id: str) -> str | None:
    """Train run `run_id` if its lease can be taken; return its final status (None: skipped)."""
    from descent_server.db.session import session_factory
    from descent_server.services.training import run_training

    return run_training(session_factory=session_factory, run_id=run_id)


@app.task(name=LR_RANGE_TASK)
def run_lr_range_test(test_id: str) -> str | None:
    """Run learning-rate range test `test_id` if it is still queued; return its final status."""
    from descent_server.db.session import session_factory
    from descent_server.services.lr_range_tests import run_test

    return run_test(session_factory=session_factory, test_id=test_id)


@app.task(name=RECOVER_TASK)
def recover_leases() -> dict[str, list[str]]:
    """Run one lease recovery pass (for a beat schedule; workers also run it on their own)."""
    from descent_server.workers.recovery import recover_once

    report = recover_once()
    return {"requeued": report.requeued, "restarted": report.restarted, "failed": report.failed}
