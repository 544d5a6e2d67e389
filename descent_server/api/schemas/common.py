"""Types shared by the schemas: RFC 3339 UTC timestamps, user strings, bounded integers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator

from descent_server.domain import (  # noqa: F401 - shared with services, re-exported
    CONTROL_CHAR_MSG,
    INT32_MAX,
    NAME_MAX,
    NO_CONTROL_CHARS,
    Name,
)


def _as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]

# The id in a path (run, dataset, sweep): uuids and builtin:NAME fit; a NUL would reach SQL.
PathId = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)]


def name_keys(schema: dict[str, Any], values: dict[str, Any] | None = None) -> None:
    """Show a `dict[Name, ...]` field's key rule as propertyNames in its JSON schema."""
    # pydantic writes a key pattern as patternProperties, which lets every other key through.
    by_pattern = schema.pop("patternProperties", {})
    schema["propertyNames"] = {"minLength": 1, "maxLength": NAME_MAX, "pattern": NO_CONTROL_CHARS}
    value_schema = values or next(iter(by_pattern.values()), None)
    if value_schema is not None:
        schema["additionalProperties"] = value_schema
