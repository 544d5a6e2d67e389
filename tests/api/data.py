"""Write worker-side state directly (status, epochs, snapshots, artifacts) for API tests."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sqlalchemy import update

from descent_server.db.models import Run
from descent_server.db.session import session_factory
from descent_server.ml.mlp_model import MLPModel, Normalizer
from descent_server.ml.regression import train_regression
from descent_server.ml.types import EpochRecord
from descent_server.repository import history, leases
from descent_server.services.kinds import load_training_data
from descent_server.services.kinds.linear_regression import config_of


def set_status(run_id: str, status: str, **values: object) -> None:
    """Set a run's status (and other columns) as a worker would, bumping its version."""
    with session_factory() as session:
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(status=status, version=Run.version + 1, **values)
        )
        session.commit()


def _claim(run_id: str) -> int:
    with session_factory() as session:
        attempt = leases.claim(session, run_id)
        session.commit()
    assert attempt is not None
    return attempt


def store(run_id: str, attempt: int, records: list[EpochRecord]) -> None:
    """Append epoch records as the worker does."""
    with session_factory() as session:
        assert history.append_epochs(session, run_id, attempt, records)
        session.commit()


def train_regression_run(run_id: str, *, finish: bool = True) -> list[EpochRecord]:
    """Train the run's regression with the real engine and store every epoch (and result)."""
    attempt = _claim(run_id)
    with session_factory() as session:
        run = session.get(Run, run_id)
        assert run is not None
        data = load_training_data(session=session, run=run)
        hp = run.hyperparameters
    records: list[EpochRecord] = []
    result = train_regression(data.X, data.y, config_of(hp), records.append)
    store(run_id, attempt, records)
    if finish:
        with session_factory() as session:
            history.put_artifact(
                session, run_id, "model", json.dumps(result.params).encode(), "application/json"
            )
            session.commit()
        set_status(run_id, result.status, result=result.summary())
    return records


def fake_mlp_run(run_id: str, epochs: int = 3, *, weights: bool = True) -> None:
    """Store MLP-like epochs with boundary snapshots and servable weights (no Keras)."""
    attempt = _claim(run_id)
    with session_factory() as session:
        run = session.get(Run, run_id)
        assert run is not None
        resolution = run.analysis["resolution"]
        classes = run.analysis["classes"]
    rng = np.random.default_rng(0)
    records = [
        EpochRecord(
            epoch=e,
            loss=1.0 / (e + 1),
            val_loss=1.2 / (e + 1),
            accuracy=0.5 + e / 10,
            val_accuracy=0.4 + e / 10,
            grad_norms={"dense": 0.1 * e, "dense_1": 0.2},
            weight_norms={"dense": 1.0 + e, "dense_1": 2.0},
            snapshot=rng.integers(0, len(classes), (resolution, resolution), dtype=np.uint8),
        )
        for e in range(epochs + 1)
    ]
    store(run_id, attempt, records)
    if weights:
        model = MLPModel(
            kernels=[rng.normal(size=(2, 4)), rng.normal(size=(4, len(classes)))],
            biases=[np.zeros(4), np.zeros(len(classes))],
            activation="relu",
            output="softmax",
            normalizer=Normalizer("none", np.zeros(2), np.ones(2)),
            classes=classes,
        )
        with session_factory() as session:
            history.put_artifact(
                session, run_id, "weights", model.to_bytes(), "application/octet-stream"
            )
            session.commit()


def diverge(run_id: str) -> None:
    """Store a history whose loss blows up to inf/NaN, then mark the run diverged."""
    attempt = _claim(run_id)
    records = [
        EpochRecord(epoch=0, loss=1.0, params={"a": 0.0, "b": 0.0}),
        EpochRecord(epoch=1, loss=1e300, params={"a": 1e150, "b": 1.0}),
        EpochRecord(epoch=2, loss=float("inf"), params={"a": float("inf"), "b": float("nan")}),
    ]
    store(run_id, attempt, records)
    set_status(
        run_id,
        "diverged",
        error={"code": "diverged", "message": "loss became non-finite"},
        result={"params": {"a": float("nan"), "b": 1.0}, "final_loss": float("inf")},
        metrics={"loss": float("nan")},
    )


def metrics_of(run: dict[str, Any]) -> dict[str, Any]:
    """Return a run's metrics (helper for readability)."""
    return run["metrics"]
