"""Authenticate `/v1` requests before any of their body is read, off the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from descent_server.api import errors
from descent_server.db.session import session_factory
from descent_server.services import keys
from descent_server.services.errors import Unauthorized
from descent_server.services.keys import Caller

# The key lookup has threads of its own: it never queues behind routes, renders or exports
# in the request threadpool. A lookup is one indexed query, so a few threads are plenty.
AUTH_THREADS = 4
_executor = ThreadPoolExecutor(max_workers=AUTH_THREADS, thread_name_prefix="descent-auth")
# Where the gate leaves the caller for `get_caller` (no second lookup).
STATE_KEY = "caller"


def bearer_key(scope: Scope) -> str | None:
    """Return the key of an `Authorization: Bearer <key>` header (None for any other)."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, key = get_authorization_scheme_param(value.decode("latin-1"))
            return key if scheme.lower() == "bearer" and key else None
    return None


async def authenticate(key: str | None) -> Caller:
    """Return the caller owning `key` (Unauthorized if missing, unknown or revoked)."""
    if not key:
        # Refused without a thread or a query: the cheapest answer to the commonest attack.
        raise Unauthorized(keys.MISSING_KEY)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, _verify, key)


def _verify(key: str) -> Caller:
    with session_factory() as session:
        return keys.verify(session=session, key=key)


class AuthGateMiddleware:
    """Answer an unauthenticated `/v1` request with 401 before its body is read."""

    def __init__(self, app: ASGIApp, *, prefix: str = "/v1/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Verify the Bearer key first; pass the caller on in the request state."""
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        try:
            caller = await authenticate(bearer_key(scope))
        except Exception as exc:  # Unauthorized, or the database being down (503)
            response = errors.handle(Request(scope), exc)
            if _has_body(scope):
                # Reading the rest of a large body just to discard it is the attack itself.
                response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = caller
        await self.app(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False
