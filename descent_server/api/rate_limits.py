"""Shared rate limits as route dependencies: `dependencies=[Depends(RateLimit("render"))]`."""

from __future__ import annotations

from fastapi.concurrency import run_in_threadpool

from descent_server.api.deps import CallerDep
from descent_server.services import ratelimit
from descent_server.services.ratelimit import Scope


class RateLimit:
    """Spend one of the caller's `scope` requests this minute before the route runs (429)."""

    def __init__(self, scope: Scope) -> None:
        self.scope: Scope = scope

    async def __call__(self, caller: CallerDep) -> None:
        """Count this request against the owner's limit (one upsert, in the threadpool)."""
        await run_in_threadpool(ratelimit.take, self.scope, caller.owner)
