"""What a run stored: history, snapshots, loss surface; predict and model download."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.responses import StreamingResponse

from descent_server.api.deps import OwnerDep, SessionDep
from descent_server.api.rate_limits import RateLimit
from descent_server.api.schemas.common import INT32_MAX, PathId
from descent_server.api.schemas.history import (
    HistoryPage,
    LossSurface,
    PredictRequest,
    PredictResponse,
    SnapshotGrid,
    SnapshotList,
)
from descent_server.db.session import session_factory
from descent_server.services import history as service
from descent_server.services import ratelimit

router = APIRouter(prefix="/v1/runs/{run_id}", tags=["history"])


@router.get(
    "/history",
    response_model=HistoryPage,
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON page, or CSV"},
        304: {"description": "Not modified: the `If-None-Match` ETag is current (JSON only)"},
    },
)
def get_history(
    run_id: PathId,
    owner: OwnerDep,
    since_epoch: Annotated[int | None, Query(ge=-1, le=INT32_MAX)] = None,
    limit: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
    max_points: Annotated[int | None, Query(ge=2, le=100_000)] = None,
    format: Literal["json", "csv"] = "json",
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Any:
    """Return epochs after `since_epoch` (≤ `limit`), a `max_points` downsample, or all as CSV.

    JSON answers carry an ETag (the run's version and the query): `If-None-Match` with it
    answers 304 until the run changes.
    """
    # The session is opened here, in the one threadpool call of this sync route: SessionDep
    # (a generator dependency) would cost two more thread hops (~1 ms of a 10 ms view).
    with session_factory() as session:
        if format == "csv":
            ratelimit.take("export", owner)
            chunks = service.history_csv(session=session, run_id=run_id, owner=owner)
            return StreamingResponse(chunks, media_type="text/csv; charset=utf-8")
        # Stored rows are JSON-safe (non-finite → null) and go out unparsed: no pydantic, no dicts.
        body = service.history_json(
            session=session, run_id=run_id, owner=owner, since_epoch=since_epoch,
            limit=service.page_limit(limit=limit), max_points=max_points,
            if_none_match=if_none_match,
        )  # fmt: skip
    headers = {"ETag": body.etag, "Cache-Control": "no-cache"}
    if body.content is None:
        return Response(status_code=304, headers=headers)
    return Response(body.content, media_type="application/json", headers=headers)


@router.get("/snapshots", response_model=SnapshotList)
def list_snapshots(run_id: PathId, session: SessionDep, owner: OwnerDep) -> Any:
    """List the epochs with a decision-boundary grid (two-feature MLP runs)."""
    return service.snapshot_info(session=session, run_id=run_id, owner=owner)


@router.get("/snapshots/{epoch}", response_model=SnapshotGrid)
def get_snapshot(
    run_id: PathId,
    epoch: Annotated[int, Path(ge=0, le=INT32_MAX)],
    session: SessionDep,
    owner: OwnerDep,
) -> Any:
    """Return one grid of predicted class indices."""
    return service.snapshot(session=session, run_id=run_id, owner=owner, epoch=epoch)


@router.get("/loss-surface", response_model=LossSurface)
def get_loss_surface(run_id: PathId, session: SessionDep, owner: OwnerDep) -> Any:
    """Return the loss over the run's (a, b) grid (one-feature regressions)."""
    return service.loss_surface(session=session, run_id=run_id, owner=owner)


@router.post(
    "/predict",
    response_model=PredictResponse,
    response_model_exclude_none=True,
    dependencies=[Depends(RateLimit("predict"))],
)
def predict(run_id: PathId, body: PredictRequest, session: SessionDep, owner: OwnerDep) -> Any:
    """Predict with the final (or latest) parameters (409 before there are any)."""
    return service.predict(session=session, run_id=run_id, owner=owner, inputs=body.inputs)


@router.get(
    "/model",
    response_class=Response,
    dependencies=[Depends(RateLimit("export"))],
    responses={200: {"content": {"application/octet-stream": {}, "application/json": {}}}},
)
def download_model(run_id: PathId, session: SessionDep, owner: OwnerDep) -> Response:
    """Download the trained model: a .keras file (MLP) or JSON parameters (regression)."""
    artifact, filename = service.model(session=session, run_id=run_id, owner=owner)
    return Response(
        artifact.content,
        media_type=artifact.media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
