"""A run's cost, estimated at submission from the engine's own parameter count, and its limits.

Units (also in the README):
- `cost` counts multiply-adds: one per data row × model parameter × epoch (a forward pass;
  the backward pass and the update are a small constant factor more), plus BATCH_OVERHEAD
  per mini-batch (a step's fixed overhead, which makes `batch_size: 1` expensive) and, for
  MLP boundary snapshots, one per grid point × parameter. Full-batch regression reads the
  data once and then costs parameters² per epoch, as its engine does.
- `stored_bytes` is what the history will occupy: every epoch row (with `weights: "full"`
  every parameter as a JSON number), the uncompressed snapshot grids and the model files.
Above `max_run_cost` or `max_run_stored_bytes` the run is refused with a 422 that gives the
estimate, the limit and the hyperparameters to change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from descent_server.services.errors import InvalidInput
from descent_server.services.training_data import TrainingData
from descent_server.settings import get_settings

BATCH_OVERHEAD = 10_000  # a mini-batch step's fixed cost (~10 µs of numpy, more in Keras)
ROW_BYTES = 250  # an epoch row: keys, four metrics, JSON framing, its index entry
NUMBER_BYTES = 22  # one parameter or norm stored as a JSON number (measured ~22)
MODEL_BYTES_PER_PARAM = 16  # weights checkpoint + model file (float32, optimizer state)
HP = ("body", "hyperparameters")
REGRESSION = "linear_regression"
MAJOR = 0.1  # a term at least this share of the estimate is worth naming


@dataclass(frozen=True)
class Estimate:
    """A run's estimated compute (multiply-adds) and stored bytes, term by term."""

    n_params: int
    compute: dict[str, float]  # "data" (rows × params × epochs), "batches", "snapshots"
    stored: dict[str, int]  # "epochs", "weights", "snapshots", "model"

    @property
    def cost(self) -> float:
        """Return the total estimated multiply-adds."""
        return float(sum(self.compute.values()))

    @property
    def stored_bytes(self) -> int:
        """Return the total estimated stored bytes."""
        return int(sum(self.stored.values()))

    def to_analysis(self) -> dict[str, Any]:
        """Return the fields this estimate adds to run.analysis."""
        return {"cost": self.cost, "stored_bytes_estimate": self.stored_bytes}


def estimate(
    kind: str, hyperparameters: dict[str, Any], data: TrainingData, analysis: dict[str, Any]
) -> Estimate:
    """Return the estimate of a run whose hyperparameters are filled and analysis known."""
    if kind == REGRESSION:
        return _regression(hyperparameters, data)
    return _mlp(hyperparameters, data, analysis)


def _regression(hp: dict[str, Any], data: TrainingData) -> Estimate:
    n_rows, n_features = data.X.shape
    n_params = n_features + 1  # the engine's weights and bias
    epochs = int(hp["epochs"])
    batch = hp.get("batch_size")
    if batch is not None and batch < n_rows:
        compute = {
            "data": float(epochs) * n_rows * n_params,
            "batches": float(epochs) * math.ceil(n_rows / batch) * BATCH_OVERHEAD,
        }
    else:  # one pass over the data, then O(d²) per epoch (the engine's Quadratic)
        compute = {"data": float(n_rows) * n_params**2 + float(epochs) * n_params**2}
    stored = {"epochs": (epochs + 1) * epoch_row_bytes(REGRESSION, hp, n_params)}
    return Estimate(n_params=n_params, compute=compute, stored=stored)


def _mlp(hp: dict[str, Any], data: TrainingData, analysis: dict[str, Any]) -> Estimate:
    n_rows = len(data.X)
    n_params = int(analysis["n_params"])  # counted by the engine (mlp_analysis)
    epochs = int(hp["epochs"])
    train_rows = max(1, n_rows - round(n_rows * float(hp["validation_split"])))
    snapshots = hp["snapshots"]
    n_snapshots = 0
    if "extent" in analysis:  # epoch 0, every `every` epochs and the last one
        n_snapshots = epochs // int(snapshots["every"]) + 2
    grid = int(snapshots["resolution"]) ** 2
    compute = {
        "data": float(epochs) * n_rows * n_params,
        "batches": float(epochs) * math.ceil(train_rows / int(hp["batch_size"])) * BATCH_OVERHEAD,
        "snapshots": float(n_snapshots) * grid * n_params,
    }
    row = epoch_row_bytes("mlp_classifier", {**hp, "weights": "stats"}, n_params)
    full = epoch_row_bytes("mlp_classifier", hp, n_params) - row
    stored = {
        "epochs": (epochs + 1) * row,
        "weights": (epochs + 1) * full,
        "snapshots": n_snapshots * grid,
        "model": MODEL_BYTES_PER_PARAM * n_params,
    }
    return Estimate(n_params=n_params, compute=compute, stored=stored)


def epoch_row_bytes(kind: str, hyperparameters: dict[str, Any], n_params: int) -> int:
    """Return the estimated stored (and served) bytes of one epoch row of a run."""
    if kind == REGRESSION:
        return ROW_BYTES + NUMBER_BYTES * n_params  # params: every weight and the bias
    layers = len(hyperparameters["hidden_layers"]) + 1
    full = NUMBER_BYTES * n_params if hyperparameters.get("weights") == "full" else 0
    return ROW_BYTES + NUMBER_BYTES * 2 * layers + full  # grad and weight norms per layer


def check(kind: str, estimate: Estimate) -> None:
    """Refuse (422) a run whose estimate is above max_run_cost or max_run_stored_bytes."""
    settings = get_settings()
    if estimate.cost > settings.max_run_cost:
        names = ["epochs"]
        if kind != REGRESSION:
            names.append("hidden_layers")
        if _major(estimate.compute, "batches"):
            names.append("batch_size")
        if _major(estimate.compute, "snapshots"):
            names.append("snapshots")
        raise _refusal(
            names,
            f"estimated cost {estimate.cost:.3g} multiply-adds (rows × {estimate.n_params:,} "
            f"parameters × epochs + {BATCH_OVERHEAD:,} per batch) is above the limit of "
            f"{settings.max_run_cost:.3g}: {_advice(names)}",
        )
    if estimate.stored_bytes > settings.max_run_stored_bytes:
        names = ["epochs"]
        if _major(estimate.stored, "weights"):
            names.append("weights")
        if _major(estimate.stored, "snapshots"):
            names.append("snapshots")
        if _major(estimate.stored, "model"):
            names.append("hidden_layers")
        raise _refusal(
            names,
            f"estimated stored history {estimate.stored_bytes:,} bytes is above the limit of "
            f"{settings.max_run_stored_bytes:,} bytes: {_advice(names)}",
        )


def _major(terms: dict[str, Any], name: str) -> bool:
    total = sum(terms.values())
    return total > 0 and terms.get(name, 0) >= MAJOR * total


_ADVICE = {
    "epochs": "fewer epochs",
    "hidden_layers": "smaller hidden_layers",
    "batch_size": "a larger batch_size",
    "snapshots": "a larger snapshots.every or a smaller snapshots.resolution",
    "weights": 'weights: "stats"',
}


def _advice(names: list[str]) -> str:
    return "use " + ", ".join(_ADVICE[name] for name in names)


def _refusal(names: list[str], msg: str) -> InvalidInput:
    return InvalidInput([{"loc": [*HP, name], "msg": msg} for name in names])
