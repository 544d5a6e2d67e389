"""The Celery app: broker from settings, late acks, prefetch 1, queues cpu and gpu.

`celery -A descent_server.workers.celery_app worker -Q cpu` runs a worker. Importing this
module never imports Keras or TensorFlow: the pool children are forked first, and each child
sets itself up in `worker_process_init` (fresh database engine, Keras warmed up off the main
thread). KERAS_BACKEND is exported from settings in the worker only (`worker_init`, before the
fork), never in an API process that merely imports this module to enqueue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import (
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)
from kombu import Queue

from descent_server.settings import Settings, get_settings
from descent_server.workers import file_broker

QUEUES = ("cpu", "gpu")
TRAIN_TASK = "descent_server.workers.tasks.train_run"
SWEEP_TASK = "descent_server.workers.tasks.sweep_stale"
# Longer than the longest allowed run: an unacked message is redelivered only after this.
# A redelivery is harmless anyway: claiming a run someone holds is a no-op.
VISIBILITY_TIMEOUT_S = 7 * 24 * 3600
FILE_BROKER_POLL_S = 0.05  # the file broker polls its folder; Redis pushes

log = logging.getLogger(__name__)


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
            # consumers never get the same message); the sweeper prunes this folder.
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
            }
        },
    )
    return app


def use_keras_backend() -> None:
    """Export KERAS_BACKEND, the worker's GPUs and GPU memory manners from settings."""
    settings = get_settings()
    os.environ["KERAS_BACKEND"] = settings.keras_backend
    # Before any CUDA initialisation (here: before keras is imported), or it has no effect.
    if settings.gpu_visible_devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = settings.gpu_visible_devices
    # A GPU worker must not grab all GPU memory up front (TensorFlow and JAX both default to it).
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


app = make_app()


WARM_AFTER_IDLE_S = 1.0
_busy_since: list[float | None] = [None]  # this child: when its current task began
_idle_since = [time.monotonic()]


@worker_init.connect
def _worker_init(**_: Any) -> None:
    """In the worker's main process, before the pool forks: children inherit the backend."""
    use_keras_backend()


@worker_process_init.connect
def _child_init(**_: Any) -> None:
    """Start a pool child clean: no database connection inherited from the parent."""
    from descent_server.db.session import reset_engine

    use_keras_backend()
    reset_engine()
    # Idle from now, not since the parent imported this module: a child recycled in the
    # middle of a burst (max_tasks_per_child) must not start a 5 s import before its first task.
    _idle_since[0] = time.monotonic()
    # Off the main thread: billiard kills a child that is not up within a few seconds.
    threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()


@task_prerun.connect
def _task_started(**_: Any) -> None:
    _busy_since[0] = time.monotonic()


@task_postrun.connect
def _task_ended(**_: Any) -> None:
    _busy_since[0] = None
    _idle_since[0] = time.monotonic()


def warm_marker(settings: Settings) -> Path:
    """Return the file a warm pool child writes in embedded mode (`descent-server dev` waits)."""
    return settings.data_dir / "worker.warm"


def _warm_up() -> None:
    """Import what a regression run needs now, Keras once idle; then say so (embedded mode)."""
    try:
        from sqlalchemy.orm import configure_mappers

        import descent_server.ml.linear
        import descent_server.ml.regression
        import descent_server.services.analysis
        import descent_server.services.training
        import descent_server.services.training_data  # noqa: F401

        configure_mappers()  # the first query would do it, inside the first run
    except Exception:  # noqa: BLE001 - the run itself fails with the real error
        log.warning("worker warm-up failed", exc_info=True)
    _warm_keras_when_idle()
    settings = get_settings()
    if settings.embedded:
        with contextlib.suppress(OSError):
            warm_marker(settings).write_text(str(os.getpid()))


def _warm_keras_when_idle() -> None:
    while _busy_since[0] is not None or time.monotonic() - _idle_since[0] < WARM_AFTER_IDLE_S:
        time.sleep(0.2)
    try:
        from descent_server.ml.keras_backend import keras_module

        keras_module()
    except Exception:  # noqa: BLE001 - a broken Keras fails the MLP run itself, with its error
        log.warning("keras warm-up failed", exc_info=True)


@worker_ready.connect
def _start_sweeper(**_: Any) -> None:
    """Run the sweeper loop in the worker's main process (every worker; sweeps are CAS)."""
    from descent_server.workers.sweeper import start_background

    start_background()


@worker_shutdown.connect
def _stop_sweeper(**_: Any) -> None:
    from descent_server.workers.sweeper import stop_background

    stop_background()
