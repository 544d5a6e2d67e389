"""One exception hierarchy for everything the client can raise."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "APIError",
    "BadRequest",
    "Conflict",
    "DescentError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "TransportError",
    "Unauthorized",
    "ValidationError",
    "WaitTimeout",
]


class DescentError(Exception):
    """Base class of every error raised by the descent client."""


class TransportError(DescentError):
    """The server could not be reached, or the connection broke (after any retries)."""


class WaitTimeout(DescentError, TimeoutError):
    """`wait()` gave up before the run or sweep reached a final status."""


class APIError(DescentError):
    """The server answered with an error status; `detail` is its JSON `detail`."""

    def __init__(self, status: int, detail: Any, response: httpx.Response | None = None) -> None:
        self.status = status
        self.detail = detail
        self.response = response
        super().__init__(f"{status}: {_describe(detail)}")


class BadRequest(APIError):
    """400: the request was malformed (for CSV problems `detail` names row and column)."""


class ValidationError(BadRequest):
    """422: a field was invalid; `errors` is the server's list of {"loc", "msg"}."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Return the server's validation errors as a list."""
        if isinstance(self.detail, list):
            return [e if isinstance(e, dict) else {"msg": str(e)} for e in self.detail]
        return [{"loc": [], "msg": str(self.detail)}]


class Unauthorized(APIError):
    """401: the API key is missing or unknown."""


class NotFound(APIError):
    """404: no such object, or it belongs to someone else."""


class Conflict(APIError):
    """409: the object is in the wrong state (cancel a finished run, reused key...)."""


class PayloadTooLarge(APIError):
    """413: the upload or request is over a server limit."""


class RateLimited(APIError):
    """429: too many requests; `retry_after` is the server's hint in seconds (or None)."""

    def __init__(self, status: int, detail: Any, response: httpx.Response | None = None) -> None:
        super().__init__(status, detail, response)
        self.retry_after = retry_after_seconds(response)


class ServerError(APIError):
    """5xx: the server failed."""


class ServiceUnavailable(ServerError):
    """503: a dependency of the server (database, broker) is down."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationError,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_for(response: httpx.Response) -> APIError:
    """Build the exception matching an error response."""
    try:
        body = response.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
    except ValueError:
        detail = response.text or response.reason_phrase
    status = response.status_code
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIError
    return cls(status, detail, response)


def retry_after_seconds(response: httpx.Response | None) -> float | None:
    """Return a response's Retry-After header in seconds, if it is a number."""
    if response is None:
        return None
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _describe(detail: Any) -> str:
    if isinstance(detail, list):
        parts = []
        for err in detail:
            if isinstance(err, dict):
                loc = ".".join(str(p) for p in err.get("loc", []))
                parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
            else:
                parts.append(str(err))
        return "; ".join(parts)
    return str(detail)
