"""One exception handler: domain errors, validation, HTTP and database failures to JSON."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.routing import get_route_path

from descent_server.api.responses import JSONResponse
from descent_server.services import errors, kinds
from descent_server.services.kinds.hints import located

log = logging.getLogger(__name__)

STATUS: dict[type[errors.DomainError], int] = {
    errors.InvalidInput: 422,
    errors.Unauthorized: 401,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
}


def handle(request: Request, exc: Exception) -> JSONResponse:
    """Map any exception to a JSON error body; never leak a traceback."""
    if isinstance(exc, errors.DomainError):
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if isinstance(exc, errors.Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse({"detail": exc.detail}, status_code=status, headers=headers)
    if isinstance(exc, RequestValidationError):
        return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)
    if isinstance(exc, HTTPException):
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    if _database_down(exc):
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return JSONResponse(
            {"detail": "the database is unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def validation_detail(raw: Any) -> list[dict[str, Any]]:
    """Keep only loc and msg of each validation error (inputs may be huge or unserializable),
    with a run request's kind tag left out of loc and a hint for a misplaced name."""
    return located(raw, kinds.by_name())


def _allowed_methods(request: Request) -> str:
    """Return every method some route serves on this path (Starlette names only the first's)."""
    path = get_route_path(request.scope)
    methods: set[str] = set()
    for route in request.app.router.routes:
        # FastAPI wraps included routers; their effective routes carry the full path.
        inner = getattr(route, "effective_route_contexts", None)
        for candidate in inner() if inner is not None else (route,):
            regex = getattr(candidate, "path_regex", None)
            if regex is not None and regex.match(path):
                methods.update(getattr(candidate, "methods", None) or ())
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Register `handle` for every exception class it maps."""
    for exc_class in (
        errors.DomainError,
        RequestValidationError,
        HTTPException,
        OperationalError,
        InterfaceError,
        DBAPIError,
        Exception,
    ):
        app.add_exception_handler(exc_class, handle)  # type: ignore[arg-type]


def _database_down(exc: Exception) -> bool:
    """True for connection-level database failures (not constraint or SQL errors)."""
    # A pool that cannot hand out a connection in time means the database is not answering.
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
