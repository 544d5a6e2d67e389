"""Producers stay light: enqueueing (the API) and loading the worker app import no Keras/TF."""

from __future__ import annotations

import subprocess
import sys


def _run_in_fresh_python(code: str) -> None:
    """Run `code` in a new interpreter with a bare environment; fail with its stderr."""
    env = {"PATH": "/usr/bin:/bin", "DESCENT_DATA_DIR": "/tmp/descent-import-test"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_queue_celery_app_and_tasks_import_without_keras() -> None:
    code = (
        "import sys\n"
        "import descent_server.workers.queue, descent_server.workers.celery_app\n"
        "import descent_server.workers.tasks, descent_server.workers.recovery\n"
        "import descent_server.services.training\n"
        "heavy = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import os; assert 'KERAS_BACKEND' not in os.environ  # set by workers only\n"
    )
    _run_in_fresh_python(code)


def test_the_worker_app_is_configured_for_reliability() -> None:
    from descent_server.settings import get_settings
    from descent_server.workers.config import QUEUES, TRAIN_TASK, make_app

    conf = make_app(get_settings()).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_max_tasks_per_child == get_settings().worker_max_tasks_per_child
    assert {q.name for q in conf.task_queues} == set(QUEUES) == {"cpu", "gpu"}
    assert TRAIN_TASK == "descent_server.workers.tasks.train_run"


def test_a_recycled_pool_child_waits_for_real_idleness_before_warming_keras() -> None:
    # The parent imported celery_app long ago; a child forked now (max_tasks_per_child recycles
    # them in the middle of bursts) must not start the 5 s Keras import before its first task.
    code = (
        "import sys, time\n"
        "from descent_server.workers import celery_app\n"
        "celery_app._idle_since[0] = time.monotonic() - 3600  # the parent's import, long ago\n"
        "celery_app._child_init()\n"
        "time.sleep(0.5)\n"
        "assert 'keras' not in sys.modules, 'warm-up began before the child was ever idle'\n"
        "celery_app._task_started()  # a task arrives: the warm-up keeps waiting\n"
        "time.sleep(1.5)\n"
        "assert 'keras' not in sys.modules, 'warm-up began while a task was running'\n"
    )
    _run_in_fresh_python(code)
