"""The worker's Celery app and its process lifecycle: backend, warm-up, lease recovery.

`celery -A descent_server.workers.celery_app worker -Q cpu` runs a worker; the app itself is
built in config.py. Importing this module never imports Keras or TensorFlow: the pool
children are forked first, and each child sets itself up in `worker_process_init` (fresh
database engine, Keras warmed up off the main thread). KERAS_BACKEND is exported from settings
in the worker only (`worker_init`, before the fork), never in a process that merely imports
this module.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from celery.signals import (
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)

from descent_server.settings import Settings, get_settings
from descent_server.workers import recovery
from descent_server.workers.config import make_app

log = logging.getLogger(__name__)


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


def lower_priority(nice: int) -> None:
    """Let the API and the database have the cores first: training is batch work.

    `os.nice` weighs this process against the others of its scheduling group. Linux groups
    processes by session (autogroup) unless cgroups say otherwise, so a worker that leads
    its own session (a service of its own) also sets its session's nice; one that shares the
    API's session (`descent-server dev`) must not, or the API would be slowed with it.
    Containers weigh the worker with `cpu_shares` (docker-compose.yml).
    """
    nice = max(0, min(19, nice))
    if nice == 0:
        return
    with contextlib.suppress(AttributeError, OSError):  # no nice() on Windows
        os.nice(nice)
    if hasattr(os, "getsid") and os.getsid(0) == os.getpid():
        with contextlib.suppress(OSError):  # no autogroups (kernel option, cgroup-only hosts)
            Path("/proc/self/autogroup").write_text(str(nice))


@worker_init.connect
def _worker_init(**_: Any) -> None:
    """In the worker's main process, before the pool forks: children inherit the backend
    and the lowered CPU priority."""
    use_keras_backend()
    lower_priority(get_settings().worker_nice)


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
        import descent_server.services.training  # noqa: F401
        from descent_server.services import kinds

        kinds.adapters()  # every kind's module, and the kind_modules setting's

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
def _start_recovery(**_: Any) -> None:
    """Run lease recovery in the worker's main process (every worker; each change is a CAS)."""
    recovery.start_background()


@worker_shutdown.connect
def _stop_recovery(**_: Any) -> None:
    recovery.stop_background()
