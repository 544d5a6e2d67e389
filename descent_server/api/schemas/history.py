"""Bodies of history, snapshots, loss surface and predict."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]  # no "1" and no true


class EpochRow(BaseModel):
    """The state after `epoch` updates (epoch 0 = before training)."""

    epoch: int
    loss: float | None = None
    val_loss: float | None = None
    accuracy: float | None = None
    val_accuracy: float | None = None
    recorded_at: datetime | None = Field(
        default=None,
        description="when the worker got this epoch's numbers (epochs a regression computes "
        "in one go share about one time); null for epochs stored before it was recorded",
    )
    params: dict[str, Any] = Field(default_factory=dict)
    grad_norms: dict[str, float | None] = Field(default_factory=dict)
    weight_norms: dict[str, float | None] = Field(default_factory=dict)


class HistoryPage(BaseModel):
    """Epochs in order; pass `next_since_epoch` as `since_epoch` for the next page."""

    run_id: str
    epochs: list[EpochRow]
    next_since_epoch: int | None = None


class SnapshotList(BaseModel):
    """Which epochs have a snapshot, and how to read them."""

    epochs: list[int]
    extent: list[float] = Field(
        description="[x1min, x1max, x2min, x2max] (classifier) or [xmin, xmax] (regressor)"
    )
    resolution: int
    classes: list[Any] = Field(description="class names (classifier); empty for a regressor")
    projection: dict[str, Any] | None = Field(
        None,
        description="more than two features: the PCA plane the grid lies on "
        '({"kind": "pca", "mean", "components", "explained_variance_ratio", ...}); the '
        "extent is then in (PC1, PC2) coordinates",
    )


class SnapshotGrid(BaseModel):
    """A classifier's predicted class indices, row-major (x2 rows × x1 columns), or a
    regressor's predictions at `resolution` points from xmin to xmax (one row)."""

    epoch: int
    grid: list[list[int]] | list[list[float | None]]


class Optimum(BaseModel):
    """A point of the loss surface."""

    a: float | None
    b: float | None
    loss: float | None


class LossSurface(BaseModel):
    """The loss over a grid of (a, b): loss[i][j] is at (a[j], b[i])."""

    a: list[float]
    b: list[float]
    loss: list[list[float | None]]
    optimum: Optimum
    grid_optimum: Optimum


class PredictRequest(BaseModel):
    """Rows of inputs (`[[x1, x2], ...]`), or plain values for a one-feature run."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[list[Finite]] | list[Finite] = Field(min_length=1, max_length=100_000)

    @field_validator("inputs")
    @classmethod
    def _rectangular(cls, inputs: list[Any]) -> list[Any]:
        # A ragged table is no matrix: refuse it here, naming the first row that differs.
        if inputs and isinstance(inputs[0], list):
            width = len(inputs[0])
            for index, row in enumerate(inputs):
                if len(row) != width:
                    raise ValueError(f"row {index} has {len(row)} values, row 0 has {width}")
        return inputs


class PredictResponse(BaseModel):
    """Predictions (class names for a classifier) and class probabilities in `classes` order."""

    predictions: list[Any]
    probabilities: list[list[float | None]] | None = None
    classes: list[Any] | None = None
