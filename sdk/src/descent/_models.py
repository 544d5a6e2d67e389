"""Typed views of the API's JSON objects (plain dataclasses; `raw` keeps every field)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

from ._diagnostics import Diagnosis, diagnoses_from_json
from ._domain import FINAL_STATUSES, LIVE_STATUSES, Status

__all__ = [
    "BuiltinDataset",
    "Column",
    "Dataset",
    "LossSurface",
    "Plot",
    "Prediction",
    "Progress",
    "RunArgs",
    "RunFields",
    "Snapshots",
    "SweepFields",
]


def parse_time(value: Any) -> datetime | None:
    """Parse an RFC 3339 timestamp (None stays None)."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass
class Column:
    """One column of a dataset."""

    name: str
    dtype: str
    min: float | None = None
    max: float | None = None
    n_unique: int | None = None


@dataclass
class Dataset:
    """An uploaded (or builtin) dataset; pass it, or its id, as `dataset=`."""

    id: str
    name: str
    n_rows: int | None = None
    columns: list[Column] = field(default_factory=list)
    sha256: str | None = None
    created_at: datetime | None = None
    # Builtins say what they are for: kind, features and target.
    kind: str | None = None
    features: list[str] | None = None
    target: str | None = None
    description: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dataset:
        """Build a Dataset from its API JSON."""
        columns = [
            Column(**{k: c.get(k) for k in ("name", "dtype", "min", "max", "n_unique")})
            for c in data.get("columns") or []
        ]
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            n_rows=data.get("n_rows"),
            columns=columns,
            sha256=data.get("sha256"),
            created_at=parse_time(data.get("created_at")),
            kind=data.get("kind"),
            features=data.get("features"),
            target=data.get("target"),
            description=data.get("description"),
            raw=data,
        )

    @property
    def column_names(self) -> list[str]:
        """Return the names of the columns in order."""
        return [c.name for c in self.columns]


class RunArgs(TypedDict):
    """What a builtin dataset is for: `client.runs.create(**args, ...)` or a sweep's `run=`."""

    kind: str
    dataset: Dataset
    features: list[str]
    target: str


@dataclass
class BuiltinDataset(Dataset):
    """A course dataset: the server always says its kind, features and target."""

    kind: str = ""
    features: list[str] = field(default_factory=list)
    target: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuiltinDataset:
        """Build a BuiltinDataset from its API JSON."""
        base = Dataset.from_json(data)
        values = {f.name: getattr(base, f.name) for f in fields(Dataset)}
        values.update(
            kind=data.get("kind") or "",
            features=list(data.get("features") or []),
            target=data.get("target") or "",
        )
        return cls(**values)

    def run_args(self) -> RunArgs:
        """Return the run this dataset was made for: its kind, itself, features and target."""
        return RunArgs(kind=self.kind, dataset=self, features=self.features, target=self.target)


@dataclass
class Progress:
    """How far a run is: last stored `epoch` (None before epoch 0) of `epochs`."""

    epoch: int | None
    epochs: int


@dataclass(repr=False)
class RunFields:
    """The fields of a Run (shared by the sync `Run` and the `AsyncRun`).

    `result` is {} until the run is final (the server sends null), so
    `run.result["params"]` type-checks; `metrics` holds the latest epoch's values;
    `diagnostics` says why it is (or isn't) learning, found while it trains.
    """

    id: str
    kind: str
    status: str
    name: str | None = None
    dataset_id: str | None = None
    features: list[str] = field(default_factory=list)
    target: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    progress: Progress = field(default_factory=lambda: Progress(None, 0))
    metrics: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    device: str | None = None
    backend: str | None = None
    attempt: int = 0
    sweep_id: str | None = None
    # Across runs: labels, the run it was cloned from, and (in a sweep) the values it tried.
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    parent_run_id: str | None = None
    duration_s: float | None = None
    dataset_name: str | None = None
    swept: dict[str, Any] = field(default_factory=dict)
    diagnostics: list[Diagnosis] = field(default_factory=list)
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @staticmethod
    def parse(data: dict[str, Any]) -> dict[str, Any]:
        """Return constructor keyword arguments from a Run's API JSON."""
        progress = data.get("progress") or {}
        names = {f.name for f in fields(RunFields)} - {"progress", "raw"}
        values = {k: data[k] for k in names if k in data}
        for key in ("created_at", "started_at", "finished_at"):
            values[key] = parse_time(data.get(key))
        values["progress"] = Progress(progress.get("epoch"), progress.get("epochs", 0))
        values["metrics"] = data.get("metrics") or {}
        values["result"] = data.get("result") or {}
        values["tags"] = list(data.get("tags") or [])
        values["swept"] = data.get("swept") or {}
        values["diagnostics"] = diagnoses_from_json(data.get("diagnostics"))
        values["raw"] = data
        return values

    def _update(self, data: dict[str, Any]) -> None:
        for key, value in self.parse(data).items():
            setattr(self, key, value)

    def _found(self, diagnosis: Any) -> None:
        """Add the Diagnosis of a `diagnosis` event to `diagnostics` (once)."""
        if isinstance(diagnosis, Diagnosis) and diagnosis not in self.diagnostics:
            self.diagnostics.append(diagnosis)

    @property
    def done(self) -> bool:
        """True once the status is final (anything but queued or running)."""
        return self.status in FINAL_STATUSES

    @property
    def url(self) -> str:
        """Return the run's page on the server's dashboard."""
        return f"{_base_url(self)}/#/runs/{self.id}"

    def __repr__(self) -> str:
        epoch = "-" if self.progress.epoch is None else self.progress.epoch
        metric = key_metric(self.metrics)
        return (
            f"<{type(self).__name__} {self.id} {self.kind} {self.status} "
            f"epoch {epoch}/{self.progress.epochs}{metric}>"
        )

    @property
    def succeeded(self) -> bool:
        """True when the run finished normally."""
        return self.status == Status.SUCCEEDED


@dataclass(repr=False)
class SweepFields:
    """The fields of a Sweep (shared by `Sweep` and `AsyncSweep`)."""

    id: str
    status: str
    best_run_id: str | None = None
    name: str | None = None
    strategy: str = "grid"
    axes: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    early_stop: dict[str, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    epochs_saved: int = 0
    created_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @staticmethod
    def parse(data: dict[str, Any]) -> dict[str, Any]:
        """Return the constructor keyword arguments (but `runs`) from a Sweep's API JSON."""
        return {
            "id": data["id"],
            "status": data.get("status", ""),
            "best_run_id": data.get("best_run_id"),
            "name": data.get("name"),
            "strategy": data.get("strategy") or "grid",
            # Servers before random search sent the grid alone: its lists are the axes.
            "axes": dict(data.get("axes") or data.get("grid") or {}),
            "seed": data.get("seed"),
            "early_stop": data.get("early_stop"),
            "counts": dict(data.get("counts") or {}),
            "epochs_saved": data.get("epochs_saved") or 0,
            "created_at": parse_time(data.get("created_at")),
            "raw": data,
        }

    @property
    def done(self) -> bool:
        """True once every run of the sweep is final."""
        runs = self.raw.get("runs") or []
        final = all(r.get("status") in FINAL_STATUSES for r in runs)
        return final and self.status not in LIVE_STATUSES

    @property
    def url(self) -> str:
        """Return the sweep's page on the server's dashboard."""
        return f"{_base_url(self)}/#/sweeps/{self.id}"

    def __repr__(self) -> str:
        runs = self.raw.get("runs") or []
        done = sum(r.get("status") in FINAL_STATUSES for r in runs)
        best = next((r for r in runs if r.get("id") == self.best_run_id), None)
        metric = key_metric((best or {}).get("metrics") or {})
        best_text = f" best {self.best_run_id}{metric}" if best else ""
        return (
            f"<{type(self).__name__} {self.id} {self.status} {done}/{len(runs)} runs final"
            f"{best_text}>"
        )


def key_metric(metrics: dict[str, Any]) -> str:
    """Return " val_accuracy=0.97" / " val_mae=1.3" / " loss=1.2e+03": how a run does."""
    for name in ("val_accuracy", "accuracy", "val_mae", "mae", "val_loss", "loss"):
        value = metrics.get(name)
        if isinstance(value, (int, float)):
            return f" {name}={value:.4g}"
    return ""


def _base_url(obj: object) -> str:
    client = getattr(obj, "_client", None)
    return str(getattr(client, "base_url", ""))


@dataclass
class Plot:
    """A rendered plot: PNG (or GIF) bytes; shows itself inline in Jupyter."""

    content: bytes = field(repr=False)
    media_type: str = "image/png"
    name: str = ""

    def save(self, path: str | Path) -> Path:
        """Write the image to `path` and return it."""
        path = Path(path)
        path.write_bytes(self.content)
        return path

    def _repr_png_(self) -> bytes | None:
        return self.content if self.media_type == "image/png" else None

    def _repr_html_(self) -> str | None:
        # Jupyter shows PNG natively; an animated GIF needs an <img> with a data: URL.
        if self.media_type != "image/gif":
            return None
        data = base64.b64encode(self.content).decode("ascii")
        alt = html.escape(self.name or "plot")
        return f'<img src="data:image/gif;base64,{data}" alt="{alt}"/>'


@dataclass
class Prediction:
    """What `predict` returns: predictions, and class probabilities for a classifier."""

    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None


@dataclass
class Snapshots:
    """Which epochs have decision-boundary grids, and the grid's geometry."""

    epochs: list[int]
    extent: list[float] | None = None
    resolution: int | None = None
    classes: list[Any] | None = None


@dataclass
class LossSurface:
    """The loss over a grid of (a, b): `loss[i][j]` is at b[i], a[j]."""

    a: list[float]
    b: list[float]
    loss: list[list[float | None]] = field(repr=False)
    optimum: dict[str, float] | None = None
    grid_optimum: dict[str, float] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LossSurface:
        """Build a LossSurface from its API JSON."""
        keys = ("a", "b", "loss", "optimum", "grid_optimum")
        return cls(**{k: data.get(k) for k in keys})  # type: ignore[arg-type]


def history_table(rows: list[dict[str, Any]], as_frame: bool | None) -> Any:
    """Return history rows as a DataFrame indexed by epoch (pandas installed) or as-is.

    The frame's `recorded_at` is a pandas datetime (UTC); the rows as-is keep the API's
    RFC 3339 strings (JSON-ready, as the CLI prints them).
    """
    if as_frame is False:
        return rows
    try:
        import pandas as pd
    except ImportError:
        if as_frame:
            raise
        return rows
    if not rows:
        frame = pd.DataFrame(columns=["loss", "recorded_at"])
        return frame.astype({"recorded_at": "datetime64[ns, UTC]"})
    frame = pd.json_normalize(rows, sep=".").set_index("epoch")
    # A regression has no val_loss/accuracy, an MLP no params, only an mlp_regressor has
    # mae/val_mae: drop what the kind never fills, so the frame shows the run's own metrics
    # (loss stays, even when diverged).
    keep = ("loss", "recorded_at")  # recorded_at stays too: NaT for epochs of older servers
    empty = [c for c in frame.columns if c not in keep and not frame[c].map(_filled).any()]
    frame = frame.drop(columns=empty)
    if "recorded_at" not in frame:
        frame["recorded_at"] = None
    frame["recorded_at"] = pd.to_datetime(frame["recorded_at"], utc=True, format="ISO8601")
    return frame


def _filled(value: Any) -> bool:
    if isinstance(value, (dict, list)):
        return bool(value)
    return value is not None and value == value  # NaN != NaN


def snapshots_from_json(data: dict[str, Any]) -> Snapshots:
    """Build Snapshots from its API JSON."""
    return Snapshots(
        epochs=list(data.get("epochs") or []),
        extent=data.get("extent"),
        resolution=data.get("resolution"),
        classes=data.get("classes"),
    )


def prediction_from_json(data: dict[str, Any]) -> Prediction:
    """Build a Prediction from its API JSON."""
    return Prediction(
        predictions=data.get("predictions") or [],
        probabilities=data.get("probabilities"),
        classes=data.get("classes"),
    )
