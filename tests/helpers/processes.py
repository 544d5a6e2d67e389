"""Start real service processes for tests: a Celery worker on the current settings.

    from tests.helpers.processes import start_worker
    worker = start_worker(log_path=tmp_path / "worker.log")   # waits until it is ready
    ...
    worker.kill()      # SIGKILL the whole process group (fault injection)
    worker.stop()      # warm shutdown, then SIGKILL whatever is left

The worker inherits os.environ, so set DESCENT_* first (the `settings` fixture does).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

CELERY = str(Path(sys.executable).with_name("celery"))
READY_MARK = "ready."


class WorkerProcess:
    """A running `celery worker` subprocess in its own process group."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @property
    def pid(self) -> int:
        """Return the pid of the worker's main process."""
        return self.proc.pid

    def log(self) -> str:
        """Return what the worker has logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Block until the worker logs that it is ready; raise with its log otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if READY_MARK in self.log():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}):\n{self.log()}")
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready after {timeout_s}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once (a crash, not a shutdown)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, grace_s: float = 10.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL the process group if anything is left."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def worker_command(
    queues: str = "cpu", concurrency: int = 1, extra: Sequence[str] = ()
) -> list[str]:
    """Return the `celery worker` command line used by the tests."""
    return [
        CELERY, "-A", "descent_server.workers.celery_app", "worker",
        "-Q", queues, "-c", str(concurrency), "--pool", "prefork", "--loglevel", "info",
        "--without-gossip", "--without-mingle",
        "--hostname", f"test-{os.getpid()}-{time.time_ns()}@%h",
        *extra,
    ]  # fmt: skip


def start_worker(
    *,
    log_path: Path,
    queues: str = "cpu",
    concurrency: int = 1,
    env: Mapping[str, str] | None = None,
    extra: Sequence[str] = (),
    wait: bool = True,
) -> WorkerProcess:
    """Start a real Celery worker (prefork) on the current environment; wait until ready."""
    full_env = {**os.environ, **(env or {})}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            worker_command(queues, concurrency, extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,  # its own group: kill() reaches the pool children
        )
    worker = WorkerProcess(proc, log_path)
    if wait:
        try:
            worker.wait_ready()
        except BaseException:
            worker.stop()
            raise
    return worker
