"""How every Celery app of descent is built: broker from settings, queues, task names.

Late acks, prefetch 1, queues cpu and gpu, time limits. The worker's app (celery_app.py) and
the producers that enqueue runs (queue.py) are both built here, so both sides agree on the
broker and its options. Importing this module starts nothing and imports no Keras.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from descent_server.settings import Settings, get_settings
from descent_server.workers import file_broker

QUEUES = ("cpu", "gpu")
TRAIN_TASK = "descent_server.workers.tasks.train_run"
RECOVER_TASK = "descent_server.workers.tasks.recover_leases"
LR_RANGE_TASK = "descent_server.workers.tasks.run_lr_range_test"
# Longer than the longest allowed run: an unacked message is redelivered only after this.
# A redelivery is harmless anyway: claiming a run someone holds is a no-op.
VISIBILITY_TIMEOUT_S = 7 * 24 * 3600
FILE_BROKER_POLL_S = 0.05  # the file broker polls its folder; Redis pushes


def broker_options(settings: Settings) -> tuple[str, str | None, dict[str, Any]]:
    """Return the broker URL, transport class and options (both sides must use the same)."""
    url = settings.resolved_broker_url()
    if not url.startswith("filesystem"):
        return url, None, {"visibility_timeout": VISIBILITY_TIMEOUT_S}
    root = (settings.data_dir / "broker").resolve()
    folders = {name: root / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    # kombu's own file transport, but a message appears in the folder only when complete.
    return (
        url,
        file_broker.TRANSPORT,
        {
            # Producers write where consumers read: one folder for both directions.
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            # Processed messages are moved (an atomic rename on one file system, so two
            # consumers never get the same message); lease recovery prunes this folder.
            "store_processed": True,
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
            "polling_interval": FILE_BROKER_POLL_S,
        },
    )


def make_app(settings: Settings | None = None) -> Celery:
    """Build a Celery app for `settings` (default: the process settings)."""
    settings = settings or get_settings()
    url, transport, options = broker_options(settings)
    app = Celery("descent", broker=url, include=["descent_server.workers.tasks"])
    app.conf.update(
        broker_transport=transport,
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="cpu",
        task_acks_late=True,  # a message is acknowledged after the run, not before
        task_reject_on_worker_lost=True,  # a killed child puts its message back
        worker_prefetch_multiplier=1,  # a busy process holds no second run hostage
        worker_max_tasks_per_child=settings.worker_max_tasks_per_child,
        task_ignore_result=True,  # results live in the run row
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        # Training's time limits: past the soft one the run fails as "time_limit" (history
        # kept); past the hard one the pool child is killed and tasks.TrainTask fails the run.
        task_annotations={
            TRAIN_TASK: {
                "soft_time_limit": settings.task_soft_time_limit_s,
                "time_limit": settings.task_time_limit_s,
            },
            LR_RANGE_TASK: {
                "soft_time_limit": settings.lr_range_soft_time_limit_s,
                "time_limit": settings.lr_range_soft_time_limit_s + 60,
            },
        },
    )
    return app
