"""How the run list sorts: by creation, duration or a final metric, with keyset cursors.

A sort is `created_at`, `duration_s` or `metrics.<name>`, `-` in front for descending; runs
without the value (a live run's duration, a metric its kind never records) come last either
way, and ties go by id in the same direction. A cursor carries the sort it was made for, the
last row's value and its id, so every page starts exactly after the previous one.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_

from descent_server.db.models import Run
from descent_server.repository.epoch_rows import METRICS
from descent_server.repository.pages import BadCursor, decode_cursor, encode_cursor

DEFAULT_SORT = "-created_at"
FIELDS = ("created_at", "duration_s", *(f"metrics.{name}" for name in METRICS))


class BadSort(ValueError):
    """The sort names no known key."""


@dataclass(frozen=True)
class RunOrder:
    """One sort of the run list: a known key, ascending or descending."""

    key: str
    descending: bool

    @classmethod
    def parse(cls, text: str) -> RunOrder:
        """Parse `created_at`, `-duration_s`, `metrics.val_loss`, ... (BadSort otherwise)."""
        key = text.removeprefix("-")
        if key not in FIELDS:
            raise BadSort(
                f"unknown sort key {key!r}; one of {', '.join(FIELDS)} (- for descending)"
            )
        return cls(key=key, descending=text.startswith("-"))

    @property
    def text(self) -> str:
        """Return the sort as a client writes it."""
        return ("-" if self.descending else "") + self.key

    def expression(self) -> Any:
        """Return the SQL value sorted on (a metric read from run.metrics as a float)."""
        if self.key == "created_at":
            return Run.created_at
        if self.key == "duration_s":
            return Run.duration_s
        return Run.metrics[self.key.removeprefix("metrics.")].as_float()

    def value(self, run: Run) -> Any:
        """Return the row's sorted value as the expression reads it (None when missing)."""
        if self.key == "created_at":
            return run.created_at
        if self.key == "duration_s":
            return run.duration_s
        found = (run.metrics or {}).get(self.key.removeprefix("metrics."))
        return float(found) if isinstance(found, int | float) and math.isfinite(found) else None


def ordered(query: Select[Any], order: RunOrder, cursor: str | None, limit: int) -> Select[Any]:
    """Sort the query, start after `cursor` and fetch one extra row to detect a next page."""
    expr = order.expression()
    ids = Run.id.desc() if order.descending else Run.id.asc()
    by: list[Any] = [expr.desc() if order.descending else expr.asc(), ids]
    if order.key != "created_at":
        by.insert(0, expr.is_(None))
    if cursor:
        value, row_id = decode(order, cursor)
        query = query.where(_after(order, expr, value, row_id))
    return query.order_by(*by).limit(limit + 1)


def _after(order: RunOrder, expr: Any, value: Any, row_id: str) -> ColumnElement[bool]:
    """Rows that come after (value, row_id) in this order, nulls last."""
    next_id = Run.id < row_id if order.descending else Run.id > row_id
    if value is None:
        return and_(expr.is_(None), next_id)
    beyond = expr < value if order.descending else expr > value
    after = or_(beyond, and_(expr == value, next_id))
    return after if order.key == "created_at" else or_(after, expr.is_(None))


def encode(order: RunOrder, run: Run) -> str:
    """Return the cursor that resumes this order after `run`."""
    if order.text == DEFAULT_SORT:
        return encode_cursor(run.created_at, run.id)  # the listing's original cursor
    value = order.value(run)
    shown = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps({"sort": order.text, "value": shown, "id": run.id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(order: RunOrder, cursor: str) -> tuple[Any, str]:
    """Return (value, id) of a cursor made for this order (BadCursor otherwise)."""
    if order.text == DEFAULT_SORT:
        return decode_cursor(cursor)
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadCursor("invalid cursor") from exc
    if not isinstance(raw, dict) or raw.get("sort") != order.text:
        raise BadCursor(f"this cursor belongs to another sort than {order.text}")
    value, row_id = raw.get("value"), raw.get("id")
    if not isinstance(row_id, str) or len(row_id) > 64 or not row_id.isprintable():
        raise BadCursor("invalid cursor")
    if order.key == "created_at":
        try:
            return datetime.fromisoformat(value), row_id  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise BadCursor("invalid cursor") from exc
    if value is not None and not (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ):
        raise BadCursor("invalid cursor")
    return value, row_id
