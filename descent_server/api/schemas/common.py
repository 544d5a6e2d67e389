"""Types shared by the schemas: RFC 3339 UTC timestamps, user strings, bounded integers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, StringConstraints

# Every string a client names something with is printable: no C0 control characters and no
# DEL (a NUL cannot be stored in PostgreSQL text; the others hide in logs, CSVs, terminals).
# A pattern, not a validator, so that OpenAPI shows the rule.
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"
CONTROL_CHAR_MSG = "control characters (U+0000-U+001F, U+007F) are not allowed"
# The database columns that hold names are String(200): a longer name could never be stored.
NAME_MAX = 200
# Integer columns are 32-bit on PostgreSQL and every integer is 64-bit on SQLite: bound each
# integer a client sends to what fits, so no query or insert overflows.
INT32_MAX = 2**31 - 1


def _as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]

# A name (of a run, dataset, sweep, column, feature or target): 1-200 printable characters.
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=NAME_MAX, pattern=NO_CONTROL_CHARS)
]
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
