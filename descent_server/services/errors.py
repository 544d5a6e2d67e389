"""Domain errors raised by services; `api/errors.py` maps each class to one HTTP status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose; `detail` is safe to show a client."""

    def __init__(self, detail: str | list[dict[str, Any]]) -> None:
        super().__init__(detail if isinstance(detail, str) else str(detail))
        self.detail = detail


class InvalidInput(DomainError):
    """The request is well-formed but its content is wrong (422); detail names the field."""

    @classmethod
    def at(cls, loc: Sequence[str | int], msg: str) -> InvalidInput:
        """Build the error for one field, e.g. `at(["body", "features", 0], "unknown column")`."""
        return cls([{"loc": list(loc), "msg": msg}])


class NotFound(DomainError):
    """The object does not exist or belongs to another owner (404, never 403)."""


class Conflict(DomainError):
    """The object's state forbids the operation (409)."""


class TooLarge(DomainError):
    """An upload or request exceeds a size limit (413)."""


class RateLimited(DomainError):
    """Too many requests; retry after `retry_after` seconds (429)."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unauthorized(DomainError):
    """No API key or an unknown/revoked one (401)."""


class Unavailable(DomainError):
    """A dependency (database, broker, the render pool) is down or busy (503)."""

    def __init__(self, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class NotReady(Conflict):
    """The data behind a view does not exist yet (409), e.g. a plot before epoch 0."""
