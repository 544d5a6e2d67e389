"""`descent-server migrate, keys, api, worker` as docker-compose runs them: PostgreSQL + Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from descent_server.cli import app
from descent_server.settings import Settings
from tests.ops.procs import entry_point, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
TIMEOUT_S = 120


@contextlib.contextmanager
def running(args: list[str], log: Path, ready: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run `descent-server ARGS` until the block ends; wait for `ready` in its output first."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [entry_point(), *args], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while ready not in log.read_text(errors="replace"):
            assert proc.poll() is None, f"{args} exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"{args} not ready:\n{log.read_text()}"
            time.sleep(0.2)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # pool children, if a shutdown hung
        proc.wait(timeout=10)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_api_and_worker_commands_train_with_a_cli_key(settings: Settings, tmp_path: Path) -> None:
    assert settings.auth_enabled and not settings.embedded
    runner = CliRunner()
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["keys", "create", "--owner", "ops"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api_args = ["api", "--port", str(port), "--workers", "1"]
    worker_args = ["worker", "--queues", "cpu", "--concurrency", "1"]
    with (
        running(api_args, tmp_path / "api.log", "Application startup complete"),
        running(worker_args, tmp_path / "worker.log", " ready."),
    ):
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        assert httpx.get(f"{url}/v1/runs", timeout=10).status_code == 401
        headers = {"Authorization": f"Bearer {key}"}
        body = {
            "kind": "linear_regression",
            "dataset_id": "builtin:movies",
            "features": ["num_want_to_see"],
            "target": "nums_audience",
            "hyperparameters": {"learning_rate": 1e-9, "epochs": 20},
        }
        response = httpx.post(f"{url}/v1/runs", json=body, headers=headers, timeout=10)
        assert response.status_code == 202, response.text
        run_url = f"{url}/v1/runs/{response.json()['id']}"
        deadline = time.monotonic() + TIMEOUT_S
        while (run := httpx.get(run_url, headers=headers, timeout=10).json())["status"] in {
            "queued",
            "running",
        }:
            assert time.monotonic() < deadline, run
            time.sleep(0.3)
        assert run["status"] == "succeeded", run

        # A revoked key is refused from then on.
        result = runner.invoke(app, ["keys", "list"])
        key_id = next(line.split()[0] for line in result.output.splitlines() if " ops " in line)
        assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
        assert httpx.get(run_url, headers=headers, timeout=10).status_code == 401
