"""The error body every 4xx/5xx response has."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorItem(BaseModel):
    """One problem, located: e.g. loc ["body", "features", 0] or ["file", "row 7", "column x2"]."""

    loc: list[str | int]
    msg: str


class ErrorResponse(BaseModel):
    """`detail` is a message, or a list of located problems for bad input."""

    detail: str | list[ErrorItem]


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc("Malformed request: a body that is not UTF-8 JSON or multipart"),
    401: _doc("Missing or unknown API key"),
    404: _doc("Not found (or not yours)"),
    409: _doc("State conflict"),
    413: _doc("Request or upload too large"),
    422: _doc("Invalid input; detail names the field (or CSV row and column)"),
    429: _doc("Rate limited; see Retry-After"),
    503: _doc("A dependency (database, broker) is down"),
}
