"""A run's cost and its limits; each kind (`services/kinds/`) makes its own estimate.

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

from dataclasses import dataclass
from typing import Any

from descent_server.services.errors import InvalidInput
from descent_server.settings import get_settings

BATCH_OVERHEAD = 10_000  # a mini-batch step's fixed cost (~10 µs of numpy, more in Keras)
ROW_BYTES = 250  # an epoch row: keys, four metrics, JSON framing, its index entry
NUMBER_BYTES = 22  # one parameter or norm stored as a JSON number (measured ~22)
MODEL_BYTES_PER_PARAM = 16  # weights checkpoint + model file (float32, optimizer state)
HP = ("body", "hyperparameters")
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


def check(estimate: Estimate, size_field: str | None = None) -> None:
    """Refuse (422) a run whose estimate is above max_run_cost or max_run_stored_bytes.

    `size_field` names the hyperparameter that sizes the model, if any (an MLP's layers).
    """
    settings = get_settings()
    if estimate.cost > settings.max_run_cost:
        names = ["epochs"]
        if size_field is not None:
            names.append(size_field)
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
        if _major(estimate.stored, "model") and size_field is not None:
            names.append(size_field)
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
    return "use " + ", ".join(_ADVICE.get(name, f"a smaller {name}") for name in names)


def _refusal(names: list[str], msg: str) -> InvalidInput:
    return InvalidInput([{"loc": [*HP, name], "msg": msg} for name in names])
