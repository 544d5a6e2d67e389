"""Run endpoints: submit, list (filter, sort), compare, read (with ETag), edit, clone,
cancel, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response

from descent_server.api import live, versions
from descent_server.api.deps import (
    EnqueueDep,
    IdempotencyKey,
    OwnerDep,
    SessionDep,
    limit_submissions,
    reject_unknown_query,
)
from descent_server.api.metrics import RUNS_SUBMITTED
from descent_server.api.rate_limits import RateLimit
from descent_server.api.responses import JSONResponse
from descent_server.api.routes.plots import _IMAGE, picture_response
from descent_server.api.schemas.common import NAME_MAX, NO_CONTROL_CHARS, PathId
from descent_server.api.schemas.runs import (
    TAGS_MAX,
    Kind,
    RunClone,
    RunComparison,
    RunCreate,
    RunPage,
    RunRead,
    RunUpdate,
    Status,
    Tag,
)
from descent_server.db.session import get_engine
from descent_server.services import compare as compare_service
from descent_server.services import kinds
from descent_server.services import runs as service
from descent_server.services.errors import NotFound
from descent_server.services.plot_data import PlotOptions
from descent_server.services.plots import etag_matches

router = APIRouter(prefix="/v1/runs", tags=["runs"])
# "Try it out" offers one request per kind, each accepted (202) by a fresh server.
EXAMPLES: dict[str, Any] = {
    adapter.kind: {"summary": adapter.title, "value": adapter.example}
    for adapter in kinds.adapters()
}


def etag(version: int) -> str:
    """Return the entity tag of a run at `version`."""
    return f'"{version}"'


@router.post(
    "",
    status_code=202,
    response_model=RunRead,
    dependencies=[Depends(limit_submissions)],
    responses={200: {"model": RunRead, "description": "Idempotent replay of an earlier submit"}},
)
def submit_run(
    body: Annotated[RunCreate, Body(openapi_examples=EXAMPLES)],
    response: Response,
    session: SessionDep,
    owner: OwnerDep,
    enqueue: EnqueueDep,
    idempotency_key: IdempotencyKey = None,
) -> RunRead:
    """Submit a run: validated now, trained by a worker; `Location` points at it."""
    run, created = service.submit(
        session=session, owner=owner, request=body,
        idempotency_key=idempotency_key, enqueue=enqueue,
    )  # fmt: skip
    if created:
        RUNS_SUBMITTED.labels(run.kind, run.queue).inc()
    response.status_code = 202 if created else 200
    response.headers["Location"] = f"/v1/runs/{run.id}"
    return RunRead.of(run)


_SORT = (
    f"{', '.join(service.SORT_FIELDS)}; a leading - sorts descending. Runs without the value "
    "(still live, or a metric their kind does not record) come last either way."
)
_IDS = "2 to 20 of your run ids, comma-separated, each once"


@router.get("", response_model=RunPage, dependencies=[Depends(reject_unknown_query)])
def list_runs(
    session: SessionDep,
    owner: OwnerDep,
    status: Status | None = None,
    kind: Kind | None = None,
    dataset_id: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL_CHARS)] = None,
    sweep_id: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL_CHARS)] = None,
    tag: Annotated[
        list[Tag], Query(max_length=TAGS_MAX, description="repeat it: every tag must be there")
    ] = [],  # noqa: B006 - FastAPI copies a query default
    q: Annotated[
        str | None,
        Query(max_length=NAME_MAX, pattern=NO_CONTROL_CHARS, description="part of the name"),
    ] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    sort: Annotated[str, Query(max_length=40, description=_SORT)] = service.DEFAULT_SORT,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> RunPage:
    """List your runs, filtered (all conditions hold) and sorted; newest first by default."""
    where = service.RunFilter(
        status=status, kind=kind, dataset_id=dataset_id, sweep_id=sweep_id, tags=tag, q=q,
        created_after=created_after, created_before=created_before,
    )  # fmt: skip
    items, next_cursor = service.list_page(
        session=session, owner=owner, limit=limit, cursor=cursor, where=where, sort=sort
    )
    return RunPage(items=[RunRead.of(r) for r in items], next_cursor=next_cursor)


# Before /{run_id}, which would take "compare" for an id.
@router.get("/compare", response_model=RunComparison, dependencies=[Depends(reject_unknown_query)])
def compare_runs(
    session: SessionDep,
    owner: OwnerDep,
    ids: Annotated[str, Query(min_length=1, max_length=1400, description=_IDS)],
) -> RunComparison:
    """Compare runs: what differs (dotted hyperparameter names) and their final metrics."""
    found = compare_service.compare(session=session, owner=owner, ids=ids)
    return RunComparison(
        runs=[RunRead.of(r) for r in found.runs], differs=found.differs, metrics=found.metrics
    )


@router.get(
    "/compare/plots/loss.png", response_class=Response, responses=_IMAGE,  # type: ignore[arg-type]
    dependencies=[Depends(RateLimit("render")), Depends(reject_unknown_query)],
)  # fmt: skip
async def compare_loss_png(
    owner: OwnerDep,
    ids: Annotated[str, Query(min_length=1, max_length=1400, description=_IDS)],
    width: Annotated[int, Query(ge=50, le=2000)] = 800,
    height: Annotated[int, Query(ge=50, le=2000)] = 600,
    dpi: Annotated[float, Query(ge=10, le=600)] = 100,
    log: bool | None = None,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """Overlay the runs' loss curves (validation loss dashed), one colour and name per run."""
    options = PlotOptions(width=width, height=height, dpi=dpi, log=log)
    picture = await compare_service.loss_picture(
        owner=owner, ids=ids, options=options, if_none_match=if_none_match
    )
    return picture_response(picture)


@router.get("/{run_id}", response_model=RunRead, responses={304: {"description": "Not modified"}})
async def get_run(
    run_id: PathId,
    owner: OwnerDep,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Any:
    """Return one run; `If-None-Match` with the current `ETag` answers 304."""
    # The most polled endpoint. A poll (If-None-Match) of a run this process read or polled
    # within versions.FRESH_S is answered from memory: a 304, or the JSON of its last read
    # when that is the current version (api/versions.py says how writes and outages reach it).
    # Otherwise, and always without If-None-Match, the run is read: polls of one run that
    # arrive while a read of it is in flight share that read, so a crowd of pollers costs one
    # query, not one each; no such answer is older than its request, less one read.
    engine, hub = get_engine(), live.get_hub()
    if if_none_match is not None:
        known = hub.known.fresh((engine, run_id), owner)
        if known is not None:
            version, body = known
            if etag_matches(etag(version), if_none_match):
                return Response(status_code=304, headers={"ETag": etag(version)})
            if body is not None:
                return _json(body, etag(version))
    batch = await hub.read_run(engine, run_id, owner)
    if batch is None:
        raise NotFound(f"run {run_id} not found")
    tag = etag(batch.version[0])
    if etag_matches(tag, if_none_match):
        return Response(status_code=304, headers={"ETag": tag})
    return _json(batch.body, tag)


def _json(body: bytes, tag: str) -> Response:
    # Serialized once per read (Batch.body): FastAPI neither validates nor encodes it again.
    return Response(body, media_type=JSONResponse.media_type, headers={"ETag": tag})


@router.patch("/{run_id}", response_model=RunRead)
def update_run(run_id: PathId, body: RunUpdate, session: SessionDep, owner: OwnerDep) -> RunRead:
    """Rename, tag or annotate a run of any status (its ETag changes)."""
    run = service.update(session=session, run_id=run_id, owner=owner, changes=body.changes())
    versions.forget(run_id)
    return RunRead.of(run)


@router.post(
    "/{run_id}/clone",
    status_code=202,
    response_model=RunRead,
    dependencies=[Depends(limit_submissions)],
)
def clone_run(
    run_id: PathId,
    body: RunClone,
    response: Response,
    session: SessionDep,
    owner: OwnerDep,
    enqueue: EnqueueDep,
) -> RunRead:
    """Submit a copy of a run with changes: checked like a submit, `parent_run_id` set."""
    run = service.clone(
        session=session, owner=owner, run_id=run_id, name=body.name,
        overrides=body.hyperparameters, dataset_id=body.dataset_id, enqueue=enqueue,
    )  # fmt: skip
    RUNS_SUBMITTED.labels(run.kind, run.queue).inc()
    response.headers["Location"] = f"/v1/runs/{run.id}"
    return RunRead.of(run)


@router.post("/{run_id}/cancel", status_code=202, response_model=RunRead)
def cancel_run(run_id: PathId, session: SessionDep, owner: OwnerDep) -> RunRead:
    """Cancel a run: a queued run at once, a running one within an epoch (409 if final)."""
    run = service.cancel(session=session, run_id=run_id, owner=owner)
    versions.forget(run_id)
    return RunRead.of(run)


@router.delete("/{run_id}", status_code=204, response_class=Response)
def delete_run(run_id: PathId, session: SessionDep, owner: OwnerDep) -> Response:
    """Delete a run and its history (a live run is cancelled first)."""
    service.delete(session=session, run_id=run_id, owner=owner)
    versions.forget(run_id)
    return Response(status_code=204)
