"""Pictures of a run: PNG plots and the decision-boundary GIF, with ETags."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response

from descent_server.api.deps import OwnerDep
from descent_server.api.rate_limits import RateLimit
from descent_server.api.schemas.common import INT32_MAX, PathId
from descent_server.api.schemas.errors import ErrorResponse
from descent_server.services import plots as service
from descent_server.services.plots import GIF_FRAMES, PlotOptions

router = APIRouter(prefix="/v1/runs/{run_id}/plots", tags=["plots"])

PlotName = Literal["loss", "params", "fit", "surface", "contour", "boundary"]
_IMAGE = {
    200: {"content": {"image/png": {}, "image/gif": {}}, "description": "The picture"},
    304: {"description": "Not modified"},
    404: {
        "model": ErrorResponse,
        "description": "No such run (or not yours), or no snapshot at `epoch`",
    },
    409: {"model": ErrorResponse, "description": "Not yet: no epochs (or snapshots) stored"},
    422: {
        "model": ErrorResponse,
        "description": "Invalid query, or a plot that this run's kind "
        'never has (detail loc ["path", "name"]): fit, surface and contour exist for '
        "one-feature linear_regression runs, boundary.png and boundary.gif for two-feature "
        "mlp_classifier runs, loss and params for every run",
    },
}
_FRAMES = (
    "At most this many snapshots, evenly spaced (first and last kept); "
    "width × height × frames is at most the server's max_render_pixels."
)


def picture_response(picture: service.Picture) -> Response:
    """Return the picture, or 304 when the client's ETag is current."""
    headers = {"ETag": picture.etag, "Cache-Control": "no-cache"}
    if picture.content is None:
        return Response(status_code=304, headers=headers)
    return Response(picture.content, media_type=picture.media_type, headers=headers)


@router.get(
    "/boundary.gif", response_class=Response, responses=_IMAGE,  # type: ignore[arg-type]
    dependencies=[Depends(RateLimit("render"))],
)  # fmt: skip
async def boundary_gif(
    run_id: PathId,
    owner: OwnerDep,
    width: Annotated[int, Query(ge=50, le=2000)] = 800,
    height: Annotated[int, Query(ge=50, le=2000)] = 600,
    dpi: Annotated[float, Query(ge=10, le=600)] = 100,
    frames: Annotated[int, Query(ge=1, le=GIF_FRAMES, description=_FRAMES)] = 100,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """Animate the decision-boundary snapshots (two-feature MLP runs)."""
    options = PlotOptions(width=width, height=height, dpi=dpi, frames=frames)
    picture = await service.render(
        run_id=run_id, owner=owner, name="boundary.gif", options=options,
        if_none_match=if_none_match,
    )  # fmt: skip
    return picture_response(picture)


@router.get(
    "/{name}.png", response_class=Response, responses=_IMAGE,  # type: ignore[arg-type]
    dependencies=[Depends(RateLimit("render"))],
)  # fmt: skip
async def plot_png(
    run_id: PathId,
    name: PlotName,
    owner: OwnerDep,
    width: Annotated[int, Query(ge=50, le=2000)] = 800,
    height: Annotated[int, Query(ge=50, le=2000)] = 600,
    dpi: Annotated[float, Query(ge=10, le=600)] = 100,
    log: bool | None = None,
    x: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    epoch: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """Render a plot: loss, params, fit (x=), surface, contour, boundary (epoch=)."""
    opts = PlotOptions(width=width, height=height, dpi=dpi, log=log, x=x, epoch=epoch)
    picture = await service.render(
        run_id=run_id, owner=owner, name=name, options=opts, if_none_match=if_none_match
    )
    return picture_response(picture)
