"""A real Celery worker (a prefork subprocess) trains runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from descent_server.repository import history
from descent_server.repository import runs as runs_repo
from descent_server.settings import Settings
from descent_server.workers.queue import enqueue_run
from tests.helpers.processes import start_worker
from tests.helpers.runs import (
    MOVIES_A_AFTER_300,
    insert_dataset,
    insert_run,
    mlp_hyperparameters,
    wait_for_run,
)

pytestmark = pytest.mark.e2e


def test_worker_trains_the_course_regression(
    settings: Settings, session_factory: sessionmaker[Session], worker: object
) -> None:
    with session_factory() as session:
        run_id = insert_run(session)
        session.commit()
    enqueue_run(run_id, "cpu")
    run = wait_for_run(session_factory, run_id)
    assert run.status == "succeeded", run.error
    assert run.result is not None
    assert run.result["params"]["a"] == pytest.approx(MOVIES_A_AFTER_300, rel=1e-9)
    with session_factory() as session:
        epochs = [r["epoch"] for r in history.read_history(session, run_id).rows]
    assert epochs == list(range(301))


def test_lease_recovery_runs_a_run_that_was_never_enqueued(
    settings: Settings,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # A crash between commit and enqueue: the row says queued, the broker has nothing.
    monkeypatch.setenv("DESCENT_REQUEUE_AFTER_S", "1")
    monkeypatch.setenv("DESCENT_RECOVERY_INTERVAL_S", "0.5")
    with session_factory() as session:
        run_id = insert_run(session)
        session.commit()
    worker = start_worker(log_path=tmp_path / "worker.log")
    try:
        run = wait_for_run(session_factory, run_id, timeout_s=60)
    finally:
        worker.stop()
    assert run.status == "succeeded", worker.log()
    assert run.enqueued_at is not None


def _slow_mlp_run(session: Session, epochs: int = 300) -> str:
    """Insert an MLP run on a small dataset: ~300 quick epochs, long enough to interrupt."""
    rng = np.random.default_rng(0)
    centres = np.repeat(np.array([[0.0, 0.0], [3.0, 3.0], [0.0, 3.0]]), 60, axis=0)
    points = centres + rng.normal(scale=0.6, size=centres.shape)
    labels = np.repeat(np.array(["a", "b", "c"]), 60)
    dataset_id = insert_dataset(session, {"x1": points[:, 0], "x2": points[:, 1], "label": labels})
    hp = {"epochs": epochs, "hidden_layers": [8], "seed": 1, "batch_size": 64,
          "snapshots": {"every": 25, "resolution": 16}}  # fmt: skip
    hp = mlp_hyperparameters(hp)
    return insert_run(session, kind="mlp_classifier", dataset_id=dataset_id,
                      features=["x1", "x2"], target="label", hyperparameters=hp)  # fmt: skip


def _start_slow_run(
    session_factory: sessionmaker[Session], *, until_epoch: int, epochs: int = 300
) -> str:
    """Commit and enqueue a slow MLP run; return its id once `until_epoch` is stored."""
    with session_factory() as session:
        run_id = _slow_mlp_run(session, epochs=epochs)
        session.commit()
    enqueue_run(run_id, "cpu")
    wait_for_run(session_factory, run_id, until=lambda run: run.progress_epoch >= until_epoch)
    return run_id


def _fast_failover(monkeypatch: pytest.MonkeyPatch) -> None:
    # JAX: these tests are about leases, not backends, and JAX runs these epochs ~5x faster
    # on 2 cores (the in-process MLP test covers TensorFlow, the default).
    for name, value in {"LEASE_TIMEOUT_S": "3", "HEARTBEAT_INTERVAL_S": "0.5",
                        "RECOVERY_INTERVAL_S": "0.5", "REQUEUE_AFTER_S": "2",
                        "KERAS_BACKEND": "jax"}.items():  # fmt: skip
        monkeypatch.setenv(f"DESCENT_{name}", value)


# Embedded mode (file broker + SQLite); tests/faults covers PostgreSQL + Redis through the API.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_killed_worker_s_run_is_finished_by_the_next_worker(
    settings: Settings,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _fast_failover(monkeypatch)
    first = start_worker(log_path=tmp_path / "first.log")
    try:
        run_id = _start_slow_run(session_factory, until_epoch=50)
    finally:
        first.kill()  # SIGKILL, main process and pool child at once
    second = start_worker(log_path=tmp_path / "second.log")
    try:
        run = wait_for_run(session_factory, run_id)
    finally:
        second.stop()
    assert run.status == "succeeded", second.log()
    assert run.attempt == 2
    assert run.backend == "jax"
    with session_factory() as session:
        epochs = [r["epoch"] for r in history.read_history(session, run_id).rows]
        assert history.snapshot_epochs(session, run_id)[-1] == 300
    assert epochs == list(range(301))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # tests/faults: PostgreSQL
def test_cancel_stops_a_running_run_and_keeps_its_history(
    settings: Settings,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _fast_failover(monkeypatch)
    worker = start_worker(log_path=tmp_path / "worker.log")
    try:
        run_id = _start_slow_run(session_factory, until_epoch=10, epochs=3000)
        with session_factory() as session:
            assert runs_repo.request_cancel(session, run_id=run_id)
            session.commit()
        run = wait_for_run(session_factory, run_id)
    finally:
        worker.stop()
    assert run.status == "cancelled"
    with session_factory() as session:
        kept = history.count_epochs(session, run_id)
    assert 10 < kept < 3001
    assert kept == run.progress_epoch + 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_20s_database_outage_loses_no_epoch(
    settings: Settings,
    database_url: str,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from tests.helpers.proxy import TcpProxy

    monkeypatch.setenv("DESCENT_KERAS_BACKEND", "jax")
    monkeypatch.setenv("DESCENT_HEARTBEAT_INTERVAL_S", "0.5")
    with TcpProxy(5432) as proxy:
        # The worker reaches PostgreSQL only through the proxy; this test process directly.
        proxied = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        worker = start_worker(log_path=tmp_path / "worker.log",
                              env={"DESCENT_DATABASE_URL": proxied})  # fmt: skip
        try:
            run_id = _start_slow_run(session_factory, until_epoch=30)
            proxy.cut()
            time.sleep(20)
            proxy.restore()
            run = wait_for_run(session_factory, run_id)
        finally:
            worker.stop()
    assert run.status == "succeeded", worker.log()
    assert run.attempt == 1  # the lease outlived the outage: no restart was needed
    with session_factory() as session:
        epochs = [r["epoch"] for r in history.read_history(session, run_id).rows]
    assert epochs == list(range(301))
