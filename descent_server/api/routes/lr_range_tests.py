"""Learning-rate range test endpoints: submit, list, read, and the loss-per-rate picture."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from descent_server.api.deps import (
    OwnerDep,
    SessionDep,
    get_lr_range_enqueue,
    limit_submissions,
    reject_unknown_query,
)
from descent_server.api.rate_limits import RateLimit
from descent_server.api.routes.plots import _IMAGE, picture_response
from descent_server.api.schemas.common import PathId
from descent_server.api.schemas.lr_range_tests import (
    LrRangeTestCreate,
    LrRangeTestPage,
    LrRangeTestRead,
)
from descent_server.services import lr_range_tests as service
from descent_server.services.plot_data import PlotOptions

router = APIRouter(prefix="/v1/lr-range-tests", tags=["lr-range-tests"])


EnqueueTestDep = Annotated[service.Enqueue, Depends(get_lr_range_enqueue)]


@router.post(
    "", status_code=202, response_model=LrRangeTestRead,
    dependencies=[Depends(limit_submissions)],
)  # fmt: skip
def submit_test(
    body: LrRangeTestCreate,
    response: Response,
    session: SessionDep,
    owner: OwnerDep,
    enqueue: EnqueueTestDep,
) -> LrRangeTestRead:
    """Submit a range test of a run request: validated like the run, run by a worker."""
    test = service.submit(
        session=session, owner=owner, request=body.run, min_lr=body.min_lr,
        max_lr=body.max_lr, steps=body.steps, enqueue=enqueue,
    )  # fmt: skip
    response.headers["Location"] = f"/v1/lr-range-tests/{test.id}"
    return LrRangeTestRead.of(test)


@router.get("", response_model=LrRangeTestPage, dependencies=[Depends(reject_unknown_query)])
def list_tests(
    session: SessionDep,
    owner: OwnerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> LrRangeTestPage:
    """List your range tests, newest first."""
    items, next_cursor = service.list_page(session=session, owner=owner, limit=limit, cursor=cursor)
    return LrRangeTestPage(items=[LrRangeTestRead.of(t) for t in items], next_cursor=next_cursor)


@router.get("/{test_id}", response_model=LrRangeTestRead)
def get_test(test_id: PathId, session: SessionDep, owner: OwnerDep) -> LrRangeTestRead:
    """Read a range test: status, points so far and the suggestion once it has succeeded."""
    return LrRangeTestRead.of(service.get(session=session, test_id=test_id, owner=owner))


@router.get(
    "/{test_id}/plots/loss.png", response_class=Response, responses=_IMAGE,  # type: ignore[arg-type]
    dependencies=[Depends(RateLimit("render"))],
)  # fmt: skip
async def plot_loss(
    test_id: PathId,
    owner: OwnerDep,
    width: Annotated[int, Query(ge=50, le=2000)] = 800,
    height: Annotated[int, Query(ge=50, le=2000)] = 600,
    dpi: Annotated[float, Query(ge=10, le=600)] = 100,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """Draw the smoothed loss against a log learning rate, the suggestion marked (409 before)."""
    options = PlotOptions(width=width, height=height, dpi=dpi)
    picture = await service.plot(
        test_id=test_id, owner=owner, options=options, if_none_match=if_none_match
    )
    return picture_response(picture)
