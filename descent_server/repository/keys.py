"""Queries on API keys (only hashes are stored)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from descent_server.db.models import ApiKey


def by_hash(session: Session, *, key_hash: str) -> ApiKey | None:
    """Return the active (not revoked) key with this hash, or None."""
    query = select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    return session.scalars(query).first()


def get(session: Session, *, key_id: str) -> ApiKey | None:
    """Return a key by id (revoked or not), or None."""
    return session.get(ApiKey, key_id)


def list_all(session: Session, *, owner: str | None = None) -> list[ApiKey]:
    """Return every key (optionally one owner's), oldest first."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if owner is not None:
        query = query.where(ApiKey.owner == owner)
    return list(session.scalars(query))


def add(session: Session, key: ApiKey) -> None:
    """Stage a new key (the service commits)."""
    session.add(key)
