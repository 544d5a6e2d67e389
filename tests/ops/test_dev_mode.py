"""`descent-server dev` really serves (API + worker) and leaves no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.ops.procs import (
    STARTUP_TIMEOUT_S,
    alive,
    cmdline,
    descendants,
    free_port,
    server_command,
    wait_healthy,
)

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_S = 120


def wait_finished(url: str, run_id: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        run = httpx.get(f"{url}/v1/runs/{run_id}", timeout=10).json()
        if run["status"] not in {"queued", "running"}:
            return run
        time.sleep(0.3)
    pytest.fail(f"run {run_id} did not finish: {run}")


def shut_down(proc: subprocess.Popen[bytes]) -> None:
    """Stop a dev server after a failure, gently first so that it stops its worker."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_dev(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start `descent-server dev` in tmp_path (default data dir) and wait until it is healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCENT_")}
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            server_command(port), cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_healthy(proc, url, log)
    except BaseException:
        shut_down(proc)
        raise
    return proc, url, log


def stop_and_check(proc: subprocess.Popen[bytes], sig: int, log: Path) -> None:
    """Send `sig`, then check the server exits 0 and none of its descendants is left."""
    children = descendants(proc.pid)
    assert any("celery" in cmdline(pid) for pid in children), "no worker child"
    proc.send_signal(sig)
    try:
        returncode = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert returncode == 0, log.read_text()
    deadline = time.monotonic() + 10  # init may take a moment to reap what was reparented
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = {pid: cmdline(pid) for pid in children if alive(pid)}
    assert not left, f"processes left behind: {left}"
    assert "descent stopped" in log.read_text()


def check_start_up_lines(text: str, url: str) -> None:
    """Our start-up line first; no Celery banner or root lecture; our ready lines last."""
    lines = text.splitlines()
    assert lines[0].startswith(f"descent: starting on {url.removeprefix('http://')}: "), lines
    for noise in ("-------------- ", "[config]", "SecurityWarning", "superuser privileges",
                  "No hostname was supplied", "Uvicorn running on"):  # fmt: skip
        assert noise not in text, (noise, text)
    ready = lines.index(f"descent is serving on {url} (dashboard /, docs /docs)")
    assert lines[ready + 3].startswith("  worker: warm ("), lines
    # Everything the worker says while starting comes before the ready line.
    assert all(i < ready for i, line in enumerate(lines) if "MainProcess" in line), lines


def pool_child_is_warm(data_dir: Path, server_pid: int) -> None:
    """The worker's pool child wrote the warm marker and has TensorFlow (Keras) loaded."""
    child = int((data_dir / "worker.warm").read_text())
    assert child in descendants(server_pid)
    maps = Path(f"/proc/{child}/maps").read_text()
    assert "tensorflow" in maps, "Keras was not imported before the server said it was ready"


def test_dev_serves_trains_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc, url, log = start_dev(tmp_path)
    try:
        check_start_up_lines(log.read_text(), url)
        assert (tmp_path / "descent-data" / "descent.db").exists()  # the default data dir
        pool_child_is_warm(tmp_path / "descent-data", proc.pid)

        # Auth is off in dev mode, and the worker child really trains.
        body = {
            "kind": "linear_regression",
            "dataset_id": "builtin:movies",
            "features": ["num_want_to_see"],
            "target": "nums_audience",
            "hyperparameters": {"learning_rate": 1e-9, "epochs": 20},
        }
        response = httpx.post(f"{url}/v1/runs", json=body, timeout=10)
        assert response.status_code == 202, response.text
        run = wait_finished(url, response.json()["id"])
        assert run["status"] == "succeeded", run
    except BaseException:
        shut_down(proc)
        raise
    stop_and_check(proc, signal.SIGTERM, log)


def test_dev_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc, _, log = start_dev(tmp_path)
    stop_and_check(proc, signal.SIGINT, log)


def test_dev_on_a_taken_port_fails_fast_and_starts_no_worker(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCENT_")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            server_command(port), cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=STARTUP_TIMEOUT_S,
        )  # fmt: skip
    assert proc.returncode != 0
    assert "address already in use" in (proc.stderr + proc.stdout).lower()
    assert "celery" not in proc.stderr + proc.stdout
