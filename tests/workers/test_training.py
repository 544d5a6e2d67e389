"""The training service in-process on both backends: lease, history batches, resume, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pytest
from sqlalchemy.orm import Session, sessionmaker

from descent_server.db.models import Run
from descent_server.ml.types import EpochRecord
from descent_server.repository import history, leases
from descent_server.services.training import run_training
from descent_server.settings import Settings
from tests.helpers.runs import (
    MOVIES_A_AFTER_300,
    MOVIES_HYPERPARAMETERS,
    insert_dataset,
    insert_run,
    mlp_hyperparameters,
)


def _run(session_factory: sessionmaker[Session], run_id: str) -> Run:
    with session_factory() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def test_course_regression_succeeds_with_every_epoch(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        run_id = insert_run(session)
        session.commit()
    before = datetime.now(UTC)
    assert run_training(session_factory=session_factory, run_id=run_id) == "succeeded"
    after = datetime.now(UTC)
    run = _run(session_factory, run_id)
    assert run.status == "succeeded" and run.attempt == 1 and run.error is None
    assert run.result is not None
    assert run.result["params"]["a"] == pytest.approx(MOVIES_A_AFTER_300, rel=1e-9)
    assert run.result["epochs_run"] == 300
    assert set(run.result["least_squares"]) == {"params", "loss"}
    assert run.progress_epoch == 300
    assert (run.device, run.backend) == ("cpu", "numpy")
    assert run.analysis is not None and {"lr_max", "lr_verdict"} <= set(run.analysis)
    assert run.finished_at is not None and run.started_at is not None
    with session_factory() as session:
        rows = history.read_history(session, run_id).rows
        model = history.get_artifact(session, run_id, "model")
    assert [r["epoch"] for r in rows] == list(range(301))
    assert rows[0]["params"] == {"a": -0.75, "b": -100.0}
    assert rows[-1]["params"]["a"] == pytest.approx(MOVIES_A_AFTER_300, rel=1e-9)
    # Each epoch has the wall-clock time the worker got it, within the training call.
    times = [datetime.fromisoformat(r["recorded_at"]) for r in rows]
    assert before <= times[0] and times == sorted(times) and times[-1] <= after
    assert model is not None and model.media_type == "application/json"
    assert orjson.loads(model.content)["params"] == run.result["params"]
    # A second delivery of the same task is a no-op.
    assert run_training(session_factory=session_factory, run_id=run_id) is None


def test_a_restarted_regression_resumes_from_its_last_epoch(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    from descent_server.ml.datasets import load_builtin
    from descent_server.ml.regression import train_regression
    from descent_server.services.kinds.linear_regression import config_of

    movies = load_builtin("movies")
    X, y = movies["num_want_to_see"].reshape(-1, 1), movies["nums_audience"]
    with session_factory() as session:
        run_id = insert_run(session)
        hp = session.get(Run, run_id).hyperparameters  # type: ignore[union-attr]
        attempt = leases.claim(session, run_id)
        assert attempt == 1
        # Attempt 1 stored epochs 0..120, then its worker died.
        first: list[EpochRecord] = []
        config = config_of({**hp, "epochs": 120})
        train_regression(X, y, config, on_epoch=first.append)
        assert history.append_epochs(session, run_id, attempt, first)
        session.commit()
        assert (
            leases.release_stale(session, run_id, attempt, lease_timeout_s=-3600, max_attempts=3)
            == "queued"
        )
        session.commit()
    assert run_training(session_factory=session_factory, run_id=run_id) == "succeeded"
    run = _run(session_factory, run_id)
    assert run.attempt == 2
    assert run.result["params"]["a"] == pytest.approx(MOVIES_A_AFTER_300, rel=1e-9)  # type: ignore[index]
    with session_factory() as session:
        assert history.count_epochs(session, run_id) == 301


def test_bad_data_fails_the_run_with_invalid_data(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        dataset_id = insert_dataset(session, {"x": np.arange(5.0), "y": np.ones(5)})
        run_id = insert_run(session, dataset_id=dataset_id, features=["nope"], target="y")
        session.commit()
    assert run_training(session_factory=session_factory, run_id=run_id) == "failed"
    run = _run(session_factory, run_id)
    assert run.error is not None and run.error["code"] == "invalid_data"
    assert "nope" in run.error["message"]
    assert "Traceback" not in run.error["message"]


def test_a_diverging_run_keeps_its_history(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        hp = {**MOVIES_HYPERPARAMETERS, "learning_rate": 1e-6}
        run_id = insert_run(session, hyperparameters=hp)
        session.commit()
    assert run_training(session_factory=session_factory, run_id=run_id) == "diverged"
    run = _run(session_factory, run_id)
    assert run.error is not None and run.error["code"] == "diverged"
    with session_factory() as session:
        rows = history.read_history(session, run_id).rows
    assert 1 < len(rows) < 301
    assert rows[-1]["epoch"] == run.progress_epoch
    # The same words and epoch as the loss plot's × (tests/ml/test_plots.py).
    assert run.error["message"] == f"loss diverged: training stopped at epoch {rows[-1]['epoch']}"


def test_a_cancel_requested_before_the_start_cancels(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        run_id = insert_run(session, cancel_requested=True)
        session.commit()
    assert run_training(session_factory=session_factory, run_id=run_id) is None
    assert _run(session_factory, run_id).status == "cancelled"


BLOBS_HYPERPARAMETERS: dict[str, Any] = {"epochs": 3, "snapshots": {"every": 1, "resolution": 20}}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_course_mlp_stores_history_snapshots_and_models(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    from descent_server.ml.mlp import MLPModel

    hp = mlp_hyperparameters(BLOBS_HYPERPARAMETERS)
    with session_factory() as session:
        run_id = insert_run(session, kind="mlp_classifier", dataset_id="builtin:three-blobs",
                            features=["x1", "x2"], target="label", hyperparameters=hp)  # fmt: skip
        session.commit()
    assert run_training(session_factory=session_factory, run_id=run_id) == "succeeded"
    run = _run(session_factory, run_id)
    assert run.backend == "tensorflow" and run.device
    assert run.analysis is not None and run.analysis["classes"] == [0, 1, 2]
    assert run.result is not None and run.result["epochs_run"] == 3
    assert set(run.metrics) == {"loss", "val_loss", "accuracy", "val_accuracy"}
    with session_factory() as session:
        rows = history.read_history(session, run_id).rows
        assert history.snapshot_epochs(session, run_id) == [0, 1, 2, 3]
        grid = history.get_snapshot(session, run_id, 3)
        weights = history.get_artifact(session, run_id, "weights")
        model = history.get_artifact(session, run_id, "model")
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    times = [datetime.fromisoformat(r["recorded_at"]) for r in rows]
    assert times[0] < times[1] < times[2] < times[3]  # one per epoch, as each one ends
    assert grid is not None and len(grid) == 20 * 20
    assert weights is not None and weights.epoch == 3
    assert MLPModel.from_bytes(weights.content).classes == [0, 1, 2]
    assert model is not None and model.content[:2] == b"PK"  # a .keras file is a zip
