"""Service endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from descent_server.api.deps import BrokerPingDep
from descent_server.api.responses import JSONResponse
from descent_server.services import health

router = APIRouter(tags=["service"])


class Health(BaseModel):
    """Liveness: the process answers."""

    status: str


class Readiness(BaseModel):
    """Readiness of each dependency."""

    status: str
    database: str
    broker: str


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Answer while the process is up (on the event loop: no threadpool thread needed)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(broker_ping: BrokerPingDep) -> JSONResponse:
    """Check the database and the broker; 503 naming what is down."""
    checks = await run_in_threadpool(health.readiness, broker_ping=broker_ping)
    ready = all(value == "ok" for value in checks.values())
    body = Readiness(status="ok" if ready else "unavailable", **checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics() -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
