"""Sweep request and response bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from descent_server.api.schemas.common import Name, UtcDatetime, name_keys
from descent_server.api.schemas.runs import RunCreate, RunRead
from descent_server.domain import INT32_MAX, Status

SweepStatus = Literal[Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.CANCELLED]
AXES_DOC = (
    "Hyperparameter → a list of values, or (random search only) a distribution: "
    '{"log_uniform": [lo, hi]}, {"uniform": [lo, hi]}, {"int_uniform": [lo, hi]} or '
    '{"choice": [...]}. Dotted names reach nested ones ("optimizer.learning_rate"). '
    'The learning rate may be {"around": "<lr range test id>"}: suggestion/10 … ×3, '
    "log-spaced (5 values in a grid, log_uniform in a random search)."
)


class EarlyStop(BaseModel):
    """Stop runs clearly worse than their peers at the same epoch (rungs min_epochs·rf^k)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["asha", "median"] = "asha"
    metric: Literal["val_loss", "loss"] = "val_loss"
    min_epochs: int = Field(5, ge=1, le=INT32_MAX)
    reduction_factor: int = Field(3, ge=2, le=1000)


class SweepCreate(BaseModel):
    """A base run request and the search: one run per grid combination or random draw."""

    model_config = ConfigDict(extra="forbid")

    run: RunCreate
    strategy: Literal["grid", "random"] = "grid"
    axes: dict[Name, Any] | None = Field(
        None, description=AXES_DOC, json_schema_extra=lambda schema: name_keys(schema)
    )
    grid: dict[Name, Any] | None = Field(
        None,
        description="The axes of a grid sweep, as older clients send them "
        '(e.g. {"learning_rate": [0.001, 1e-12, 2e-10]}).',
        json_schema_extra=lambda schema: name_keys(schema),
    )
    n_runs: int | None = Field(None, ge=1, le=INT32_MAX, description="random: how many runs")
    seed: int | None = Field(
        None, ge=0, le=2**63 - 1, description="random: the same seed draws the same runs"
    )
    early_stop: EarlyStop | None = None
    name: Name | None = None


class SweepRunRead(RunRead):
    """A run of a sweep, with the values the sweep gave it."""

    swept: dict[str, Any] = Field(default_factory=dict, description="{dotted name: value}")


class SweepRead(BaseModel):
    """A sweep: running until every run is final; the best run has the lowest final loss."""

    id: str
    name: str | None
    status: SweepStatus
    strategy: Literal["grid", "random"]
    axes: dict[str, Any]
    grid: dict[str, Any] = Field(description="the same as axes (kept for older clients)")
    seed: int | None
    early_stop: EarlyStop | None
    runs: list[SweepRunRead]
    best_run_id: str | None
    counts: dict[str, int] = Field(description="how many runs are in each status")
    epochs_saved: int = Field(description="epochs not trained thanks to early stopping")
    created_at: UtcDatetime


class SweepPage(BaseModel):
    """One page of sweeps, newest first."""

    items: list[SweepRead]
    next_cursor: str | None = None
