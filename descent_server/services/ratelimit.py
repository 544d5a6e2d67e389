"""Shared rate limits per owner, counted in the database so every API process sees them."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

from descent_server.db.session import session_scope
from descent_server.repository import quotas as repo
from descent_server.services.errors import RateLimited
from descent_server.settings import get_settings

Scope = Literal["submit", "upload", "export", "render", "predict"]

PERIOD_S = 60.0  # limits are per minute; a full bucket allows a burst of a minute's worth
PRUNE_EVERY_S = 60.0

# What each scope counts, for the 429's message, and the setting that limits it.
_NOUNS: dict[str, str] = {
    "submit": "run submissions",
    "upload": "uploads",
    "export": "exports",
    "render": "renders",
    "predict": "predict requests",
}
_last_prune = [0.0]  # per process: pruning once a minute is plenty


def limit_per_minute(scope: Scope) -> int:
    """Return the configured requests per minute of `scope` (0 turns the limit off)."""
    return int(getattr(get_settings(), f"{scope}_rate_per_minute"))


def take(scope: Scope, owner: str, n: int = 1, *, clock: Callable[[], float] = time.time) -> None:
    """Spend `n` of the owner's `scope` requests this minute or raise RateLimited (429)."""
    limit = limit_per_minute(scope)
    if limit <= 0:
        return
    noun = _NOUNS[scope]
    if n > limit:
        raise RateLimited(f"{n} {noun} exceed the limit of {limit} per minute", retry_after=60)
    key, now, cost = f"{scope}:{owner}", clock(), n * PERIOD_S / limit
    with session_scope() as session:
        taken = repo.take(session, key=key, now=now, cost=cost, period=PERIOD_S)
        full_at = None if taken else repo.full_at(session, key=key)
    if now - _last_prune[0] >= PRUNE_EVERY_S:
        # A transaction of its own: the upsert's holds one row lock, never waits on a second.
        _last_prune[0] = now
        with session_scope() as session:
            repo.prune(session, now=now)
    if not taken:
        # The bucket has room for `n` again once full_at + cost - PERIOD_S has passed.
        wait = max(math.ceil((full_at or now) + cost - PERIOD_S - now), 1)
        raise RateLimited(
            f"more than {limit} {noun} per minute; retry in {wait} s", retry_after=wait
        )
