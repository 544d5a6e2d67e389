"""Sweeps: one run per point of a search space (grid or seeded random), judged together.

What is tried is in services/search.py, early stopping in services/pruning.py.
"""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from descent_server.db.models import Run, Sweep, utcnow
from descent_server.domain import FINAL_STATUSES, Kind, Status
from descent_server.repository import history as history_repo
from descent_server.repository import runs as runs_repo
from descent_server.repository import sweeps as repo
from descent_server.repository.pages import BadCursor
from descent_server.services import kinds, render_pool, search
from descent_server.services import runs as run_service
from descent_server.services.errors import Conflict, InvalidInput, NotFound
from descent_server.services.kinds import load_training_data
from descent_server.services.kinds.base import RunSpec
from descent_server.services.plot_data import PlotOptions
from descent_server.services.plots import Picture, cached_picture, check_size, read
from descent_server.services.pruning import Rule
from descent_server.services.render_pool import Job
from descent_server.services.runs import Enqueue
from descent_server.settings import get_settings

CURVE_POINTS = 2000


@dataclass(frozen=True)
class Plan:
    """A validated search: its strategy, axes, seed, early stopping and the points to run."""

    strategy: str
    axes: dict[str, Any]
    points: list[dict[str, Any]]
    seed: int | None = None
    early_stop: dict[str, Any] | None = None


def plan(
    *,
    strategy: str = search.GRID,
    axes: dict[str, Any] | None = None,
    grid: dict[str, Any] | None = None,
    n_runs: int | None = None,
    seed: int | None = None,
    early_stop: dict[str, Any] | None = None,
    session: Session | None = None,
    owner: str | None = None,
    kind: str | None = None,
) -> Plan:
    """Validate a search (`axes`, or `grid` as older clients name it) and list its points.

    An axis `{"around": "<lr range test id>"}` becomes the range around that test's
    suggestion (services/lr_range_tests.around_axis), for which `session`, `owner` and the
    run's `kind` are needed.
    """
    if axes is not None and grid is not None:
        raise InvalidInput.at(["body", "grid"], "give the search space as axes or grid, not both")
    field, space = ("axes", axes) if axes is not None else ("grid", grid)
    if space is None:
        raise InvalidInput.at(["body", "axes"], "give the hyperparameters to vary")
    space = _resolve_around(space, strategy, field, session=session, owner=owner, kind=kind)
    search.check_axes(space, strategy=strategy, loc=["body", field])
    if early_stop is not None:
        Rule.of(early_stop)  # the schema checked its fields
    if strategy == search.GRID:
        for name, value in (("n_runs", n_runs), ("seed", seed)):
            if value is not None:
                raise InvalidInput.at(["body", name], "a grid runs every combination: no " + name)
        return Plan(strategy, space, search.grid_points(space, loc=["body", field]),
                    early_stop=early_stop)  # fmt: skip
    limit = get_settings().max_sweep_runs
    if n_runs is None:
        raise InvalidInput.at(["body", "n_runs"], "a random search needs n_runs")
    if n_runs > limit:
        raise InvalidInput.at(["body", "n_runs"], f"{n_runs} runs; at most {limit}")
    seed = secrets.randbelow(2**31) if seed is None else seed  # stored: the draws repeat
    points = search.random_points(space, n_runs=n_runs, seed=seed)
    return Plan(strategy, space, points, seed=seed, early_stop=early_stop)


def _resolve_around(
    space: dict[str, Any],
    strategy: str,
    field: str,
    *,
    session: Session | None,
    owner: str | None,
    kind: str | None,
) -> dict[str, Any]:
    """Replace each `{"around": id}` axis by the range around that range test's suggestion."""
    from descent_server.services.lr_range_tests import around_axis

    resolved = dict(space)
    for name, axis in space.items():
        if not (isinstance(axis, dict) and set(axis) == {"around"}):
            continue
        loc: list[str | int] = ["body", field, name]
        if session is None or owner is None or kind is None:
            raise InvalidInput.at(loc, "an around axis is not accepted here")
        resolved[name] = around_axis(
            session=session, owner=owner, kind=kind, name=name, test_id=axis["around"],
            grid=strategy == search.GRID, loc=loc,
        )  # fmt: skip
    return resolved


def create(
    *,
    session: Session,
    owner: str,
    request: RunSpec,
    plan: Plan,
    name: str | None,
    enqueue: Enqueue,
) -> tuple[Sweep, list[Run]]:
    """Validate every point's run, store the sweep and its runs, then enqueue them."""
    data = kinds.request_data(session=session, owner=owner, request=request)
    base = request.model_dump(mode="json", exclude_unset=True)  # what the client said
    sweep = Sweep(
        id=str(uuid.uuid4()), owner=owner, name=name, request=base, grid=plan.axes,
        strategy=plan.strategy, seed=plan.seed, early_stop=plan.early_stop,
    )  # fmt: skip
    repo.add(session, sweep)
    runs: list[Run] = []
    created = utcnow()
    for combo in plan.points:
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
        run.swept = combo
        # One microsecond apart: runs created in one flush could share a timestamp, and the
        # sweep lists its runs by created_at, in the order they were drawn.
        run.created_at = created + timedelta(microseconds=len(runs))
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


def list_page(
    *, session: Session, owner: str, limit: int, cursor: str | None, status: Status | None = None
) -> tuple[list[tuple[Sweep, list[Run]]], str | None]:
    """Return one page of the owner's sweeps (newest first) with their runs, and the cursor."""
    try:
        sweeps, next_cursor = repo.list_page(
            session, owner=owner, limit=limit, cursor=cursor, status=status
        )
    except BadCursor:
        raise InvalidInput.at(["query", "cursor"], "invalid cursor") from None
    runs = repo.runs_of(session, sweep_ids=[sweep.id for sweep in sweeps])
    return [(sweep, runs.get(sweep.id, [])) for sweep in sweeps], next_cursor


def counts(runs: list[Run]) -> dict[str, int]:
    """Return how many runs of the sweep are in each status (statuses with none left out)."""
    found: dict[str, int] = {}
    for run in runs:
        found[run.status] = found.get(run.status, 0) + 1
    return found


def epochs_saved(runs: list[Run]) -> int:
    """Return the epochs early stopping saved: Σ over pruned runs of (epochs - last stored)."""
    return sum(max(run.epochs - max(run.progress_epoch, 0), 0)
               for run in runs if run.status == Status.PRUNED)  # fmt: skip


def swept(sweep: Sweep, run: Run) -> dict[str, Any]:
    """Return the values the sweep gave the run (read from its hyperparameters if not stored)."""
    if run.swept is not None:
        return dict(run.swept)
    return {name: _lookup(run.hyperparameters, name) for name in sweep.grid}


def _lookup(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


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
    """Render every run's loss curve, every descent path on one contour (regression), or
    the parallel coordinates of the swept values and final metrics."""
    check_size(options)
    sweep, runs = await render_pool.pool().load(
        partial(read, lambda session: get(session=session, sweep_id=sweep_id, owner=owner))
    )
    if name == "parallel":
        return await cached_picture(
            key=repr((sweep.id, name, [(r.id, r.version) for r in runs], options)),
            media_type="image/png", if_none_match=if_none_match, owner=owner,
            load=lambda session: _parallel_png(sweep, runs, options),
        )  # fmt: skip
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


def _parallel_png(sweep: Sweep, runs: list[Run], options: PlotOptions) -> Job:
    metric = metric_of(sweep, runs)
    axes = [(name, "log" if search.is_log(axis) else "linear" if search.is_numeric(axis)
             else "category") for name, axis in sweep.grid.items()]  # fmt: skip
    lines = []
    for run in runs:
        values = swept(sweep, run)
        final = (run.metrics or {}).get(metric)
        lines.append(([values.get(name) for name in sweep.grid], final, run.status))
    return Job.of(
        "parallel_plot", axes, lines, metric=metric,
        width=options.width, height=options.height, dpi=options.dpi,
    )  # fmt: skip


def metric_of(sweep: Sweep, runs: list[Run]) -> str:
    """Return the metric a sweep's runs are compared by: early stopping's, else val_loss if
    any run has one, else loss."""
    if sweep.early_stop:
        return Rule.of(sweep.early_stop).metric
    has_val = any((run.metrics or {}).get("val_loss") is not None for run in runs)
    return "val_loss" if has_val else "loss"


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
