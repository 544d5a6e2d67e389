"""What a model kind is: its typed hyperparameters and the few things only it knows.

The rest of the service never compares kind strings: it asks the run's `KindAdapter` (see
`services/kinds/__init__.py` for the registry). A kind says how its target column becomes
`y`, fills data-dependent defaults and checks limits (`prepare`: hyperparameters, analysis
and cost estimate), picks a queue, trains in a worker, predicts and draws its own plots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.domain import INT32_MAX, NO_CONTROL_CHARS, Name
from descent_server.ml.diagnostics import Diagnostics
from descent_server.services import cost
from descent_server.services.cost import Estimate
from descent_server.services.errors import InvalidInput, NotFound
from descent_server.services.plot_data import PlotOptions
from descent_server.services.render_pool import Job
from descent_server.services.training_data import TrainingData, numeric_target
from descent_server.settings import get_settings

# Strict: a JSON string or boolean is not a number here ("0.1" and true are refused, as the
# schema says), while an integer is still a fine float.
Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]
# Integers are bounded to 32 bits (what the database's integer columns hold); settings add
# the real limits (max_epochs_*, max_layer_width, ...) with their own 422s.
Int32 = Annotated[int, Field(le=INT32_MAX, strict=True)]
Seed = Annotated[int, Field(ge=0, lt=2**32, strict=True, description="random seed")]
HP = ("body", "hyperparameters")


class Strict(BaseModel):
    """A hyperparameter model: unknown names are refused (with a hint, see `api/errors.py`)."""

    model_config = ConfigDict(extra="forbid")


class RunSpec(Strict):
    """The fields every run request has; each kind adds `kind` and typed `hyperparameters`."""

    dataset_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=NO_CONTROL_CHARS,
        description="a dataset id or builtin:NAME",
    )
    features: list[Name] = Field(min_length=1, max_length=100, description="input columns")
    target: Name = Field(description="the column to predict")
    name: Name | None = None
    device: Literal["auto", "cpu", "gpu"] = "auto"


@dataclass(frozen=True)
class Prepared:
    """A run request checked against its data: every hyperparameter, analysis and estimate."""

    hyperparameters: dict[str, Any]
    analysis: dict[str, Any]
    estimate: Estimate


@dataclass
class TrainingJob:
    """What a kind's `train` gets in the worker: the run, its data and the history's hooks."""

    run_id: str
    attempt: int  # > 1: a resumed attempt (the stored history says where to go on from)
    features: list[str]
    target: str
    hyperparameters: dict[str, Any]
    data: TrainingData
    on_epoch: Callable[[Any], None]
    on_model: Callable[[int, Any], None]
    should_stop: Callable[[], bool]
    set_device: Callable[[str, str], None]  # (device, backend), fenced by the lease
    last_epoch: Callable[[], dict[str, Any] | None]
    get_artifact: Callable[[str], Any]
    truncate: Callable[[int], None]  # drop epochs after this one (-1: all), fenced


@dataclass(frozen=True)
class Trained:
    """A training's outcome: final status, run.result and the model file (bytes, media type)."""

    status: str
    result: dict[str, Any]
    model: tuple[bytes, str] | None


class KindAdapter:
    """One model kind. Subclass, set the class attributes, implement the methods, `register`."""

    kind: ClassVar[str]
    title: ClassVar[str]  # one line for OpenAPI and docs
    hyperparameters: ClassVar[type[Strict]]
    example: ClassVar[dict[str, Any]]  # a whole request that a fresh server accepts (202)
    model_suffix: ClassVar[str] = ".json"  # of the file GET /model serves
    size_field: ClassVar[str | None] = None  # the hyperparameter that sizes the model, if any
    # Names a user may put in the wrong place → where they belong (the 422 says so).
    hints: ClassVar[Mapping[str, str]] = {}
    # The plots only this kind draws (beyond loss and params) → which of its runs have them.
    plots: ClassVar[Mapping[str, str]] = {}
    draws_params: ClassVar[bool] = False  # its own params.png (else: per-layer norms)

    @cached_property
    def request_model(self) -> type[RunSpec]:
        """Return this kind's run request model (`kind` fixed, typed hyperparameters)."""
        name = "".join(p.upper() if len(p) <= 3 else p.title() for p in self.kind.split("_"))
        name += "Run"
        tag: Any = Literal[str(self.kind)]
        model: type[RunSpec] = create_model(
            name,
            __base__=RunSpec,
            __doc__=f"A {self.kind} run: {self.title} (docs/api.md, Kinds).",
            kind=(tag, Field(description="the model kind")),
            hyperparameters=(
                self.hyperparameters,
                Field(default_factory=self.hyperparameters, description=self.title),
            ),
        )
        model.model_config["json_schema_extra"] = {"examples": [self.example]}
        return model

    def target(self, values: np.ndarray, name: str) -> tuple[np.ndarray, list[Any]]:
        """Return (y, class names) from the target column: a number per row by default."""
        return numeric_target(values, name), []

    def prepare(self, hp: Any, data: TrainingData) -> Prepared:
        """Fill data-dependent defaults, check the settings' limits, analyse and estimate."""
        raise NotImplementedError

    def analyze(self, hyperparameters: dict[str, Any], data: TrainingData) -> dict[str, Any]:
        """Return run.analysis for stored hyperparameters (a worker fills a missing one)."""
        return self.prepare(self.hyperparameters.model_validate(hyperparameters), data).analysis

    def row_bytes(self, hyperparameters: dict[str, Any], n_params: int) -> int:
        """Return the estimated stored (and served) bytes of one epoch row."""
        return cost.ROW_BYTES + cost.NUMBER_BYTES * n_params

    def route(self, *, device: str, n_rows: int, epochs: int) -> str:
        """Return the worker queue: "cpu" (whatever `device` asks) unless the kind uses a GPU."""
        return "cpu"

    def train(self, job: TrainingJob) -> Trained:
        """Train the run in a worker, handing every epoch to `job.on_epoch`."""
        raise NotImplementedError

    def diagnostics(self, job: TrainingJob) -> Diagnostics | None:
        """Return the rule engine that watches this run train (None: the kind has none)."""
        return None

    def predict(self, session: Session, run: Run, X: np.ndarray) -> dict[str, Any]:
        """Return `{"predictions": [...]}` (and what else the kind has) for rows X."""
        raise NotImplementedError

    def plot_applies(self, run: Run, name: str) -> bool:
        """Return whether `run` can ever have the kind-specific plot `name`."""
        return name in self.plots

    def plot_job(self, name: str, session: Session, run: Run, options: PlotOptions) -> Job:
        """Return the render job of the kind-specific plot `name` (in `plots`, or "params")."""
        raise NotFound(f"{name} is not a plot of {self.kind} runs")

    def snapshot(self, run: Run, raw: bytes) -> np.ndarray:
        """Decode a stored snapshot (the kinds that store snapshots override this)."""
        raise NotFound(f"{self.kind} runs store no snapshots")


def check_predict_size(rows: int, n_params: int) -> None:
    """Refuse (422 on `inputs`) more rows, or rows × model parameters, than the settings allow."""
    settings = get_settings()
    loc = ["body", "inputs"]
    if rows > settings.max_predict_rows:
        raise InvalidInput.at(loc, f"{rows} rows; at most {settings.max_predict_rows} per request")
    if rows * n_params > settings.max_predict_cells:
        most = max(1, settings.max_predict_cells // n_params)
        raise InvalidInput.at(
            loc,
            f"{rows} rows × {n_params} model parameters = {rows * n_params:,} is above the "
            f"limit of {settings.max_predict_cells:,}: send at most {most} rows per request",
        )
