"""FastAPI dependencies: the database session, the caller (owner), enqueue, submission limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from descent_server.db.session import session_factory
from descent_server.services import keys
from descent_server.services.keys import Caller
from descent_server.services.runs import Enqueue
from descent_server.settings import get_settings

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


def get_session() -> Iterator[Session]:
    """Yield a session for one request; anything not committed by a service is rolled back."""
    session = session_factory()
    try:
        yield session
    finally:
        session.close()


# scope="function": the session (and its pooled connection) is released when the route returns,
# before FastAPI serialises the response in another threadpool call. Held until the response
# was sent, 40 threads and 15 connections deadlocked under ~60 concurrent requests.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_caller(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Authenticate the Bearer key (401 if missing or unknown); auth off: the local owner."""
    # Async and without the request's session, so that with auth off no threadpool hop is
    # spent (a session dependency costs two); the key lookup blocks on the database, so it
    # runs in the threadpool with a short session of its own.
    settings = get_settings()
    if not settings.auth_enabled:
        return Caller(owner=settings.local_owner, key_id=None)
    key = credentials.credentials if credentials else None
    return await run_in_threadpool(_verify_key, key)


def _verify_key(key: str | None) -> Caller:
    with session_factory() as session:
        return keys.verify(session=session, key=key)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_owner(caller: CallerDep) -> str:
    """Return the owner every object of this request belongs to."""
    return caller.owner


OwnerDep = Annotated[str, Depends(get_owner)]


def get_enqueue() -> Enqueue:
    """Return the function that hands a committed run id to the broker."""
    from descent_server.workers.queue import enqueue_run

    return enqueue_run


EnqueueDep = Annotated[Enqueue, Depends(get_enqueue)]


def limit_submissions(request: Request, caller: CallerDep) -> None:
    """Spend one submission token of the caller's key (429 + Retry-After when empty)."""
    request.app.state.submit_bucket.take(caller.key_id or caller.owner)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Replays with the same key and body return the first result.",
    ),
]
