"""Shared value types of the pure core: what an engine reports per epoch and how it is stopped."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(slots=True)
class EpochRecord:
    """The state of a model after `epoch` updates (epoch 0 = before training)."""

    epoch: int
    loss: float | None
    val_loss: float | None = None
    accuracy: float | None = None
    val_accuracy: float | None = None
    # MLP regressor: mean absolute error on the training and validation rows.
    mae: float | None = None
    val_mae: float | None = None
    # regression: {"a", "b"} for one feature, {"weights": [...], "bias"} for several;
    # MLP: {} unless weights="full" ({"layer_name/kernel": nested lists, ...}).
    params: Mapping[str, Any] = field(default_factory=dict)
    grad_norms: Mapping[str, float] = field(default_factory=dict)
    weight_norms: Mapping[str, float] = field(default_factory=dict)
    # MLP with ReLU hidden layers: per hidden layer, the share of units inactive on every
    # gradient row (for diagnostics; not stored with the epoch).
    dead_units: Mapping[str, float] = field(default_factory=dict)
    # MLP classifier with two features: predicted class index on a resolution² grid, uint8,
    # shape (resolution, resolution), rows = x2 values ascending, columns = x1 ascending.
    # MLP regressor with one feature: the fitted curve, float32 (resolution,), the predicted
    # target (in its own units) at x = linspace(xmin, xmax, resolution) over the extent.
    snapshot: np.ndarray | None = None


OnEpoch = Callable[[EpochRecord], None]
"""Progress callback: called once per recorded epoch, in order, epoch 0 first."""

ShouldStop = Callable[[], bool]
"""Polled between epochs and inside long ones; True stops training (status `cancelled`).

Stopped inside an epoch, that partial epoch is not recorded: the history ends at the last
whole epoch and the model returned is that epoch's."""


class InvalidData(ValueError):
    """The data cannot be trained on (one class, constant feature, wrong shape...)."""


def divergence_message(last_epoch: int) -> str:
    """Say where a diverged run stopped: the one wording of the API's error and the plots."""
    # The last recorded epoch: the one whose loss blew up past the bound, or the last sane one
    # before a step whose loss was not finite (that step is never recorded).
    return f"loss diverged: training stopped at epoch {last_epoch}"
