"""Producers stay light: enqueueing (the API) and loading the worker app import no Keras/TF."""

from __future__ import annotations

import subprocess
import sys


def test_queue_celery_app_and_tasks_import_without_keras() -> None:
    code = (
        "import sys\n"
        "import descent_server.workers.queue, descent_server.workers.celery_app\n"
        "import descent_server.workers.tasks, descent_server.workers.sweeper\n"
        "import descent_server.services.training\n"
        "heavy = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import os; assert 'KERAS_BACKEND' not in os.environ  # set by workers only\n"
    )
    env = {"PATH": "/usr/bin:/bin", "DESCENT_DATA_DIR": "/tmp/descent-import-test"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_worker_app_is_configured_for_reliability() -> None:
    from descent_server.settings import get_settings
    from descent_server.workers.celery_app import QUEUES, TRAIN_TASK, make_app

    conf = make_app(get_settings()).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_max_tasks_per_child == get_settings().worker_max_tasks_per_child
    assert {q.name for q in conf.task_queues} == set(QUEUES) == {"cpu", "gpu"}
    assert TRAIN_TASK == "descent_server.workers.tasks.train_run"
