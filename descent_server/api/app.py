"""The FastAPI application factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from descent_server.api import errors
from descent_server.api.limits import BodyLimitMiddleware
from descent_server.api.metrics import MetricsMiddleware
from descent_server.api.responses import JSONResponse
from descent_server.api.routes import (
    dashboard,
    datasets,
    events,
    history,
    plots,
    runs,
    service,
    sweeps,
)
from descent_server.api.schemas.datasets import DatasetCreate
from descent_server.api.schemas.errors import ERROR_RESPONSES
from descent_server.services.ratelimit import TokenBucket
from descent_server.settings import get_settings

# Multipart framing around an uploaded file: the upload limit applies to the file itself.
MULTIPART_OVERHEAD = 64 * 1024


def create_app() -> FastAPI:
    """Build the API: routes, one error handler, body limits, CORS, metrics."""
    settings = get_settings()
    app = FastAPI(
        title="descent",
        version="1.0",
        description="Training as a service: watch gradient descent and MLPs learn.",
        default_response_class=JSONResponse,
    )
    app.state.submit_bucket = TokenBucket(settings.submit_rate_per_minute)
    errors.install(app)
    app.include_router(service.router)
    for module in (datasets, runs, history, plots, events, sweeps):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(dashboard.router)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        upload_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD,
        upload_paths=frozenset({"/v1/datasets"}),
    )
    app.add_middleware(MetricsMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "Location", "Retry-After"],
        )
    _document_dataset_json(app)
    return app


def _document_dataset_json(app: FastAPI) -> None:
    """Add DatasetCreate to the OpenAPI components (the upload route parses its body itself)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            definition = DatasetCreate.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            schema["components"]["schemas"]["DatasetCreate"] = definition
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
