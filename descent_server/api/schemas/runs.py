"""Run request and response bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from descent_server.api.schemas.common import UtcDatetime
from descent_server.db.models import Run
from descent_server.domain import Kind, Status
from descent_server.services import kinds

# The run request: one schema per kind (its own hyperparameters, defaults, bounds and an
# example), told apart by `kind`. Built from the kinds registered when the app is made.
RunCreate = kinds.request_union()

__all__ = ["Kind", "RunCreate", "RunPage", "RunRead", "Status"]


class _Reported(BaseModel):
    """A JSON object the engines fill: the documented fields when present, plus any others."""

    model_config = ConfigDict(extra="allow")

    @model_serializer(mode="wrap")
    def _as_stored(self, handler: Any) -> Any:
        # Only what was stored: a regression's result has no accuracy key, not a null one.
        data = handler(self)
        keep = self.model_fields_set | set(self.model_extra or {})
        return {key: value for key, value in data.items() if key in keep}


class RunResult(_Reported):
    """What training produced (final values; which fields depends on the kind)."""

    final_loss: float | None = Field(None, description="loss at the last recorded epoch")
    epochs_run: int | None = Field(None, description="the last recorded epoch")
    params: dict[str, Any] | None = Field(
        None, description="linear_regression: a and b (or weights and bias), in data units"
    )
    least_squares: dict[str, Any] | None = Field(
        None, description="linear_regression: the exact optimum, for comparison"
    )
    final_val_loss: float | None = Field(None, description="MLPs: validation loss")
    accuracy: float | None = Field(None, description="mlp_classifier")
    val_accuracy: float | None = Field(None, description="mlp_classifier")
    classes: list[Any] | None = Field(None, description="mlp_classifier: class names in order")
    mae: float | None = Field(None, description="mlp_regressor: mean absolute error")
    val_mae: float | None = Field(None, description="mlp_regressor: validation MAE")


class RunAnalysis(_Reported):
    """What is known before training: stability, model size, snapshot grid, cost."""

    lr_max: float | None = Field(
        None, description="linear_regression: 2/λ_max, the largest stable full-batch rate"
    )
    lr_verdict: Literal["converges", "oscillates", "diverges"] | None = Field(
        None, description="linear_regression: what full-batch descent does at this rate"
    )
    n_params: int | None = Field(None, description="MLPs: trainable parameters")
    classes: list[Any] | None = Field(None, description="mlp_classifier: class names")
    snapshot_every: int | None = Field(None, description="MLPs: epochs between snapshots")
    extent: list[float] | None = Field(
        None, description="MLPs with snapshots: the grid's range of each feature"
    )
    resolution: int | None = Field(None, description="MLPs with snapshots: points per axis")
    cost: float | None = Field(None, description="estimated multiply-adds")
    stored_bytes_estimate: int | None = Field(None, description="estimated stored bytes")


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
    kind: str = Field(description="the model kind (see the run request's kinds)")
    status: Status
    dataset_id: str
    features: list[str]
    target: str
    hyperparameters: dict[str, Any]
    progress: Progress
    metrics: dict[str, float | None]
    result: RunResult | None
    analysis: RunAnalysis | None
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
            kind=run.kind,
            status=Status(run.status),
            dataset_id=run.dataset_id,
            features=run.features,
            target=run.target,
            hyperparameters=run.hyperparameters,
            progress=Progress(
                epoch=run.progress_epoch if run.progress_epoch >= 0 else None, epochs=run.epochs
            ),
            metrics=run.metrics or {},
            result=None if run.result is None else RunResult.model_validate(run.result),
            analysis=None if run.analysis is None else RunAnalysis.model_validate(run.analysis),
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
