"""Run endpoints: submit, list, read (with ETag), cancel, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response

from descent_server.api import live
from descent_server.api.deps import (
    EnqueueDep,
    IdempotencyKey,
    OwnerDep,
    SessionDep,
    limit_submissions,
)
from descent_server.api.metrics import RUNS_SUBMITTED
from descent_server.api.responses import JSONResponse
from descent_server.api.schemas.common import PathId
from descent_server.api.schemas.runs import Kind, RunCreate, RunPage, RunRead, Status
from descent_server.db.session import get_engine
from descent_server.services import kinds
from descent_server.services import runs as service
from descent_server.services.errors import NotFound
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


@router.get("", response_model=RunPage)
def list_runs(
    session: SessionDep,
    owner: OwnerDep,
    status: Status | None = None,
    kind: Kind | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> RunPage:
    """List your runs, newest first, optionally by status and kind."""
    items, next_cursor = service.list_page(
        session=session, owner=owner, limit=limit, cursor=cursor, status=status, kind=kind
    )
    return RunPage(items=[RunRead.of(r) for r in items], next_cursor=next_cursor)


@router.get("/{run_id}", response_model=RunRead, responses={304: {"description": "Not modified"}})
async def get_run(
    run_id: PathId,
    owner: OwnerDep,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Any:
    """Return one run; `If-None-Match` with the current `ETag` answers 304."""
    # The most polled endpoint. Polls of one run that arrive while a read of it is in flight
    # share that read (the live hub's), so a crowd of pollers costs one query, not one each;
    # no poll ever sees a state older than the moment its request arrived, less one read.
    batch = await live.get_hub().read(get_engine(), run_id, owner, 0, epochs=False)
    if batch is None:
        raise NotFound(f"run {run_id} not found")
    tag = etag(batch.version[0])
    if etag_matches(tag, if_none_match):
        return Response(status_code=304, headers={"ETag": tag})
    # A finished response: FastAPI does not validate the model again.
    return JSONResponse(batch.run, headers={"ETag": tag})


@router.post("/{run_id}/cancel", status_code=202, response_model=RunRead)
def cancel_run(run_id: PathId, session: SessionDep, owner: OwnerDep) -> RunRead:
    """Cancel a run: a queued run at once, a running one within an epoch (409 if final)."""
    return RunRead.of(service.cancel(session=session, run_id=run_id, owner=owner))


@router.delete("/{run_id}", status_code=204, response_class=Response)
def delete_run(run_id: PathId, session: SessionDep, owner: OwnerDep) -> Response:
    """Delete a run and its history (a live run is cancelled first)."""
    service.delete(session=session, run_id=run_id, owner=owner)
    return Response(status_code=204)
