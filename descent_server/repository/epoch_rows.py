"""The epoch table's raw reads: one history row's shape, the SQL that selects it, the cursor.

Shared by the history store and its downsampling index (neither imports the other's reads).
Reads go through the raw DB-API cursor: a 100,000-epoch history is the case to be fast for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.orm import Session

# Every kind's row has every metric: null where the kind has none (accuracy of a regressor).
METRICS = ("loss", "val_loss", "accuracy", "val_accuracy", "mae", "val_mae")
EXTRA = ("params", "grad_norms", "weight_norms")
SELECT = f"SELECT epoch, {', '.join(METRICS)}, extra, RECORDED_AT_TEXT FROM epoch"
EXTRA_AT, RECORDED_AT = 1 + len(METRICS), 2 + len(METRICS)  # positions in a SELECT row
# RECORDED_AT_TEXT in a query becomes the dialect's RFC 3339 rendering of recorded_at
# (microseconds, UTC, NULL stays NULL); `fetch` puts it in.
_RFC3339 = {
    "postgresql": "to_char(to_timestamp(recorded_at) AT TIME ZONE 'UTC', "
    """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""",
    "sqlite": "strftime('%Y-%m-%dT%H:%M:%S', CAST(round(recorded_at * 1e6) AS INTEGER) / 1000000,"
    " 'unixepoch') || printf('.%06dZ', CAST(round(recorded_at * 1e6) AS INTEGER) % 1000000)",
}


def finite(value: Any) -> float | None:
    """Return `value` as a float, or None when it is missing, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def mark(session: Session) -> str:
    """Return the DB-API parameter mark of the session's dialect."""
    return "%s" if session.connection().dialect.name == "postgresql" else "?"


def fetch(session: Session, sql: str, params: Sequence[Any]) -> list[Any]:
    """Run `sql` (with `?` marks) on the session's connection, skipping SQLAlchemy's rows."""
    here = mark(session)
    if here != "?":
        sql = sql.replace("?", here)
    if "RECORDED_AT_TEXT" in sql:  # after the marks: the SQLite rendering holds no "?"
        sql = sql.replace("RECORDED_AT_TEXT", _RFC3339[session.connection().dialect.name])
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def to_dict(row: Sequence[Any]) -> dict[str, Any]:
    """Return one history row from a SELECT row."""
    extra = orjson.loads(row[EXTRA_AT]) if row[EXTRA_AT] else {}
    out: dict[str, Any] = {"epoch": row[0]}
    out.update((name, finite(value)) for name, value in zip(METRICS, row[1:], strict=False))
    out["recorded_at"] = row[RECORDED_AT]
    out.update((group, extra.get(group) or {}) for group in EXTRA)
    return out
