"""Insert runs and datasets straight through the ORM (for store and worker tests)."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from descent_server.db.models import Dataset, Run
from descent_server.ml.types import EpochRecord

MOVIES_HYPERPARAMETERS: dict[str, Any] = {
    "learning_rate": 2e-10,
    "epochs": 300,
    "init": {"a": -0.75, "b": -100.0},
    "gradient": "course",
    "normalize": "none",
    "batch_size": None,
    "seed": 0,
}
MOVIES_A_AFTER_300 = 0.07145849581  # the course notebook's a after 300 epochs at lr=2e-10


def insert_run(session: Session, **fields: Any) -> str:
    """Add a run row (defaults: the course movies regression, queued) and return its id."""
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "owner": "local",
        "kind": "linear_regression",
        "dataset_id": "builtin:movies",
        "features": ["num_want_to_see"],
        "target": "nums_audience",
        "hyperparameters": dict(MOVIES_HYPERPARAMETERS),
        "epochs": 300,
        "queue": "cpu",
    }
    values.update(fields)
    if "epochs" in values["hyperparameters"] and "epochs" not in fields:
        values["epochs"] = values["hyperparameters"]["epochs"]
    session.add(Run(**values))
    session.flush()
    return str(values["id"])


def mlp_hyperparameters(hp: dict[str, Any]) -> dict[str, Any]:
    """Return an mlp_classifier's stored hyperparameters: every value filled, as the API does."""
    from descent_server.services.kinds.mlp_classifier import MLPClassifierHyperparameters

    return MLPClassifierHyperparameters.model_validate(hp).model_dump(mode="json")


def insert_dataset(session: Session, columns: dict[str, np.ndarray], owner: str = "local") -> str:
    """Add a dataset row holding `columns` (encoded as the API stores them); return its id."""
    from descent_server.services.dataset_codec import encode, fingerprint

    dataset_id = str(uuid.uuid4())
    session.add(
        Dataset(
            id=dataset_id,
            owner=owner,
            name="test",
            n_rows=len(next(iter(columns.values()))),
            columns=[{"name": name, "dtype": "float"} for name in columns],
            sha256=fingerprint(columns),
            content=encode(columns),
        )
    )
    session.flush()
    return dataset_id


def records(first: int, last: int, *, scale: float = 1.0, **kw: Any) -> list[EpochRecord]:
    """Return regression-like records for epochs first..last inclusive."""
    return [
        EpochRecord(
            epoch=e,
            loss=scale / (e + 1),
            params={"a": 0.01 * e, "b": -1.0 * e},
            grad_norms={"a": 1.0 / (e + 1)},
            **kw,
        )
        for e in range(first, last + 1)
    ]


def wait_for_run(
    session_factory: Any, run_id: str, until: Any = None, timeout_s: float = 180.0
) -> Run:
    """Poll the run row until `until(run)` (default: a final status); return it."""
    import time

    final = {"succeeded", "diverged", "failed", "cancelled"}
    until = until or (lambda run: run.status in final)
    deadline = time.monotonic() + timeout_s
    while True:
        with session_factory() as session:
            run = session.get(Run, run_id)
            if run is not None and until(run):
                return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run and run.status} after {timeout_s}s")
        time.sleep(0.1)
