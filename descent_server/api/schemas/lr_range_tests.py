"""Learning-rate range test request and response bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from descent_server.api.schemas.common import UtcDatetime
from descent_server.api.schemas.runs import RunCreate
from descent_server.db.models import LrRangeTest
from descent_server.domain import Status

LrRangeStatus = Literal[Status.QUEUED, Status.RUNNING, Status.SUCCEEDED, Status.FAILED]


class LrRangeTestCreate(BaseModel):
    """A run request to test, and the learning rates to sweep through, one per mini-batch."""

    model_config = ConfigDict(extra="forbid")

    run: RunCreate
    min_lr: float = Field(1e-7, gt=0, allow_inf_nan=False, description="the first rate")
    max_lr: float = Field(10.0, gt=0, allow_inf_nan=False, description="the last rate (> min_lr)")
    steps: int = Field(100, ge=10, le=10_000, description="mini-batches, one rate each")


class LrPoint(BaseModel):
    """One mini-batch: its learning rate and the smoothed loss measured before its update."""

    learning_rate: float
    loss: float


class LrRangeTestRead(BaseModel):
    """A range test: its curve and the suggested learning rate once it has succeeded."""

    id: str
    status: LrRangeStatus
    kind: str
    min_lr: float
    max_lr: float
    steps: int
    points: list[LrPoint] = Field(default_factory=list)
    suggested_learning_rate: float | None = Field(
        None, description="a constant rate a whole run should survive (the rule says why)"
    )
    rule: str | None = Field(None, description='"steepest", "minimum/10" or "curvature"')
    stopped_early: bool | None = Field(None, description="the loss exploded before max_lr")
    lr_max: float | None = Field(None, description="linear regression: 2/λ_max of the loss")
    run: dict[str, Any] = Field(description="the run request, every hyperparameter filled")
    error: dict[str, Any] | None = None
    created_at: UtcDatetime
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None

    @classmethod
    def of(cls, test: LrRangeTest) -> LrRangeTestRead:
        """Build the response of a stored range test."""
        result = test.result or {}
        return cls(
            id=test.id, status=test.status, kind=test.kind,  # type: ignore[arg-type]
            min_lr=test.min_lr, max_lr=test.max_lr, steps=test.steps,
            points=result.get("points") or [],
            suggested_learning_rate=result.get("suggested_learning_rate"),
            rule=result.get("rule"), stopped_early=result.get("stopped_early"),
            lr_max=result.get("lr_max"), run=test.request, error=test.error,
            created_at=test.created_at, started_at=test.started_at,
            finished_at=test.finished_at,
        )  # fmt: skip


class LrRangeTestPage(BaseModel):
    """One page of range tests, newest first."""

    items: list[LrRangeTestRead]
    next_cursor: str | None = None
