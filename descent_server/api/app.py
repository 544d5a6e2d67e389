"""The FastAPI application factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from descent_server.api import errors
from descent_server.api.auth import AuthGateMiddleware
from descent_server.api.headers import SecurityHeadersMiddleware
from descent_server.api.limits import BodyLimitMiddleware
from descent_server.api.metrics import MetricsMiddleware
from descent_server.api.responses import JSONResponse
from descent_server.api.routes import (
    dashboard,
    datasets,
    docs,
    events,
    history,
    lr_range_tests,
    plots,
    runs,
    service,
    sweeps,
)
from descent_server.api.schemas.datasets import DatasetCreate
from descent_server.api.schemas.errors import ERROR_RESPONSES
from descent_server.settings import get_settings

# Multipart framing around an uploaded file: the upload limit applies to the file itself.
MULTIPART_OVERHEAD = 64 * 1024


def create_app() -> FastAPI:
    """Build the API: routes, one error handler, auth gate, body limits, headers, CORS."""
    settings = get_settings()
    app = FastAPI(
        title="descent",
        version="1.0",
        description=(
            "Training as a service: watch gradient descent and MLPs learn. Every model kind "
            "has its own request schema (`LinearRegressionRun`, `MLPClassifierRun`, "
            "`MLPRegressorRun`) with defaults, bounds and an example. The contract in words, "
            "with errors, events and limits: `docs/api.md` in the descent repository."
        ),
        default_response_class=JSONResponse,
        docs_url=None,  # served by routes/docs.py from our own files
        redoc_url=None,
    )
    errors.install(app)
    app.include_router(service.router)
    for module in (datasets, runs, history, plots, events, sweeps, lr_range_tests):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(dashboard.router)
    app.include_router(docs.router)
    # Added innermost first. A request meets: CORS, security headers, metrics, the body limit
    # (a declared Content-Length over it: 413 at once), then the auth gate (401 before any
    # of the body is read), and only then a route that parses the body.
    if settings.auth_enabled:
        app.add_middleware(AuthGateMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        upload_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD,
        upload_paths=frozenset({"/v1/datasets"}),
    )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
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
