"""A toy fourth kind, registered only through the kind registry: `mean_predictor`.

Its model is one number c, fitted to the target by gradient descent on mean((c - y)²). The
tests load it with the `kind_modules` setting, in the API server and the worker alike:
nothing in descent_server knows its name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from pydantic import Field
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.ml.types import EpochRecord
from descent_server.services import cost
from descent_server.services.kinds.base import (
    Finite,
    Int32,
    KindAdapter,
    Prepared,
    Strict,
    Trained,
    TrainingJob,
)
from descent_server.services.kinds.registry import register
from descent_server.services.training_data import TrainingData

KIND = "mean_predictor"


class MeanHyperparameters(Strict):
    """c ← c − learning_rate · 2·(c − mean(y)), `epochs` times, from c = 0."""

    learning_rate: Finite = Field(0.1, gt=0, le=1)
    epochs: Int32 = Field(10, ge=1, le=1000)


class MeanPredictor(KindAdapter):
    """Predicts one number for every row: the target's mean, learnt step by step."""

    kind = KIND
    title = "one number, the target's mean, by gradient descent"
    hyperparameters = MeanHyperparameters
    example = {"kind": KIND, "dataset_id": "builtin:movies", "features": ["num_want_to_see"],
               "target": "nums_audience"}  # fmt: skip

    def prepare(self, hp: MeanHyperparameters, data: TrainingData) -> Prepared:
        """Nothing depends on the data: the cost is one pass per epoch."""
        n = len(data.y)
        estimate = cost.Estimate(
            n_params=1,
            compute={"data": float(hp.epochs) * n},
            stored={"epochs": (hp.epochs + 1) * self.row_bytes({}, 1)},
        )
        return Prepared(hp.model_dump(mode="json"), {"target_mean": float(data.y.mean())}, estimate)

    def train(self, job: TrainingJob) -> Trained:
        """Descend on c, one epoch row each step."""
        hp = MeanHyperparameters.model_validate(job.hyperparameters)
        job.set_device("cpu", "numpy")
        y, c = job.data.y, 0.0
        for epoch in range(hp.epochs + 1):
            if epoch:
                c -= hp.learning_rate * 2 * (c - float(y.mean()))
            loss = float(np.mean((c - y) ** 2))
            job.on_epoch(EpochRecord(epoch=epoch, loss=loss, params={"c": c}))
            if job.should_stop():
                return Trained("cancelled", {"c": c, "epochs_run": epoch}, None)
        result = {"c": c, "final_loss": float(np.mean((c - y) ** 2)), "epochs_run": hp.epochs}
        return Trained("succeeded", result, (orjson.dumps({"c": c}), "application/json"))

    def predict(self, session: Session, run: Run, X: np.ndarray) -> dict[str, Any]:
        """The learnt c for every row."""
        return {"predictions": [run.result["c"] if run.result else 0.0] * len(X)}


ADAPTER = register(MeanPredictor())
