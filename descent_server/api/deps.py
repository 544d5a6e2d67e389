"""FastAPI dependencies: session, caller (owner), enqueue, broker ping, submit limits, strict query.

The one API module that reaches into workers (enqueue, broker ping), so routes and services
get them as plain functions and tests can override them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from descent_server.api import auth
from descent_server.api.schemas.common import NO_CONTROL_CHARS
from descent_server.db.session import session_factory
from descent_server.services import ratelimit
from descent_server.services.errors import InvalidInput
from descent_server.services.health import BrokerPing
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
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Authenticate the Bearer key (401 if missing or unknown); auth off: the local owner."""
    # Async and without the request's session: with auth off no threadpool hop is spent, and
    # with auth on the gate (api/auth.py) has already verified the key before the body was read.
    settings = get_settings()
    if not settings.auth_enabled:
        return Caller(owner=settings.local_owner, key_id=None)
    verified = getattr(request.state, auth.STATE_KEY, None)
    if isinstance(verified, Caller):
        return verified
    return await auth.authenticate(credentials.credentials if credentials else None)


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


def get_lr_range_enqueue() -> Enqueue:
    """Return the function that hands a committed LR range test id to the broker."""
    from descent_server.workers.queue import enqueue_lr_range_test

    return enqueue_lr_range_test


def get_broker_ping() -> BrokerPing:
    """Return the function that checks the broker answers (for readiness)."""
    from descent_server.workers.queue import ping_broker

    return ping_broker


BrokerPingDep = Annotated[BrokerPing, Depends(get_broker_ping)]


async def limit_submissions(caller: CallerDep) -> None:
    """Spend one of the owner's run submissions this minute, in every API process (429)."""
    await run_in_threadpool(ratelimit.take, "submit", caller.owner)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=NO_CONTROL_CHARS,
        description="Replays with the same key and body return the first result.",
    ),
]


def _query_names(dependant: Dependant) -> set[str]:
    """Return the query parameter names a route (or a dependency) declares, its own included."""
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


_known_query: dict[int, frozenset[str]] = {}


async def reject_unknown_query(request: Request) -> None:
    """Refuse a query parameter the route does not declare (422 at ["query", name]).

    A filter the server does not know must not silently return the unfiltered list. Add it as
    `dependencies=[Depends(reject_unknown_query)]`; the known names come from the route itself.
    """
    route: Any = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _known_query.get(id(route))
    if known is None:
        known = _known_query[id(route)] = frozenset(_query_names(dependant))
    for name in request.query_params:
        if name not in known:
            raise InvalidInput.at(["query", name], f"unknown query parameter {name!r}")
