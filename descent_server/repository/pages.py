"""Keyset pagination shared by the list queries: newest first, opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_

T = TypeVar("T")


class BadCursor(ValueError):
    """The cursor was not made by this server."""


def encode_cursor(created_at: datetime, row_id: str) -> str:
    """Return an opaque cursor that resumes a listing after this row."""
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Parse a cursor made by `encode_cursor` (raise BadCursor otherwise)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, row_id = json.loads(raw)
        row_id = str(row_id)
        # Ids are short and printable; a NUL in a query parameter is an error in PostgreSQL.
        if len(row_id) > 64 or any(ord(char) < 0x20 or ord(char) == 0x7F for char in row_id):
            raise ValueError("not an id")
        return datetime.fromisoformat(created), row_id
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadCursor("invalid cursor") from exc


def keyset(query: Select[Any], model: Any, cursor: str | None, limit: int) -> Select[Any]:
    """Order newest first and start after `cursor`; fetch one extra row to detect a next page."""
    if cursor:
        created, row_id = decode_cursor(cursor)
        query = query.where(
            or_(
                model.created_at < created,
                and_(model.created_at == created, model.id < row_id),
            )
        )
    return query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)


def page(rows: list[T], limit: int) -> tuple[list[T], str | None]:
    """Split the fetched rows into the page and the cursor of the next one (or None)."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.created_at, last.id)  # type: ignore[attr-defined]
