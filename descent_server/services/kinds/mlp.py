"""What the two Keras MLP kinds share: hyperparameters, limits, cost, queue, training loop.

`mlp_classifier` and `mlp_regressor` subclass `MLPKind`; each says its loss choices, how its
target becomes y, what its result holds, how it predicts and which snapshot plots it draws.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import tempfile
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.ml.diagnostics import Diagnostics
from descent_server.services import cost
from descent_server.services.errors import InvalidInput, NotFound
from descent_server.services.kinds.base import (
    HP,
    Finite,
    Int32,
    KindAdapter,
    Prepared,
    Seed,
    Strict,
    Trained,
    TrainingJob,
)
from descent_server.services.plot_data import PlotOptions, snapshot_epochs
from descent_server.services.routing import route_queue
from descent_server.services.training_data import TrainingData
from descent_server.settings import get_settings

log = logging.getLogger(__name__)

# The MLP "weights" checkpoint and this one beside it (same epoch): the optimizer's variables
# and the seed, without which a resumed Adam, RMSprop or momentum run would not be exact.
STATE = "training_state"


class Optimizer(Strict):
    """The Keras optimizer of an MLP."""

    name: Literal["sgd", "adam", "rmsprop"] = Field("sgd", description="Keras optimizer")
    learning_rate: Finite = Field(0.01, gt=0, le=1e3, description="optimizer step size")
    momentum: Finite = Field(0.0, ge=0, lt=1, description="SGD momentum")


class Snapshots(Strict):
    """Snapshots of what the model predicts over its inputs' range, every n epochs."""

    every: Int32 = Field(1, ge=1, description="store a snapshot every n epochs")
    resolution: Int32 = Field(100, ge=2, description="grid points per axis")


class MLPHyperparameters(Strict):
    """A Keras multi-layer perceptron."""

    hidden_layers: list[Annotated[Int32, Field(ge=1)]] = Field(
        default_factory=lambda: [40, 40],
        max_length=1000,
        description="units per hidden layer",
        json_schema_extra={"default": [40, 40]},  # a factory's value is not in the schema
    )
    activation: Literal[
        "relu", "tanh", "sigmoid", "linear", "elu", "selu", "gelu", "softplus", "swish"
    ] = Field("relu", description="hidden-layer activation")
    optimizer: Optimizer = Field(default_factory=lambda: Optimizer.model_validate({}))
    batch_size: Int32 = Field(32, ge=1, description="rows per step")
    epochs: Int32 = Field(20, ge=1, description="passes over the data (server max applies)")
    validation_split: Finite = Field(0.1, ge=0, lt=1, description="share of rows held out")
    validation: Literal["stratified", "tail"] = Field(
        "stratified", description="tail: the last rows, as Keras' validation_split takes them"
    )
    normalize: Literal["none", "minmax", "standard"] = Field("minmax", description="scale features")
    seed: Seed = Field(0, description="initialisation seed")
    snapshots: Snapshots = Field(default_factory=lambda: Snapshots.model_validate({}))
    weights: Literal["stats", "full"] = Field(
        "stats", description="stats: per-layer norms; full: every weight every epoch"
    )


MLP_HINTS = {
    "learning_rate": "optimizer.learning_rate",
    "lr": "optimizer.learning_rate",
    "momentum": "optimizer.momentum",
    "layers": "hidden_layers",
    "hidden": "hidden_layers",
    "resolution": "snapshots.resolution",
    "snapshot_every": "snapshots.every",
}


class MLPKind(KindAdapter):
    """The MLP kinds' shared part; subclasses set `task` and what differs."""

    task: ClassVar[str]  # the engine's task: "classification" | "regression"
    model_suffix = ".keras"
    size_field = "hidden_layers"
    hints = MLP_HINTS
    result_metrics: ClassVar[tuple[str, ...]]  # final metrics copied into run.result
    snapshot_bytes: ClassVar[int]  # stored bytes per snapshot point

    def config(self, hp: Any) -> Any:
        """Return the engine's MLPConfig of a typed hyperparameter model (the one place)."""
        from descent_server.ml.mlp_config import MLPConfig

        return MLPConfig(
            task=self.task,
            hidden_layers=tuple(hp.hidden_layers),
            activation=hp.activation,
            output=getattr(hp, "output", "auto"),
            loss=hp.loss,
            optimizer=hp.optimizer.name,
            learning_rate=hp.optimizer.learning_rate,
            momentum=hp.optimizer.momentum,
            batch_size=hp.batch_size,
            epochs=hp.epochs,
            validation_split=hp.validation_split,
            validation=hp.validation,
            normalize=hp.normalize,
            seed=hp.seed,
            snapshot_every=hp.snapshots.every,
            snapshot_resolution=hp.snapshots.resolution,
            weights=hp.weights,
        )

    def check(self, hp: Any, data: TrainingData) -> None:
        """Refuse what the kind cannot train on this data (subclasses add their own)."""

    def prepare(self, hp: Any, data: TrainingData) -> Prepared:
        """Check the settings' limits, count parameters with the engine, estimate the cost."""
        from descent_server.ml.mlp import mlp_analysis

        settings = get_settings()
        n_rows = len(data.X)
        if hp.epochs > settings.max_epochs_mlp:
            raise InvalidInput.at([*HP, "epochs"], f"at most {settings.max_epochs_mlp}")
        if len(hp.hidden_layers) > settings.max_hidden_layers:
            raise InvalidInput.at(
                [*HP, "hidden_layers"], f"at most {settings.max_hidden_layers} layers"
            )
        for index, width in enumerate(hp.hidden_layers):
            if width > settings.max_layer_width:
                raise InvalidInput.at(
                    [*HP, "hidden_layers", index], f"at most {settings.max_layer_width} units"
                )
        if hp.snapshots.resolution > settings.max_snapshot_resolution:
            raise InvalidInput.at(
                [*HP, "snapshots", "resolution"], f"at most {settings.max_snapshot_resolution}"
            )
        if int(n_rows * (1 - hp.validation_split)) < 1:
            raise InvalidInput.at([*HP, "validation_split"], "leaves no rows to train on")
        self.check(hp, data)
        try:
            analysis = mlp_analysis(data.X, data.classes, self.config(hp))
        except ValueError as exc:
            raise InvalidInput.at(list(HP), str(exc)) from None
        n_params = int(analysis["n_params"])  # the engine's own count
        if hp.weights == "full" and n_params > settings.max_full_weights:
            raise InvalidInput.at(
                [*HP, "weights"],
                f"'full' is allowed up to {settings.max_full_weights} parameters; "
                f"this has {n_params}",
            )
        filled = hp.model_dump(mode="json")
        return Prepared(filled, analysis, self.estimate(filled, n_rows, analysis))

    def estimate(self, hp: dict[str, Any], n_rows: int, analysis: dict[str, Any]) -> cost.Estimate:
        """Return the run's compute and stored bytes, from the engine's parameter count."""
        n_params = int(analysis["n_params"])
        epochs = int(hp["epochs"])
        train_rows = max(1, n_rows - round(n_rows * float(hp["validation_split"])))
        n_snapshots = points = 0
        if "extent" in analysis:  # epoch 0, every `every` epochs and the last one
            n_snapshots = epochs // int(hp["snapshots"]["every"]) + 2
            points = int(analysis["resolution"]) ** (len(analysis["extent"]) // 2)
        batches = float(epochs) * math.ceil(train_rows / int(hp["batch_size"]))
        compute = {
            "data": float(epochs) * n_rows * n_params,
            "batches": batches * cost.BATCH_OVERHEAD,
            "snapshots": float(n_snapshots) * points * n_params,
        }
        row = self.row_bytes({**hp, "weights": "stats"}, n_params)
        stored = {
            "epochs": (epochs + 1) * row,
            "weights": (epochs + 1) * (self.row_bytes(hp, n_params) - row),
            "snapshots": n_snapshots * points * self.snapshot_bytes,
            "model": cost.MODEL_BYTES_PER_PARAM * n_params,
        }
        return cost.Estimate(n_params=n_params, compute=compute, stored=stored)

    def row_bytes(self, hyperparameters: dict[str, Any], n_params: int) -> int:
        """One epoch row: metrics, a weight and a gradient norm per layer, every weight if full."""
        layers = len(hyperparameters["hidden_layers"]) + 1
        full = cost.NUMBER_BYTES * n_params if hyperparameters.get("weights") == "full" else 0
        return cost.ROW_BYTES + cost.NUMBER_BYTES * 2 * layers + full

    def analyze(self, hyperparameters: dict[str, Any], data: TrainingData) -> dict[str, Any]:
        """Return the engine's analysis of stored hyperparameters (no limits checked again)."""
        from descent_server.ml.mlp import mlp_analysis

        hp = self.hyperparameters.model_validate(hyperparameters)
        return mlp_analysis(data.X, data.classes, self.config(hp))  # type: ignore[no-any-return]

    def route(self, *, device: str, n_rows: int, epochs: int) -> str:
        """A GPU when asked, or when the job is big enough to pay for it."""
        settings = get_settings()
        return route_queue(
            device=device, n_rows=n_rows, epochs=epochs,
            gpu_workers=settings.gpu_workers, gpu_min_samples=settings.gpu_min_samples,
        )  # fmt: skip

    def train(self, job: TrainingJob) -> Trained:
        """Train with Keras; a resumed attempt goes on from the stored checkpoint (exactly,
        with the optimizer's state, when one of that epoch is stored)."""
        from descent_server.ml import mlp
        from descent_server.ml.keras_backend import device_info

        job.set_device(*device_info())
        hp: Any = self.hyperparameters.model_validate(job.hyperparameters)
        config = self.config(hp)
        initial, start = None, 0
        if job.attempt > 1:
            stored = job.get_artifact("weights")
            if stored is not None and stored.epoch is not None and 1 <= stored.epoch <= hp.epochs:
                # Resume from the checkpoint, dropping epochs recorded after it.
                initial, start = mlp.MLPModel.from_bytes(stored.content), stored.epoch
                initial = _with_state(job, initial, start)
            job.truncate(start if initial else -1)
            how = "exactly" if initial and initial.state else "from the weights alone"
            log.info(
                "run %s %s",
                job.run_id,
                f"resumes at epoch {start} {how}" if initial else "restarts",
            )
        trained = mlp.train_mlp(
            job.data.X, job.data.y, job.data.classes, config,
            on_epoch=job.on_epoch, should_stop=job.should_stop, on_model=job.on_model,
            initial_model=initial, start_epoch=start,
            cancel_check_s=get_settings().cancel_check_s,
        )  # fmt: skip
        job.on_model(trained.epochs_run, trained.model)
        result = {
            "final_loss": trained.metrics.get("loss"),
            "final_val_loss": trained.metrics.get("val_loss"),
            **{name: trained.metrics.get(name) for name in self.result_metrics},
            **self.result_extra(job.data),
            "epochs_run": trained.epochs_run,
        }
        model = (_keras_file(trained.keras_model), "application/octet-stream")
        return Trained(trained.status, result, model)

    def diagnostics(self, job: TrainingJob) -> Diagnostics:
        """Watch with the config it trains with: scales, both splits' classes (seeded)."""
        from descent_server.ml.diagnostics import mlp_diagnostics

        hp: Any = self.hyperparameters.model_validate(job.hyperparameters)
        data = job.data
        return mlp_diagnostics(data.X, data.y, data.classes, self.config(hp), hp.seed, job.features)

    def result_extra(self, data: TrainingData) -> dict[str, Any]:
        """Return what else run.result holds for this kind (e.g. the class names)."""
        return {}

    def stored_model(self, session: Session, run: Run) -> Any:
        """Return the run's latest stored weights as an MLPModel (409 before any)."""
        from descent_server.ml.mlp_model import MLPModel
        from descent_server.repository import history as repo
        from descent_server.services.errors import NotReady

        weights = repo.get_artifact(session, run.id, "weights")
        if weights is None:
            raise NotReady(f"run {run.id} has no trained weights yet")
        return MLPModel.from_bytes(weights.content)

    def snapshot_frames(self, session: Session, run: Run, options: PlotOptions) -> list[int]:
        """Return the snapshot epochs a film shows (at most options.frames, last kept)."""
        from descent_server.services.plot_data import chosen_frames

        return chosen_frames(snapshot_epochs(session, run), options.frames)

    def snapshot_at(self, session: Session, run: Run, epoch: int) -> np.ndarray:
        """Return the decoded snapshot of `epoch` (404 when none was stored then)."""
        from descent_server.repository import history as repo

        raw = repo.get_snapshot(session, run.id, epoch)
        if raw is None:
            raise NotFound(f"run {run.id} has no snapshot at epoch {epoch}")
        return self.snapshot(run, raw)


def _with_state(job: TrainingJob, model: Any, epoch: int) -> Any:
    """Return the checkpoint's model with its training state, if one of its epoch is stored."""
    from descent_server.ml.mlp_model import TrainingState

    stored = job.get_artifact(STATE)
    if stored is None or stored.epoch != epoch:  # none yet, or older than the final weights
        return model
    return dataclasses.replace(model, state=TrainingState.from_bytes(stored.content))


def _keras_file(keras_model: Any) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        keras_model.save(path)
        return path.read_bytes()
