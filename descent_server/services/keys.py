"""API keys: created once (the plain key shown only then), stored as sha256, verified per call."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from descent_server.db.models import ApiKey, utcnow
from descent_server.repository import keys as repo
from descent_server.services.errors import NotFound, Unauthorized

KEY_PREFIX = "dsk_"
MISSING_KEY = "missing API key: send 'Authorization: Bearer <key>'"


@dataclass(frozen=True)
class Caller:
    """Who is calling: the owner of every object they touch, and the key (for rate limits)."""

    owner: str
    key_id: str | None


def hash_key(key: str) -> str:
    """Return the sha256 hex digest stored in place of the key."""
    return hashlib.sha256(key.encode()).hexdigest()


def create(*, session: Session, owner: str) -> tuple[ApiKey, str]:
    """Create a key for `owner`; return the row and the plain key (never stored)."""
    if not owner.strip():
        raise ValueError("owner must not be empty")
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(id=str(uuid.uuid4()), owner=owner, prefix=plain[:12], key_hash=hash_key(plain))
    repo.add(session, key)
    session.commit()
    return key, plain


def verify(*, session: Session, key: str | None) -> Caller:
    """Return the caller owning this key, or raise Unauthorized (missing, unknown, revoked)."""
    if not key:
        raise Unauthorized(MISSING_KEY)
    row = repo.by_hash(session, key_hash=hash_key(key))
    if row is None:
        raise Unauthorized("unknown or revoked API key")
    return Caller(owner=row.owner, key_id=row.id)


def list_keys(*, session: Session, owner: str | None = None) -> list[ApiKey]:
    """Return every key (or one owner's), never their plain values."""
    return repo.list_all(session, owner=owner)


def revoke(*, session: Session, key_id: str) -> ApiKey:
    """Revoke a key by id or by its shown prefix; NotFound if no such key."""
    row = repo.get(session, key_id=key_id)
    if row is None:
        matches = [k for k in repo.list_all(session) if k.prefix == key_id]
        row = matches[0] if len(matches) == 1 else None
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    return row
