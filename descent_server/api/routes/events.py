"""Live progress of a run as Server-Sent Events (see api/live.py for how it scales)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse

from descent_server.api import live
from descent_server.api.deps import OwnerDep, SessionDep
from descent_server.api.schemas.common import INT32_MAX, PathId
from descent_server.services import runs as service
from descent_server.services.errors import InvalidInput

router = APIRouter(prefix="/v1/runs", tags=["runs"])

PING_INTERVAL_S = 15.0  # keep-alive comments while idle (proxies drop silent connections)
STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "An event stream"}
}


@router.get("/{run_id}/events", response_class=EventSourceResponse, responses=STREAM_DOC)
def run_events(
    run_id: PathId,
    session: SessionDep,
    owner: OwnerDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    since_epoch: Annotated[
        int | None, Query(ge=-1, le=INT32_MAX, description="send epochs after it")
    ] = None,
    epochs: Annotated[bool, Query(description="false: status events only")] = True,
) -> EventSourceResponse:
    """Stream `epoch` events (id = epoch) and `status` events; end after a final status."""
    service.get(session=session, run_id=run_id, owner=owner)  # 404 unless it is yours
    engine = session.get_bind()
    session.close()  # hand the connection back: a stream must not hold one while idle
    after = -1 if since_epoch is None else since_epoch
    if last_event_id is not None:  # a reconnecting EventSource: resume after its last epoch
        try:
            after = int(last_event_id)
        except ValueError:
            raise InvalidInput.at(["header", "Last-Event-ID"], "must be an epoch") from None
        if not -1 <= after <= INT32_MAX:
            raise InvalidInput.at(["header", "Last-Event-ID"], f"an epoch in -1..{INT32_MAX}")
    stream = live.stream_run(engine, run_id, owner, after, epochs=epochs)  # type: ignore[arg-type]
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return EventSourceResponse(stream, ping=PING_INTERVAL_S, headers=headers)
