"""Runs side by side: which settings differ, their metrics, and their losses on one plot."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.domain import Status
from descent_server.repository import runs as repo
from descent_server.services import dotted, render_pool
from descent_server.services.errors import InvalidInput, NotFound
from descent_server.services.plot_data import PlotOptions, column, curve_rows, size
from descent_server.services.plots import Picture, cached_picture, check_size, read
from descent_server.services.render_pool import Job

MIN_RUNS = 2
MAX_RUNS = 20
# Besides the hyperparameters, what tells runs apart when it differs.
SETTINGS = ("kind", "dataset_id", "features", "target")


@dataclass(frozen=True)
class Comparison:
    """The runs in the order asked, what differs (value per run) and their final metrics."""

    runs: list[Run]
    differs: dict[str, list[Any]]
    metrics: dict[str, list[float | None]]


def parse_ids(ids: str) -> list[str]:
    """Split `a,b,c` into run ids: 2 to 20 of them, none twice (422 naming `ids` otherwise)."""
    found = [part.strip() for part in ids.split(",") if part.strip()]
    if not MIN_RUNS <= len(found) <= MAX_RUNS:
        raise InvalidInput.at(
            ["query", "ids"], f"{len(found)} run ids; compare {MIN_RUNS} to {MAX_RUNS}"
        )
    twice = sorted({run_id for run_id in found if found.count(run_id) > 1})
    if twice:
        raise InvalidInput.at(["query", "ids"], f"named more than once: {', '.join(twice)}")
    return found


def load(session: Session, *, owner: str, run_ids: list[str]) -> list[Run]:
    """Return the owner's runs in the order of `run_ids` (404 naming the first one missing)."""
    found = {run.id: run for run in repo.of_owner(session, owner=owner, run_ids=run_ids)}
    for run_id in run_ids:
        if run_id not in found:
            raise NotFound(f"run {run_id} not found")
    return [found[run_id] for run_id in run_ids]


def compare(*, session: Session, owner: str, ids: str) -> Comparison:
    """Compare the owner's runs named in `ids` (comma-separated)."""
    runs = load(session, owner=owner, run_ids=parse_ids(ids))
    return Comparison(runs=runs, differs=differences(runs), metrics=metrics(runs))


def differences(runs: list[Run]) -> dict[str, list[Any]]:
    """Return each setting or (dotted) hyperparameter whose value is not the same in every run."""
    columns: dict[str, list[Any]] = {
        name: [getattr(run, name) for run in runs] for name in SETTINGS
    }
    flat = [dotted.flatten(run.hyperparameters or {}) for run in runs]
    for name in dict.fromkeys(key for values in flat for key in values):
        columns[name] = [values.get(name) for values in flat]
    return {name: values for name, values in columns.items() if _differ(values)}


def metrics(runs: list[Run]) -> dict[str, list[float | None]]:
    """Return every metric any of the runs has, with its value per run (null where missing)."""
    names = dict.fromkeys(name for run in runs for name in (run.metrics or {}))
    return {name: [(run.metrics or {}).get(name) for run in runs] for name in names}


def _differ(values: list[Any]) -> bool:
    first = values[0]
    return any(value != first or type(value) is not type(first) for value in values[1:])


async def loss_picture(
    *, owner: str, ids: str, options: PlotOptions, if_none_match: str | None
) -> Picture:
    """Return the overlaid loss (dashed validation loss) of the compared runs, legend by name."""
    check_size(options)
    run_ids = parse_ids(ids)
    runs = await render_pool.pool().load(
        lambda: read(lambda s: load(s, owner=owner, run_ids=run_ids))
    )
    # Every run's version: a new epoch or status of any of them is a new picture.
    key = repr(("compare", [(r.id, r.version, r.progress_epoch) for r in runs], astuple(options)))
    return await cached_picture(
        key=key, media_type="image/png", if_none_match=if_none_match, owner=owner,
        load=lambda session: _loss_job(session, runs, options),
    )  # fmt: skip


def _loss_job(session: Session, runs: list[Run], options: PlotOptions) -> Job:
    """Read each run's curve rows (a run with no epochs yet is drawn as no line)."""
    curves = []
    for run in runs:
        rows = curve_rows(session, run) if run.progress_epoch >= 0 else []
        val = column(rows, "val_loss")
        curves.append(
            (
                run.name or run.id[:8],
                [r["epoch"] for r in rows],
                column(rows, "loss"),
                val if np.isfinite(val).any() else None,
                run.status == Status.DIVERGED,
            )
        )
    return Job.of("compare_loss_plot", curves, log=options.log, **size(options))
