"""API test fixtures: the real app through TestClient, on the shared migrated databases.

`database_url` and `settings` come from tests/conftest.py (a fresh SQLite and PostgreSQL
database per test). `api_factory(**knobs)` builds the app with extra DESCENT_* settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from descent_server.api.app import create_app
from descent_server.api.deps import get_enqueue
from descent_server.db.session import session_factory
from descent_server.services import keys
from descent_server.settings import Settings
from tests.conftest import refresh_settings


@dataclass
class Api:
    """A TestClient on the real app plus two owners' auth headers and the enqueued runs."""

    client: TestClient
    a: dict[str, str]
    b: dict[str, str]
    enqueued: list[tuple[str, str]] = field(default_factory=list)


def make_key(owner: str) -> dict[str, str]:
    """Create an API key for `owner` and return its Authorization header."""
    with session_factory() as session:
        _, plain = keys.create(session=session, owner=owner)
    return {"Authorization": f"Bearer {plain}"}


def configure(monkeypatch: pytest.MonkeyPatch, **knobs: str) -> Settings:
    """Set DESCENT_<KNOB> variables and reload settings (engine and caches included)."""
    for key, value in knobs.items():
        monkeypatch.setenv(f"DESCENT_{key.upper()}", value)
    return refresh_settings()


@pytest.fixture
def api_factory(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[..., Api]]:
    """Return a function building an Api with extra settings (e.g. max_rows="5")."""
    clients: list[TestClient] = []

    def build(**knobs: str) -> Api:
        configure(monkeypatch, **knobs)
        app = create_app()
        api = Api(client=TestClient(app), a=make_key("alice"), b=make_key("bob"))
        app.dependency_overrides[get_enqueue] = lambda: (
            lambda run_id, queue: api.enqueued.append((run_id, queue))
        )
        clients.append(api.client)
        return api

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def api(api_factory: Callable[..., Api]) -> Api:
    """The app with default settings and auth on."""
    return api_factory()
