"""A whole service for one fault test: database, broker, API server, workers, an HTTP client.

Everything talks to the real processes: runs are submitted and read over HTTP, workers are
`celery worker` subprocesses, and the only thing read directly from the database is the
epoch table's raw row counts (to prove there is no duplicate the API could hide).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from descent_server.db.migrate import upgrade
from descent_server.db.session import make_engine
from descent_server.domain import FINAL_STATUSES
from descent_server.services import keys
from tests.faults.servers import ApiServer, PrivatePostgres, clean_env
from tests.helpers.processes import WorkerProcess, worker_command

FINAL = FINAL_STATUSES
WAIT_S = 150.0  # generous: the machine has 2 cores and runs other suites at the same time

# Mini-batch regression: 6000 rows in batches of 6 is 1000 updates per epoch, so 300 epochs
# take several seconds even on an idle machine (full batch would take a millisecond).
N_ROWS, BATCH = 6000, 6
REGRESSION_HP: dict[str, Any] = {
    "learning_rate": 0.001,
    "epochs": 300,
    "batch_size": BATCH,
    "seed": 7,
}

# Fast failover for the tests: a dead worker's lease is taken back after a few seconds.
FAST_LEASES = {
    "heartbeat_interval_s": "0.5",
    "lease_timeout_s": "8",
    "recovery_interval_s": "0.5",
    "requeue_after_s": "2",
}


def regression_data() -> tuple[np.ndarray, np.ndarray]:
    """Return the (x, y) of the fault tests' dataset: y = 0.5x + 2 + noise."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0.0, 10.0, N_ROWS)
    return x, 0.5 * x + 2.0 + rng.normal(scale=1.0, size=N_ROWS)


def new_database(cluster: PrivatePostgres) -> str:
    """Create and migrate a database `descent_test_faults_<uuid>`; return its URL."""
    url = cluster.create_database(f"descent_test_faults_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    return url


def spawn_worker(env: dict[str, str], log_path: Path, concurrency: int = 1) -> WorkerProcess:
    """Start `celery worker` (prefork) with exactly `env`; wait until it is ready."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            worker_command("cpu", concurrency),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    worker = WorkerProcess(proc, log_path)
    try:
        worker.wait_ready(timeout_s=120)
    except BaseException:
        worker.stop()
        raise
    return worker


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll `check()` until it returns something truthy; return it, or fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s}s"
        time.sleep(0.1)


@dataclass
class Stack:
    """A database, a broker, an API server and the workers a test starts on them."""

    database_url: str
    broker_url: str
    tmp: Path
    api: ApiServer | None = None
    _client: httpx.Client | None = None
    engine: Engine | None = None
    dataset_id: str = ""
    workers: list[WorkerProcess] = field(default_factory=list)
    api_knobs: dict[str, str] = field(default_factory=dict)  # extra DESCENT_* for the API

    @property
    def http(self) -> httpx.Client:
        """Return the HTTP client on the API server (authenticated as the owner "faults")."""
        assert self._client is not None, "the stack is not started"
        return self._client

    def env(self, **knobs: str) -> dict[str, str]:
        """Return the environment of a service process on this stack (extra DESCENT_* knobs)."""
        data_dir = self.tmp / "data"
        data_dir.mkdir(exist_ok=True)
        return clean_env(
            database_url=self.database_url,
            broker_url=self.broker_url,
            data_dir=str(data_dir),
            keras_backend="jax",
            **knobs,
        )

    def start(self) -> Stack:
        """Start the API server, create a key and upload the dataset."""
        self.engine = make_engine(self.database_url, pool_size=1, max_overflow=2)
        with sessionmaker(bind=self.engine)() as session:
            _, key = keys.create(session=session, owner="faults")
        self.api = ApiServer(self.env(**self.api_knobs), self.tmp / "api.log").start()
        self._client = httpx.Client(
            base_url=self.api.url, timeout=60.0, headers={"Authorization": f"Bearer {key}"}
        )
        x, y = regression_data()
        body = {"name": "faults", "columns": {"x": x.tolist(), "y": y.tolist()}}
        response = self.http.post("/v1/datasets", json=body)
        assert response.status_code == 201, response.text
        self.dataset_id = response.json()["id"]
        return self

    def close(self) -> None:
        """Stop every worker and the API server."""
        for worker in self.workers:
            worker.stop(grace_s=5)
        self.workers.clear()
        if self._client is not None:
            self._client.close()
        if self.api is not None:
            self.api.stop()
        if self.engine is not None:
            self.engine.dispose()

    def start_worker(self, name: str, concurrency: int = 1, **knobs: str) -> WorkerProcess:
        """Start a worker on this stack (fast lease settings plus `knobs`); stopped at close."""
        env = self.env(**{**FAST_LEASES, **knobs})
        worker = spawn_worker(env, self.tmp / f"{name}.log", concurrency)
        self.workers.append(worker)
        return worker

    @contextlib.contextmanager
    def worker(self, name: str, concurrency: int = 1, **knobs: str) -> Iterator[WorkerProcess]:
        """Run a worker for the block (warm shutdown after it)."""
        worker = self.start_worker(name, concurrency, **knobs)
        try:
            yield worker
        finally:
            worker.stop(grace_s=5)
            self.workers.remove(worker)

    def body(self, **hyperparameters: Any) -> dict[str, Any]:
        """Return a regression run request on the stack's dataset."""
        return {
            "kind": "linear_regression",
            "dataset_id": self.dataset_id,
            "features": ["x"],
            "target": "y",
            "hyperparameters": {**REGRESSION_HP, **hyperparameters},
        }

    def submit(self, **hyperparameters: Any) -> str:
        """Submit a regression run over HTTP; return its id."""
        response = self.http.post("/v1/runs", json=self.body(**hyperparameters))
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def run(self, run_id: str) -> dict[str, Any]:
        """Return the run as the API shows it."""
        response = self.http.get(f"/v1/runs/{run_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait(
        self,
        run_id: str,
        until: Callable[[dict[str, Any]], bool] = lambda run: run["status"] in FINAL,
        timeout_s: float = WAIT_S,
    ) -> dict[str, Any]:
        """Poll the run over HTTP until `until(run)` (default: a final status); return it."""
        seen: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            seen.update(self.run(run_id))
            return dict(seen) if until(seen) else None

        try:
            return dict(wait_until(check, f"run {run_id}", timeout_s))
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; last seen {seen.get('status')} {seen.get('progress')}\n{self.logs()}"
            ) from None

    def epochs(self, run_id: str) -> list[int]:
        """Return every epoch number the history endpoint serves, page by page."""
        found: list[int] = []
        since: int | None = None
        while True:
            params = {"limit": 10_000, **({"since_epoch": since} if since is not None else {})}
            page = self.http.get(f"/v1/runs/{run_id}/history", params=params)
            assert page.status_code == 200, page.text
            found += [row["epoch"] for row in page.json()["epochs"]]
            since = page.json()["next_since_epoch"]
            if since is None:
                return found

    def stored_epochs(self, run_id: str) -> tuple[int, int]:
        """Return (rows, distinct epochs) of the run in the epoch table itself."""
        assert self.engine is not None
        with self.engine.connect() as conn:
            rows, distinct = conn.execute(
                text("SELECT count(*), count(DISTINCT epoch) FROM epoch WHERE run_id = :id"),
                {"id": run_id},
            ).one()
        return int(rows), int(distinct)

    def assert_complete(self, run_id: str, epochs: int = 300) -> dict[str, Any]:
        """Assert the run succeeded with exactly epochs 0..N, once each; return the run."""
        run = self.run(run_id)
        assert run["status"] == "succeeded", f"{run}\n{self.logs()}"
        assert self.epochs(run_id) == list(range(epochs + 1))
        assert self.stored_epochs(run_id) == (epochs + 1, epochs + 1)
        assert run["progress"] == {"epoch": epochs, "epochs": epochs}
        return run

    def cancel_leftovers(self) -> None:
        """Cancel whatever a failed test left queued or running (the next test starts clean)."""
        if self._client is None:
            return
        for status in ("queued", "running"):
            with contextlib.suppress(httpx.HTTPError):
                page = self.http.get("/v1/runs", params={"status": status, "limit": 500})
                for run in page.json().get("items", []) if page.status_code == 200 else []:
                    self.http.post(f"/v1/runs/{run['id']}/cancel")

    def logs(self) -> str:
        """Return the tails of the API and worker logs (for failure messages)."""
        parts = [] if self.api is None else [("api", self.api.log())]
        parts += [(w.log_path.name, w.log()) for w in self.workers]
        return "\n".join(f"--- {name} ---\n{text_[-3000:]}" for name, text_ in parts)


def kill_group(pid: int) -> None:
    """SIGKILL a process group (a worker's main process and its pool children at once)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
