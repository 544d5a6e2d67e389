"""The GPU path on the CPU device: the same routing, queues, worker and device recording.

CI has no GPU, so a worker listening only on the `gpu` queue runs here with the CPU device.
Everything else is the code a GPU worker runs: the API routes a run by `device` and size,
the run travels on the `gpu` queue, and the worker records what Keras trained on ("cpu" /
"jax" here; "cuda:0 NVIDIA H200" / "jax" on an H200, which scripts/gpu_check.sh checks).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from descent_server.api.app import create_app
from descent_server.services import keys
from descent_server.settings import Settings, get_settings
from descent_server.workers.celery_app import use_keras_backend
from tests.conftest import refresh_settings
from tests.helpers.processes import start_worker
from tests.helpers.runs import wait_for_run

# The course MLP (3000 rows x 20 epochs = 60,000 samples) stays below; 3000 x 34 is above.
GPU_MIN_SAMPLES = 100_000
BLOBS: dict[str, Any] = {
    "kind": "mlp_classifier",
    "dataset_id": "builtin:three-blobs",
    "features": ["x1", "x2"],
    "target": "label",
}
# Small and quick to train, whatever the queue: one or a few steps per epoch.
QUICK = {"hidden_layers": [8], "batch_size": 1000, "seed": 1,
         "snapshots": {"every": 5, "resolution": 16}}  # fmt: skip


def _mlp(device: str, **hyperparameters: Any) -> dict[str, Any]:
    return {**BLOBS, "device": device, "hyperparameters": hyperparameters}


def _gpu_deployment(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of a deployment with GPU workers, training with JAX (fast on 2 CPU cores)."""
    for name, value in {"GPU_WORKERS": "true", "GPU_MIN_SAMPLES": str(GPU_MIN_SAMPLES),
                        "KERAS_BACKEND": "jax"}.items():  # fmt: skip
        monkeypatch.setenv(f"DESCENT_{name}", value)
    return refresh_settings()


@pytest.fixture
def client(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The real app (real enqueue to the test's broker) on a GPU deployment's settings."""
    _gpu_deployment(monkeypatch)
    from descent_server.db.session import session_factory

    with session_factory() as session:
        _, plain = keys.create(session=session, owner="gpu-user")
    with TestClient(create_app()) as test_client:
        test_client.headers["Authorization"] = f"Bearer {plain}"
        yield test_client


def _submit(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/runs", json=body)
    assert response.status_code == 202, response.text
    run: dict[str, Any] = response.json()
    return run


@pytest.mark.e2e
def test_gpu_runs_train_on_a_gpu_queue_worker_and_the_course_mlp_waits_for_cpu(
    client: TestClient, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    asked = _submit(client, _mlp("gpu", epochs=3, **QUICK))
    big = _submit(client, _mlp("auto", epochs=34, **QUICK))  # 3000 x 34 >= GPU_MIN_SAMPLES
    course = _submit(client, _mlp("auto"))  # the course's defaults: 20 epochs, batch 32
    assert course["hyperparameters"]["epochs"] * 3000 < GPU_MIN_SAMPLES
    assert [r["queue"] for r in (asked, big, course)] == ["gpu", "gpu", "cpu"]
    assert [r["device_request"] for r in (asked, big, course)] == ["gpu", "auto", "auto"]

    gpu_worker = start_worker(log_path=tmp_path / "gpu.log", queues="gpu")
    try:
        for run in (asked, big):
            wait_for_run(session_factory, run["id"])
        # Both gpu messages are consumed; the cpu one is on a queue this worker never reads.
        waiting = client.get(f"/v1/runs/{course['id']}").json()
        assert waiting["status"] == "queued" and waiting["started_at"] is None, waiting
    finally:
        gpu_worker.stop()
    assert ".> gpu" in gpu_worker.log() and ".> cpu" not in gpu_worker.log()
    for run in (asked, big):
        done = client.get(f"/v1/runs/{run['id']}").json()
        assert done["status"] == "succeeded", (done, gpu_worker.log())
        # What a GPU worker records as "cuda:0 NVIDIA H200", this CPU-only host names "cpu".
        assert (done["device"], done["backend"]) == ("cpu", "jax")
        assert done["progress"]["epoch"] == done["hyperparameters"]["epochs"]
    assert client.get(f"/v1/runs/{course['id']}").json()["status"] == "queued"

    cpu_worker = start_worker(log_path=tmp_path / "cpu.log", queues="cpu")
    try:
        wait_for_run(session_factory, course["id"])
    finally:
        cpu_worker.stop()
    done = client.get(f"/v1/runs/{course['id']}").json()
    assert done["status"] == "succeeded", (done, cpu_worker.log())
    assert (done["queue"], done["device"], done["backend"]) == ("cpu", "cpu", "jax")
    assert done["progress"]["epoch"] == 20


# ---- the worker's GPU manners: set from settings before Keras (and CUDA) start --------------

GPU_ENV = ("KERAS_BACKEND", "CUDA_VISIBLE_DEVICES", "TF_FORCE_GPU_ALLOW_GROWTH",
           "XLA_PYTHON_CLIENT_PREALLOCATE")  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """No DESCENT_* or GPU variables (restored after), no .env, fresh settings."""
    saved = dict(os.environ)  # use_keras_backend() writes os.environ directly: restore it all
    for key in list(os.environ):
        if key.startswith("DESCENT_") or key in GPU_ENV:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def test_the_worker_takes_only_its_gpu_and_no_memory_up_front(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("DESCENT_KERAS_BACKEND", "jax")
    clean_env.setenv("DESCENT_GPU_VISIBLE_DEVICES", "1")
    use_keras_backend()
    assert os.environ["KERAS_BACKEND"] == "jax"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"  # JAX: allocate as needed
    assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"  # TensorFlow: memory growth


def test_without_a_gpu_setting_the_runtime_s_choice_stays(clean_env: pytest.MonkeyPatch) -> None:
    # The container runtime (or an operator) may have assigned the GPU already: keep it,
    # and keep an explicit memory policy too.
    clean_env.setenv("CUDA_VISIBLE_DEVICES", "3")
    clean_env.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "true")
    use_keras_backend()
    assert os.environ["KERAS_BACKEND"] == "tensorflow"  # the default backend
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"


def test_an_empty_gpu_setting_hides_every_gpu(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CUDA_VISIBLE_DEVICES", "0")
    clean_env.setenv("DESCENT_GPU_VISIBLE_DEVICES", "")
    use_keras_backend()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""


def test_keras_reserves_no_gpu_memory_and_names_its_device(tmp_path: Path) -> None:
    # A process that imports Keras by itself (no worker signals): keras_module() still sets
    # JAX's allocator to grow as needed, and device_info() names what it trains on.
    code = (
        "import os\n"
        "from descent_server.ml.keras_backend import device_info, keras_module\n"
        "keras_module()\n"
        "print(os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'], *device_info())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in GPU_ENV}
    env["KERAS_BACKEND"] = "jax"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["false", "cpu", "jax"]
