"""Idempotency-Key replays, shared by every endpoint that creates a row once per key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from descent_server.db.models import Dataset, Run
from descent_server.services.errors import Conflict

Keyed = TypeVar("Keyed", Dataset, Run)
Find = Callable[[str], Keyed | None]


def replay(*, find: Find[Keyed], key: str | None, digest: str) -> Keyed | None:
    """Return the row an earlier request with this key stored, or None if there is none."""
    existing = find(key) if key else None
    return None if existing is None else _same_request(existing, digest)


def commit_or_replay(
    *, session: Session, find: Find[Keyed], key: str | None, digest: str
) -> Keyed | None:
    """Commit the new row; return the winner's row instead if a same-key request beat it."""
    try:
        session.commit()
    except IntegrityError:
        # A concurrent request with the same key won the unique constraint: replay it.
        session.rollback()
        existing = find(key or "")
        if existing is None:
            raise
        return _same_request(existing, digest)
    return None


def _same_request(existing: Keyed, digest: str) -> Keyed:
    """Return the earlier row if its request body matches, else refuse the reused key."""
    if existing.request_hash != digest:
        raise Conflict("Idempotency-Key was already used with a different request")
    return existing
