"""Typed views of the API's JSON objects (plain dataclasses; `raw` keeps every field)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from ._base import FINAL_STATUSES

__all__ = [
    "Column",
    "Dataset",
    "LossSurface",
    "Plot",
    "Prediction",
    "Progress",
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


@dataclass
class Progress:
    """How far a run is: last stored `epoch` (None before epoch 0) of `epochs`."""

    epoch: int | None
    epochs: int


@dataclass
class RunFields:
    """The fields of a Run (shared by the sync `Run` and the `AsyncRun`)."""

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
    result: dict[str, Any] | None = None
    analysis: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    device: str | None = None
    backend: str | None = None
    attempt: int = 0
    sweep_id: str | None = None
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
        values["raw"] = data
        return values

    def _update(self, data: dict[str, Any]) -> None:
        for key, value in self.parse(data).items():
            setattr(self, key, value)

    @property
    def done(self) -> bool:
        """True once the status is final (succeeded, diverged, failed, cancelled)."""
        return self.status in FINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        """True when the run finished normally."""
        return self.status == "succeeded"


@dataclass
class SweepFields:
    """The fields of a Sweep (shared by `Sweep` and `AsyncSweep`)."""

    id: str
    status: str
    best_run_id: str | None = None
    name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        """True once every run of the sweep is final."""
        runs = self.raw.get("runs") or []
        return all(r.get("status") in FINAL_STATUSES for r in runs) and self.status not in {
            "queued",
            "running",
        }


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
    """Return history rows as a DataFrame indexed by epoch (pandas installed) or as-is."""
    if as_frame is False:
        return rows
    try:
        import pandas as pd
    except ImportError:
        if as_frame:
            raise
        return rows
    if not rows:
        return pd.DataFrame(columns=["loss", "val_loss", "accuracy", "val_accuracy"])
    return pd.json_normalize(rows, sep=".").set_index("epoch")


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
