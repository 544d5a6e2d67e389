"""The epoch table's raw reads: one history row's shape, the SQL that selects it, the cursor.

Shared by the history store and its downsampling index (neither imports the other's reads).
Reads go through the raw DB-API cursor: a 100,000-epoch history is the case to be fast for.
Rows that only go out as JSON are written by `json_rows` with the stored extra spliced in,
never parsed; `to_dict` is the same row as a dict.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
from psycopg.adapt import Loader
from psycopg.pq import Format
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


def fetch_columns(
    session: Session, columns: Mapping[str, type], where: str, params: Sequence[Any]
) -> list[np.ndarray]:
    """Return each column of the rows `where` selects as an array (rows in any order).

    `columns` maps a column to int (int64; NOT NULL columns only) or float (float64, NULL
    as NaN); `where` is the query from FROM on, with `?` marks. On PostgreSQL the columns
    come as one row of binary arrays, read straight into numpy: no Python object per value.
    """
    dtypes = [np.float64 if kind is float else np.int64 for kind in columns.values()]
    if session.connection().dialect.name != "postgresql":
        rows = fetch(session, f"SELECT {', '.join(columns)} {where}", params)
        values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
        return [np.array(v, dtype=t) for v, t in zip(values, dtypes, strict=True)]
    aggs = ", ".join(
        f"array_agg(coalesce({name}, 'NaN'))" if kind is float else f"array_agg({name})"
        for name, kind in columns.items()
    )
    cursor = session.connection().connection.dbapi_connection.cursor(binary=True)  # type: ignore[union-attr]
    try:
        for oid in _ARRAY_DTYPES:
            cursor.adapters.register_loader(oid, _NumpyArray)
        cursor.execute(f"SELECT {aggs} {where}".replace("?", "%s"), tuple(params))
        row = cursor.fetchone() or (None,) * len(columns)
    finally:
        cursor.close()
    # No row at all: array_agg is NULL.
    return [np.zeros(0, t) if v is None else v for v, t in zip(row, dtypes, strict=True)]


# Binary int4[], int8[] and float8[] (element type oids' array oids): their numpy dtypes.
_ARRAY_DTYPES = {1007: (">i4", np.int64), 1016: (">i8", np.int64), 1022: (">f8", np.float64)}


class _NumpyArray(Loader):
    """Load a one-dimensional binary array without NULLs into a numpy array (a copy)."""

    format = Format.BINARY

    def load(self, data: Any) -> np.ndarray:
        """Parse the array's binary form: a header, then (length, value) per element."""
        wire, native = _ARRAY_DTYPES[self.oid]
        ndim, has_null = struct.unpack_from(">ii", data)
        if ndim == 0:
            return np.zeros(0, native)
        if ndim != 1 or has_null:
            raise ValueError("expected a one-dimensional array without NULLs")
        (size,) = struct.unpack_from(">i", data, 12)
        items = np.frombuffer(
            data, dtype=[("length", ">i4"), ("value", wire)], count=size, offset=20
        )
        return items["value"].astype(native)  # a copy: `data` is the driver's buffer


def to_dict(row: Sequence[Any]) -> dict[str, Any]:
    """Return one history row from a SELECT row."""
    extra = orjson.loads(row[EXTRA_AT]) if row[EXTRA_AT] else {}
    out: dict[str, Any] = {"epoch": row[0]}
    out.update((name, finite(value)) for name, value in zip(METRICS, row[1:], strict=False))
    out["recorded_at"] = row[RECORDED_AT]
    out.update((group, extra.get(group) or {}) for group in EXTRA)
    return out


# A row whose extra was never written: the three groups, empty (what `to_dict` gives).
NO_EXTRA = '{"params":{},"grad_norms":{},"weight_norms":{}}'


def json_rows(rows: Sequence[Sequence[Any]]) -> str:
    """Return SELECT rows as the comma-joined JSON objects of history rows (no brackets).

    The same keys, order and values as `to_dict` (for every row the writer stores); the
    stored extra JSON (always valid: non-finite numbers were written as null) is spliced in
    as it is.
    """
    return ",".join(
        f'{{"epoch":{r[0]},"loss":{_js(r[1])},"val_loss":{_js(r[2])},"accuracy":{_js(r[3])},'
        f'"val_accuracy":{_js(r[4])},"mae":{_js(r[5])},"val_mae":{_js(r[6])},'
        f'"recorded_at":{_js_text(r[RECORDED_AT])},'
        f"{(r[EXTRA_AT] if r[EXTRA_AT] and r[EXTRA_AT] != '{}' else NO_EXTRA)[1:]}"
        for r in rows
    )


def _js(value: float | None) -> str:
    # repr() of a float is its shortest round-trip form, which is valid JSON when finite.
    return "null" if value is None or not math.isfinite(value) else repr(float(value))


def _js_text(value: str | None) -> str:
    # The database's RFC 3339 text holds nothing JSON would escape.
    return "null" if value is None else f'"{value}"'
