"""Sweeps: one run per combination of a hyperparameter grid, judged and drawn together."""

from __future__ import annotations

import itertools
import math
import uuid
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from descent_server.db.models import Run, Sweep
from descent_server.domain import FINAL_STATUSES, Kind, Status
from descent_server.repository import history as history_repo
from descent_server.repository import runs as runs_repo
from descent_server.repository import sweeps as repo
from descent_server.services import kinds, render_pool
from descent_server.services import runs as run_service
from descent_server.services.errors import Conflict, InvalidInput, NotFound
from descent_server.services.kinds import load_training_data
from descent_server.services.kinds.base import RunSpec
from descent_server.services.plot_data import PlotOptions
from descent_server.services.plots import Picture, cached_picture, check_size, read
from descent_server.services.render_pool import Job
from descent_server.services.runs import Enqueue
from descent_server.settings import get_settings

CURVE_POINTS = 2000


def combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Return every combination of the grid (dotted names reach nested values) in order."""
    if not grid:
        raise InvalidInput.at(["body", "grid"], "give at least one hyperparameter to vary")
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise InvalidInput.at(["body", "grid", name], "a non-empty list of values")
    count = math.prod(len(values) for values in grid.values())
    limit = get_settings().max_sweep_runs
    if count > limit:
        raise InvalidInput.at(["body", "grid"], f"{count} combinations; at most {limit} runs")
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def create(
    *,
    session: Session,
    owner: str,
    request: RunSpec,
    grid: dict[str, list[Any]],
    name: str | None,
    enqueue: Enqueue,
) -> tuple[Sweep, list[Run]]:
    """Validate every combination, store the sweep and its runs, then enqueue them."""
    combos = combinations(grid)
    data = kinds.request_data(session=session, owner=owner, request=request)
    base = request.model_dump(mode="json", exclude_unset=True)  # what the client said
    sweep = Sweep(id=str(uuid.uuid4()), owner=owner, name=name, request=base, grid=grid)
    repo.add(session, sweep)
    runs = []
    for combo in combos:
        label = ", ".join(f"{k}={_short(v)}" for k, v in combo.items())
        hp = _with_values(base.get("hyperparameters") or {}, combo)
        run_name = f"{base['name']}: {label}" if base.get("name") else label
        raw = {**base, "kind": request.kind, "hyperparameters": hp, "name": run_name[:200]}  # type: ignore[attr-defined]
        try:
            run_request = kinds.parse_request(raw, ["body"])
            run = run_service.prepare(
                session=session, owner=owner, request=run_request, sweep_id=sweep.id, data=data
            )
        except InvalidInput as exc:
            raise InvalidInput(_relocate(exc.detail, label)) from None
        runs.append(run)
    # A sweep may hold up to max_sweep_runs runs, more than max_concurrent_runs allows one
    # by one: it counts as one submission here (its runs still spend rate-limit tokens).
    stored = sum(run.stored_bytes for run in runs)
    run_service.check_capacity(session=session, owner=owner, n=1, stored_bytes=stored)
    session.flush()  # the sweep row first: runs reference it
    for run in runs:
        runs_repo.add(session, run)
    session.commit()
    for run in runs:
        run_service.dispatch(run, enqueue)
    return sweep, runs


def get(*, session: Session, sweep_id: str, owner: str) -> tuple[Sweep, list[Run]]:
    """Return the owner's sweep with its runs, or raise NotFound."""
    sweep = repo.get(session, sweep_id=sweep_id, owner=owner)
    if sweep is None:
        raise NotFound(f"sweep {sweep_id} not found")
    return sweep, runs_repo.in_sweep(session, sweep_id=sweep_id)


def status(sweep: Sweep, runs: list[Run]) -> str:
    """Return running until every run is final, then cancelled, succeeded or failed."""
    if any(run.status not in FINAL_STATUSES for run in runs):
        return Status.RUNNING
    if sweep.cancel_requested:
        return Status.CANCELLED
    succeeded = any(run.status == Status.SUCCEEDED for run in runs)
    return Status.SUCCEEDED if succeeded else Status.FAILED


def best_run_id(runs: list[Run]) -> str | None:
    """Return the succeeded run with the lowest final validation loss (else loss), or None."""
    scored = [(score, run.id) for run in runs if (score := _score(run)) is not None]
    return min(scored)[1] if scored else None


def cancel(*, session: Session, sweep_id: str, owner: str) -> tuple[Sweep, list[Run]]:
    """Cancel every run of the sweep that is not final (409 if all already are)."""
    sweep, runs = get(session=session, sweep_id=sweep_id, owner=owner)
    live = [run for run in runs if run.status not in FINAL_STATUSES]
    if not live:
        raise Conflict(f"sweep {sweep_id} is already finished")
    sweep.cancel_requested = True
    for run in live:
        run_service.stop(session, run.id)
    session.commit()
    session.expire_all()  # the conditional UPDATEs bypassed the loaded rows
    return get(session=session, sweep_id=sweep_id, owner=owner)


def delete(*, session: Session, sweep_id: str, owner: str) -> None:
    """Delete the sweep and its runs (live runs are cancelled first)."""
    _, runs = get(session=session, sweep_id=sweep_id, owner=owner)
    for run in runs:
        if run.status not in FINAL_STATUSES:
            run_service.stop(session, run.id)
        runs_repo.delete(session, run_id=run.id)
    repo.delete(session, sweep_id=sweep_id)
    session.commit()


async def plot(
    *,
    sweep_id: str,
    owner: str,
    name: str,
    options: PlotOptions,
    if_none_match: str | None = None,
) -> Picture:
    """Render every run's loss curve, or every descent path on one contour (regression)."""
    check_size(options)
    sweep, runs = await render_pool.pool().load(
        partial(read, lambda session: get(session=session, sweep_id=sweep_id, owner=owner))
    )
    if name == "contour" and not runs:
        # Its runs were deleted one by one: no data, no paths, nothing to draw a surface of.
        raise Conflict(f"sweep {sweep_id} has no runs left to draw")
    load = _loss_png if name == "loss" else _contour_png
    return await cached_picture(
        key=repr((sweep.id, name, [(r.id, r.version) for r in runs], options)),
        media_type="image/png",
        if_none_match=if_none_match,
        owner=owner,
        load=lambda session: load(session, runs, options),
    )


def _loss_png(session: Session, runs: list[Run], options: PlotOptions) -> Job:
    curves = []
    for run in runs:
        rows = history_repo.downsample(session, run.id, CURVE_POINTS)
        loss = [np.nan if r["loss"] is None else r["loss"] for r in rows]
        curves.append((run.name or run.id, [r["epoch"] for r in rows], loss,
                       run.status == Status.DIVERGED))  # fmt: skip
    return Job.of(
        "sweep_loss_plot", curves, log=True if options.log is None else options.log,
        width=options.width, height=options.height, dpi=options.dpi,
    )  # fmt: skip


def _contour_png(session: Session, runs: list[Run], options: PlotOptions) -> Job:
    from descent_server.ml.surface import surface_from_spec
    from descent_server.services.kinds.linear_regression import descent_path

    first = runs[0]
    if first.kind != Kind.LINEAR_REGRESSION or len(first.features) != 1:
        raise NotFound("a sweep contour exists for one-feature regression sweeps only")
    data = load_training_data(session=session, run=first)
    starts = [(r.hyperparameters["init"]["a"], r.hyperparameters["init"]["b"]) for r in runs]
    try:
        surface: Any = surface_from_spec(data.X[:, 0], data.y, None, include=starts)
    except ValueError as exc:  # InvalidData: the data's scale leaves no finite grid
        raise Conflict(f"this sweep has no loss surface: {exc}") from None
    paths = []
    for run in runs:
        a, b = descent_path(session, run, CURVE_POINTS)
        if a:
            paths.append((run.name or run.id, a, b))
    return Job.of(
        "contour_plot", surface, paths, log=True if options.log is None else options.log,
        width=options.width, height=options.height, dpi=options.dpi,
    )  # fmt: skip


def _with_values(hyperparameters: dict[str, Any], combo: dict[str, Any]) -> dict[str, Any]:
    """Return a deep copy of `hyperparameters` with the combination's (dotted) values set."""
    result: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v)
                              for k, v in hyperparameters.items()}  # fmt: skip
    for dotted, value in combo.items():
        *parents, leaf = dotted.split(".")
        node = result
        for part in parents:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, dict) else {}
            node = node[part]
        node[leaf] = value
    return result


def _relocate(detail: Any, label: str) -> list[dict[str, Any]]:
    """Put a combination's validation errors under body.run and say which combination failed."""
    errors = detail if isinstance(detail, list) else [{"loc": ["body"], "msg": str(detail)}]
    return [
        {"loc": ["body", "run", *error["loc"][1:]], "msg": f"{error['msg']} (with {label})"}
        for error in errors
    ]


def _score(run: Run) -> float | None:
    """Final validation loss (MLP) or loss (regression) of a succeeded run; None otherwise."""
    if run.status != Status.SUCCEEDED or not run.result:
        return None
    value = run.result.get("final_val_loss")
    if value is None:
        value = run.result.get("final_loss")
    return float(value) if value is not None and math.isfinite(value) else None


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
