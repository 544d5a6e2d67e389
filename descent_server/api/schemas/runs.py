"""Run request and response bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from descent_server.api.schemas.common import NO_CONTROL_CHARS, Name, UtcDatetime
from descent_server.db.models import Run

Kind = Literal["linear_regression", "mlp_classifier"]
Status = Literal["queued", "running", "succeeded", "diverged", "failed", "cancelled"]


class RunCreate(BaseModel):
    """A run request. Hyperparameters are checked per kind (unknown names are rejected)."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    dataset_id: str = Field(
        min_length=1, max_length=64, pattern=NO_CONTROL_CHARS, description="A uuid or builtin:NAME"
    )
    features: list[Name] = Field(min_length=1, max_length=100)
    target: Name
    name: Name | None = None
    device: Literal["auto", "cpu", "gpu"] = "auto"
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        description="See API.md: linear_regression or mlp_classifier hyperparameters.",
    )


class Progress(BaseModel):
    """The last stored epoch (null before epoch 0) out of all epochs."""

    epoch: int | None
    epochs: int


class RunError(BaseModel):
    """Why a run failed or diverged."""

    code: str
    message: str = ""


class RunRead(BaseModel):
    """A run as clients see it."""

    id: str
    name: str | None
    kind: Kind
    status: Status
    dataset_id: str
    features: list[str]
    target: str
    hyperparameters: dict[str, Any]
    progress: Progress
    metrics: dict[str, float | None]
    result: dict[str, Any] | None
    analysis: dict[str, Any] | None
    error: RunError | None
    device: str | None
    backend: str | None
    device_request: Literal["auto", "cpu", "gpu"]
    queue: str
    attempt: int
    cancel_requested: bool
    sweep_id: str | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None

    @classmethod
    def of(cls, run: Run) -> RunRead:
        """Build the response from a run row."""
        return cls(
            id=run.id,
            name=run.name,
            kind=run.kind,  # type: ignore[arg-type]
            status=run.status,  # type: ignore[arg-type]
            dataset_id=run.dataset_id,
            features=run.features,
            target=run.target,
            hyperparameters=run.hyperparameters,
            progress=Progress(
                epoch=run.progress_epoch if run.progress_epoch >= 0 else None, epochs=run.epochs
            ),
            metrics=run.metrics or {},
            result=run.result,
            analysis=run.analysis,
            error=RunError.model_validate(run.error) if run.error else None,
            device=run.device,
            backend=run.backend,
            device_request=run.device_request,  # type: ignore[arg-type]
            queue=run.queue,
            attempt=run.attempt,
            cancel_requested=run.cancel_requested,
            sweep_id=run.sweep_id,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )


class RunPage(BaseModel):
    """One page of runs, newest first."""

    items: list[RunRead]
    next_cursor: str | None = None
