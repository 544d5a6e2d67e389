"""Fault-injection fixtures: private Redis and PostgreSQL servers, a stack per session.

Nothing here touches the machine's shared servers (5432, 6379): other suites run against
them at the same time, and a fault test kills, flushes and stops what it uses. So:
- `private_redis` — a redis-server of our own (db 0: `stack`, db 1: the outage test).
- `private_pg` — a PostgreSQL cluster of our own (initdb in /tmp), one database per stack.
- `stack` — a real service on them: `descent-server api` (uvicorn) on the database
  `descent_test_faults_<uuid>` and Redis db 0; tests start and kill their own workers.
- `embedded_stack` — the same on SQLite and the file broker (the zero-setup mode).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from descent_server.db.migrate import upgrade
from tests.faults.servers import PrivatePostgres, PrivateRedis
from tests.faults.stack import Stack, new_database


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A redis-server of our own on a free port, without persistence."""
    with PrivateRedis(tmp_path_factory.mktemp("redis") / "redis.log") as server:
        yield server


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of our own on a free port (ours to stop and start)."""
    with PrivatePostgres() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def _stack(
    private_redis: PrivateRedis,
    private_pg: PrivatePostgres,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    stack = Stack(
        database_url=new_database(private_pg),
        broker_url=private_redis.url(0),
        tmp=tmp_path_factory.mktemp("stack"),
    )
    try:
        yield stack.start()
    finally:
        stack.close()


@pytest.fixture(scope="session")
def _embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("embedded")
    url = f"sqlite:///{tmp / 'descent.db'}"
    upgrade(url)
    stack = Stack(database_url=url, broker_url="", tmp=tmp)
    try:
        yield stack.start()
    finally:
        stack.close()


def _tidy(stack: Stack) -> None:
    stack.cancel_leftovers()
    for worker in list(stack.workers):
        worker.stop(grace_s=5)
        stack.workers.remove(worker)


@pytest.fixture
def stack(
    _stack: Stack, private_redis: PrivateRedis, private_pg: PrivatePostgres
) -> Iterator[Stack]:
    """The PostgreSQL + Redis stack, with an empty broker; leftovers are cancelled after."""
    # A restart or outage test that failed half-way must not break the tests after it.
    if private_redis.proc is None or private_redis.proc.poll() is not None:
        private_redis.start()
    private_pg.ensure_running()
    private_redis.client(0).flushdb()
    yield _stack
    _tidy(_stack)


@pytest.fixture
def embedded_stack(_embedded_stack: Stack) -> Iterator[Stack]:
    """The embedded-mode stack (SQLite + file broker); leftovers are cancelled after."""
    yield _embedded_stack
    _tidy(_embedded_stack)
