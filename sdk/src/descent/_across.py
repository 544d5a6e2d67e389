"""Across runs: dotted hyperparameter names, run tables and comparisons (pandas optional)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ._models import Plot, RunFields, SweepFields

R = TypeVar("R", bound=RunFields)
# The columns of a runs table before the hyperparameters and metrics.
RUN_COLUMNS = ("id", "name", "status", "kind", "dataset", "tags")
RUN_TAIL = ("duration_s", "created_at")  # ...and after them
METRIC_NAMES = ("loss", "val_loss", "accuracy", "val_accuracy", "mae", "val_mae")


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested objects into dotted names: {"optimizer": {"name": …}} → optimizer.name."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def lookup(values: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """Return the value at a dotted name (`optimizer.learning_rate`), or `default`."""
    if name in values:  # a flat key that happens to contain a dot wins
        return values[name]
    node: Any = values
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def swept_values(run: RunFields, names: Iterable[str]) -> dict[str, Any]:
    """Return what a sweep varied for this run: the server's `swept`, else looked up by name."""
    if run.swept:
        return dict(run.swept)
    return {name: lookup(run.hyperparameters, name) for name in names}


def epochs_run(run: RunFields) -> int:
    """Return how many epochs the run trained (its last stored epoch; 0 before any)."""
    return run.progress.epoch or 0


def run_row(run: RunFields) -> dict[str, Any]:
    """Return one run as a flat row: identity, hyperparameters by dotted name, final metrics."""
    row: dict[str, Any] = {
        "id": run.id,
        "name": run.name,
        "status": str(run.status),
        "kind": str(run.kind),
        "dataset": run.dataset_name or run.dataset_id,
        "tags": list(run.tags),
    }
    # Metrics keep their plain names; a hyperparameter that shares one (an MLP's `loss`
    # function) is spelled in full, the same way in every row.
    taken = {*row, *METRIC_NAMES, *run.metrics}
    for name, value in flatten(run.hyperparameters).items():
        row[name if name not in taken else f"hyperparameters.{name}"] = value
    row.update({k: v for k, v in run.metrics.items() if k not in RUN_COLUMNS})
    row["duration_s"] = run.duration_s
    row["created_at"] = run.created_at
    return row


def frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], index: str | None) -> Any:
    """Return rows as a pandas DataFrame (pandas is needed: `pip install descent[pandas]`)."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is installed in the tests
        raise ImportError("to_frame() needs pandas: pip install 'descent[pandas]'") from exc
    table = pd.DataFrame(list(rows), columns=list(columns) or None)
    return table.set_index(index) if index else table


def _columns(rows: Sequence[Mapping[str, Any]], first: Sequence[str]) -> list[str]:
    """Return `first`, then every other key in the order the rows first show it."""
    seen = dict.fromkeys(first)
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


class RunList(list[R]):
    """A list of runs that also turns into a table: `client.runs.list(...).to_frame()`."""

    def to_frame(self) -> Any:
        """Return a DataFrame, one row per run: id, name, status, kind, dataset, tags, every
        hyperparameter by dotted name, the final metrics, duration_s and created_at."""
        rows = [run_row(run) for run in self]
        columns = [c for c in _columns(rows, RUN_COLUMNS) if c not in RUN_TAIL]
        return frame(rows, [*columns, *RUN_TAIL], None)


def sweep_rows(sweep: SweepFields, runs: Sequence[RunFields]) -> list[dict[str, Any]]:
    """Return one row per run of a sweep: swept values, status, epochs run, final metrics."""
    rows = []
    for run in runs:
        row: dict[str, Any] = {"id": run.id, "status": str(run.status)}
        row.update(swept_values(run, sweep.axes))
        row["epochs_run"] = epochs_run(run)
        row.update({k: v for k, v in run.metrics.items() if k not in row})
        rows.append(row)
    return rows


def sweep_frame(sweep: SweepFields, runs: Sequence[RunFields]) -> Any:
    """Return a sweep as a DataFrame indexed by run id (see `Sweep.to_frame`)."""
    rows = sweep_rows(sweep, runs)
    return frame(rows, _columns(rows, ["id", "status", *sweep.axes]), "id")


@dataclass
class Comparison(Generic[R]):
    """What `client.runs.compare` returns: the runs, what differs, and their metrics.

    `differs` and `metrics` map a name (a dotted hyperparameter; `kind`, `dataset_id`,
    `features` or `target` when those differ) to one value per run, in the order of `runs`.
    """

    runs: list[R]
    differs: dict[str, list[Any]] = field(default_factory=dict)
    metrics: dict[str, list[Any]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    _plot: Callable[..., Plot] | None = field(default=None, repr=False, compare=False)

    @property
    def ids(self) -> list[str]:
        """Return the compared run ids, in order."""
        return [run.id for run in self.runs]

    def to_frame(self) -> Any:
        """Return a DataFrame side by side: one column per run (its name, else its id), one
        row per differing hyperparameter and then per metric."""
        labels = _labels(self.runs)
        rows = [dict(zip(labels, values, strict=False)) for values in self.differs.values()]
        rows += [dict(zip(labels, values, strict=False)) for values in self.metrics.values()]
        table = frame(rows, labels, None)
        table.index = [*self.differs, *self.metrics]
        return table

    def plot(self, **params: Any) -> Plot:
        """Render the runs' loss (dashed: val_loss) curves on one plot, e.g. `plot(log=True)`."""
        if self._plot is None:
            raise RuntimeError("this Comparison is not attached to a Client")
        return self._plot(self.runs, **params)


def _labels(runs: Sequence[RunFields]) -> list[str]:
    """Return a column label per run: its name when the names are distinct, else its id."""
    names = [run.name or run.id for run in runs]
    return names if len(set(names)) == len(names) else [run.id for run in runs]


def comparison_parts(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (differs, metrics) of a compare answer, as plain dicts."""
    return dict(data.get("differs") or {}), dict(data.get("metrics") or {})
