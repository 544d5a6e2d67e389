"""SDK fixtures: the real app through TestClient on the shared `settings` database, two keys.

`database_url` is SQLite only here (but for the e2e live tests): the server's behaviour on
PostgreSQL is the API tests' business; in this folder the client is under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import descent
import pytest
from fastapi.testclient import TestClient

from descent_server.api.app import create_app
from descent_server.api.deps import get_enqueue
from descent_server.db.session import session_factory
from descent_server.services import keys
from descent_server.settings import Settings


@dataclass
class Server:
    """The app behind a TestClient, an API key per owner and the runs it enqueued."""

    http: TestClient
    key: str
    other_key: str
    enqueued: list[str] = field(default_factory=list)

    def client(self, key: str | None = None, **options: Any) -> descent.Client:
        """Return an SDK client talking to the app through the TestClient."""
        options.setdefault("backoff", 0.01)
        return descent.Client(http_client=self.http, api_key=key or self.key, **options)


@pytest.hookimpl(tryfirst=True)  # before the root fixture's own params apply
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run SDK tests on SQLite only; the live (e2e) tests on both backends."""
    if "database_url" in metafunc.fixturenames and not metafunc.definition.get_closest_marker(
        "e2e"
    ):
        sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
        metafunc.definition.add_marker(sqlite)


@pytest.fixture
def server(settings: Settings) -> Iterator[Server]:
    """Serve the real app on the test's database; runs are recorded instead of enqueued."""
    with session_factory() as session:
        _, key = keys.create(session=session, owner="alice")
        _, other = keys.create(session=session, owner="bob")
    app = create_app()
    with TestClient(app) as http:
        srv = Server(http=http, key=key, other_key=other)
        app.dependency_overrides[get_enqueue] = lambda: (
            lambda run_id, queue: srv.enqueued.append(run_id)
        )
        yield srv


@pytest.fixture
def client(server: Server) -> Iterator[descent.Client]:
    """An SDK client for owner alice."""
    with server.client() as sdk:
        yield sdk
