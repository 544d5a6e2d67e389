"""Abuse tests: hostile and heavy requests against a real API server with auth on.

`abuse_stack` is a real service for one test module: `descent-server api` (uvicorn) on a
PostgreSQL database of its own (127.0.0.1:5432) and a reserved Redis database, with the
module's `API_KNOBS` (DESCENT_* settings, e.g. {"max_request_bytes": "1048576"}). Tests
start their own workers with `abuse_stack.start_worker(name, **knobs)`.

- `abuse_stack.http` — authenticated as the owner "faults" (a regression dataset uploaded).
- `anonymous(stack)` / `client_for(stack, owner)` — a client with no key / another owner.
- `HealthWatch(url)` — polls /healthz in a thread; `.worst` is the slowest answer seen.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.orm import sessionmaker

from descent_server.db.migrate import upgrade
from descent_server.services import keys
from tests.conftest import create_pg_database, drop_pg_database
from tests.faults.stack import Stack
from tests.helpers.redis_db import reserved_redis_db


@pytest.fixture(scope="module")
def abuse_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A real API server (auth on, PostgreSQL + Redis) with the module's API_KNOBS."""
    knobs: dict[str, str] = dict(getattr(request.module, "API_KNOBS", {}))
    name = f"descent_test_abuse_{uuid.uuid4().hex[:8]}"
    url = create_pg_database(name)
    try:
        upgrade(url)
        with reserved_redis_db("abuse") as broker:
            stack = Stack(
                database_url=url, broker_url=broker, tmp=tmp_path_factory.mktemp("abuse"),
                api_knobs=knobs,
            )  # fmt: skip
            try:
                yield stack.start()
            finally:
                stack.close()
    finally:
        drop_pg_database(name)


def client_for(stack: Stack, owner: str) -> httpx.Client:
    """Return a client on the stack's API authenticated as a new key of `owner`."""
    assert stack.engine is not None and stack.api is not None
    with sessionmaker(bind=stack.engine)() as session:
        _, key = keys.create(session=session, owner=owner)
    return httpx.Client(
        base_url=stack.api.url, timeout=60.0, headers={"Authorization": f"Bearer {key}"}
    )


def anonymous(stack: Stack) -> httpx.Client:
    """Return a client on the stack's API with no key at all."""
    assert stack.api is not None
    return httpx.Client(base_url=stack.api.url, timeout=60.0)
