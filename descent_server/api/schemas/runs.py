"""Run request and response bodies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_serializer

from descent_server.api.schemas.common import UtcDatetime
from descent_server.db.models import Run
from descent_server.domain import NO_CONTROL_CHARS, Kind, Name, Status
from descent_server.ml.diagnostics import CODES
from descent_server.services import kinds

# The run request: one schema per kind (its own hyperparameters, defaults, bounds and an
# example), told apart by `kind`. Built from the kinds registered when the app is made.
RunCreate = kinds.request_union()

__all__ = [
    "Diagnosis", "Kind", "RunClone", "RunComparison", "RunCreate", "RunPage", "RunRead",
    "RunUpdate", "Status",
]  # fmt: skip

TAG_MAX = 50
TAGS_MAX = 20
NOTES_MAX = 10_000
# A tag: 1-50 printable characters.
Tag = Annotated[str, StringConstraints(min_length=1, max_length=TAG_MAX, pattern=NO_CONTROL_CHARS)]
# Notes may hold line breaks and tabs, but no other control character.
Notes = Annotated[
    str, StringConstraints(max_length=NOTES_MAX, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")
]


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


class Diagnosis(BaseModel):
    """One thing the diagnostics found while the run trained, in plain words with its numbers."""

    code: str = Field(
        description="what was found: " + ", ".join(CODES), examples=["unscaled_features"]
    )
    severity: Literal["info", "warning", "error"]
    epoch: int = Field(description="the epoch it was found at")
    message: str = Field(description="what happened, in plain words")
    hint: str = Field(description="what to change")
    evidence: dict[str, bool | int | float | str | list[float] | None] = Field(
        description="the numbers behind it (finite, or null)"
    )


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
    dataset_name: str | None = Field(description="the dataset's name at submit (a builtin's NAME)")
    tags: list[str]
    notes: str | None
    parent_run_id: str | None = Field(description="the run this one was cloned from")
    duration_s: float | None = Field(description="seconds from start to finish; null while live")
    diagnostics: list[Diagnosis] = Field(
        description="what the diagnostics found while it trained, in the order found"
    )
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
            dataset_name=run.dataset_name,
            tags=list(run.tags or []),
            notes=run.notes,
            parent_run_id=run.parent_run_id,
            duration_s=run.duration_s,
            diagnostics=[Diagnosis.model_validate(d) for d in run.diagnostics or []],
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )


class RunPage(BaseModel):
    """One page of runs, in the order asked for (newest first by default)."""

    items: list[RunRead]
    next_cursor: str | None = None


class RunUpdate(BaseModel):
    """What the owner may change on a run of any status; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(None, description="null clears the name")
    tags: list[Tag] | None = Field(
        None,
        max_length=TAGS_MAX,
        description="replaces every tag (duplicates kept once); null or [] removes them",
    )
    notes: Notes | None = Field(None, description="free text; null clears it")

    def changes(self) -> dict[str, Any]:
        """Return the columns to set: only the fields the client sent."""
        values = self.model_dump(include=self.model_fields_set)
        if "tags" in values:
            values["tags"] = list(dict.fromkeys(values["tags"] or []))
        return values


class RunClone(BaseModel):
    """A copy of a run with some changes; everything else is the parent's."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(None, description='default: the parent\'s name + " (clone)"')
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        max_length=100,
        description="overrides of the parent's values; dotted names reach nested ones, e.g. "
        '{"optimizer.learning_rate": 0.1}',
    )
    dataset_id: str | None = Field(
        None, min_length=1, max_length=64, pattern=NO_CONTROL_CHARS,
        description="another dataset with the same features and target",
    )  # fmt: skip


class RunComparison(BaseModel):
    """Runs side by side: what differs between them and their final metrics."""

    runs: list[RunRead]
    differs: dict[str, list[Any]] = Field(
        description="each differing hyperparameter (dotted name), kind, dataset_id, features "
        "or target → its value per run, in the order of `runs`"
    )
    metrics: dict[str, list[float | None]] = Field(description="metric → its value per run")
