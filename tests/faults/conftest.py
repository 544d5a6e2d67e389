"""Fault-injection fixtures: a private Redis, a stack (API + database + broker) per session.

`stack` is one real service on the shared PostgreSQL server (a database of our own,
`descent_test_faults_<uuid>`) and a private redis-server (ours to flush, kill and restart);
tests start and kill their own workers on it. `private_redis` is that Redis server.
Tests that stop PostgreSQL build a second stack on a private PostgreSQL cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from descent_server.db.migrate import upgrade
from tests.conftest import create_pg_database, drop_pg_database
from tests.faults.servers import PrivateRedis
from tests.faults.stack import Stack


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A redis-server of our own on a free port (db 0: the stack, db 1..: other tests)."""
    with PrivateRedis(tmp_path_factory.mktemp("redis") / "redis.log") as server:
        yield server


@pytest.fixture(scope="session")
def _stack(
    private_redis: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    name = f"descent_test_faults_{uuid.uuid4().hex[:8]}"
    url = create_pg_database(name)
    stack = Stack(database_url=url, broker_url=private_redis.url(0),
                  tmp=tmp_path_factory.mktemp("stack"))  # fmt: skip
    try:
        upgrade(url)
        yield stack.start()
    finally:
        stack.close()
        drop_pg_database(name)


@pytest.fixture
def stack(_stack: Stack, private_redis: PrivateRedis, tmp_path: Path) -> Iterator[Stack]:
    """The shared fault stack, with an empty broker; what a test leaves running is cancelled."""
    if private_redis.proc is None or private_redis.proc.poll() is not None:
        private_redis.start()  # a failed restart test must not break the next test
    private_redis.client(0).flushdb()
    yield _stack
    _stack.cancel_leftovers()
    for worker in list(_stack.workers):
        worker.stop(grace_s=5)
        _stack.workers.remove(worker)
