"""Sweep endpoints: create, list, read, cancel, delete, and the pictures comparing the runs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response

from descent_server.api import versions
from descent_server.api.deps import (
    CallerDep,
    EnqueueDep,
    OwnerDep,
    SessionDep,
    reject_unknown_query,
)
from descent_server.api.metrics import RUNS_SUBMITTED
from descent_server.api.rate_limits import RateLimit
from descent_server.api.routes.plots import picture_response
from descent_server.api.schemas.common import PathId
from descent_server.api.schemas.runs import RunRead
from descent_server.api.schemas.sweeps import (
    SweepCreate,
    SweepPage,
    SweepRead,
    SweepRunRead,
    SweepStatus,
)
from descent_server.db.models import Run, Sweep
from descent_server.services import ratelimit
from descent_server.services import sweeps as service
from descent_server.services.plots import PlotOptions

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"])


def read(sweep: Sweep, runs: list[Run]) -> SweepRead:
    """Build the response of a sweep and its runs."""
    return SweepRead(
        id=sweep.id, name=sweep.name, status=service.status(sweep, runs),  # type: ignore[arg-type]
        strategy=sweep.strategy, axes=sweep.grid, grid=sweep.grid, seed=sweep.seed,  # type: ignore[arg-type]
        early_stop=sweep.early_stop,  # type: ignore[arg-type]
        runs=[SweepRunRead(**dict(RunRead.of(r)), swept=service.swept(sweep, r)) for r in runs],
        best_run_id=service.best_run_id(runs), counts=service.counts(runs),
        epochs_saved=service.epochs_saved(runs), created_at=sweep.created_at,
    )  # fmt: skip


@router.post("", status_code=202, response_model=SweepRead)
def create_sweep(
    body: SweepCreate,
    response: Response,
    session: SessionDep,
    caller: CallerDep,
    enqueue: EnqueueDep,
) -> SweepRead:
    """Submit one run per grid combination or random draw (at most settings.max_sweep_runs)."""
    early_stop = None if body.early_stop is None else body.early_stop.model_dump()
    plan = service.plan(
        strategy=body.strategy, axes=body.axes, grid=body.grid, n_runs=body.n_runs,
        seed=body.seed, early_stop=early_stop,
        session=session, owner=caller.owner, kind=body.run.kind,  # type: ignore[union-attr]
    )  # fmt: skip
    ratelimit.take("submit", caller.owner, len(plan.points))  # each run is a submission
    sweep, runs = service.create(
        session=session, owner=caller.owner, request=body.run, plan=plan,
        name=body.name, enqueue=enqueue,
    )  # fmt: skip
    for run in runs:
        RUNS_SUBMITTED.labels(run.kind, run.queue).inc()
    response.headers["Location"] = f"/v1/sweeps/{sweep.id}"
    return read(sweep, runs)


@router.get("", response_model=SweepPage, dependencies=[Depends(reject_unknown_query)])
def list_sweeps(
    session: SessionDep,
    owner: OwnerDep,
    status: SweepStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> SweepPage:
    """List your sweeps with their runs, newest first, optionally by status."""
    items, next_cursor = service.list_page(
        session=session, owner=owner, limit=limit, cursor=cursor, status=status
    )
    return SweepPage(items=[read(*item) for item in items], next_cursor=next_cursor)


@router.get("/{sweep_id}", response_model=SweepRead)
def get_sweep(sweep_id: PathId, session: SessionDep, owner: OwnerDep) -> SweepRead:
    """Return the sweep with its runs and the best one so far."""
    return read(*service.get(session=session, sweep_id=sweep_id, owner=owner))


@router.post("/{sweep_id}/cancel", status_code=202, response_model=SweepRead)
def cancel_sweep(sweep_id: PathId, session: SessionDep, owner: OwnerDep) -> SweepRead:
    """Cancel every run of the sweep that is not finished (409 if none is left)."""
    sweep, runs = service.cancel(session=session, sweep_id=sweep_id, owner=owner)
    versions.forget(*(run.id for run in runs))
    return read(sweep, runs)


@router.delete("/{sweep_id}", status_code=204, response_class=Response)
def delete_sweep(sweep_id: PathId, session: SessionDep, owner: OwnerDep) -> Response:
    """Delete the sweep and its runs."""
    service.delete(session=session, sweep_id=sweep_id, owner=owner)
    versions.forget()  # its runs, whichever they were
    return Response(status_code=204)


@router.get(
    "/{sweep_id}/plots/{name}.png",
    response_class=Response,
    dependencies=[Depends(RateLimit("render"))],
    responses={200: {"content": {"image/png": {}}}, 304: {"description": "Not modified"}},
)
async def sweep_plot(
    sweep_id: PathId,
    name: Literal["loss", "contour", "parallel"],
    owner: OwnerDep,
    width: Annotated[int, Query(ge=50, le=2000)] = 800,
    height: Annotated[int, Query(ge=50, le=2000)] = 600,
    dpi: Annotated[float, Query(ge=10, le=600)] = 100,
    log: bool | None = None,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """Every run's loss curve (loss), descent path on one contour (one-feature regression),
    or swept values and final metric as parallel coordinates (parallel)."""
    options = PlotOptions(width=width, height=height, dpi=dpi, log=log)
    picture = await service.plot(
        sweep_id=sweep_id, owner=owner, name=name, options=options, if_none_match=if_none_match
    )
    return picture_response(picture)
