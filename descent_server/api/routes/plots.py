"""Pictures of a run: PNG plots and snapshot films (GIF), with ETags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from descent_server.api.deps import OwnerDep
from descent_server.api.rate_limits import RateLimit
from descent_server.api.schemas.common import INT32_MAX, PathId
from descent_server.api.schemas.errors import ErrorResponse
from descent_server.services import kinds
from descent_server.services import plots as service
from descent_server.services.plot_data import GIF_FRAMES, PlotOptions

router = APIRouter(prefix="/v1/runs/{run_id}/plots", tags=["plots"])


def _plot_names() -> str:
    """Say which plots exist, and for which runs (from the registered kinds)."""
    lines = ["loss.png and params.png: every run"]
    for adapter in kinds.adapters():
        for name, who in adapter.plots.items():
            shown = name if name.endswith(".gif") else f"{name}.png"
            lines.append(f"{shown}: {who}")
    return "; ".join(lines)


PlotName = Annotated[
    str, Path(min_length=1, max_length=40, pattern=r"^[a-z][a-z_]*$", description=_plot_names())
]
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
        f'never has (detail loc ["path", "name"]). {_plot_names()}',
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
    "/{name}.gif", response_class=Response, responses=_IMAGE,  # type: ignore[arg-type]
    dependencies=[Depends(RateLimit("render"))],
)  # fmt: skip
async def plot_gif(
    run_id: PathId,
    name: PlotName,
    owner: OwnerDep,
    width: Annotated[int, Query(ge=50, le=2000)] = 800,
    height: Annotated[int, Query(ge=50, le=2000)] = 600,
    dpi: Annotated[float, Query(ge=10, le=600)] = 100,
    frames: Annotated[int, Query(ge=1, le=GIF_FRAMES, description=_FRAMES)] = 100,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """Animate a run's snapshots: boundary.gif (classifiers), fit.gif (MLP regressors)."""
    options = PlotOptions(width=width, height=height, dpi=dpi, frames=frames)
    picture = await service.render(
        run_id=run_id, owner=owner, name=f"{name}.gif", options=options,
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
    """Render a plot: loss, params, fit (x=; epoch= for MLPs), surface, contour, boundary
    (epoch=)."""
    opts = PlotOptions(width=width, height=height, dpi=dpi, log=log, x=x, epoch=epoch)
    picture = await service.render(
        run_id=run_id, owner=owner, name=name, options=opts, if_none_match=if_none_match
    )
    return picture_response(picture)
