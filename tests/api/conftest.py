"""API test fixtures: the real app through TestClient on migrated SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from descent_server.api.app import create_app
from descent_server.api.deps import get_enqueue
from descent_server.db.migrate import upgrade
from descent_server.db.models import Base
from descent_server.db.session import reset_engine, session_factory
from descent_server.services import keys
from descent_server.settings import get_settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file shared by the session's tests (emptied after each)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'api.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of its own, dropped at the end."""
    name = f"descent_test_api_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    yield url
    reset_engine()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test runs on both backends."""
    return request.getfixturevalue(f"{request.param}_url")


@dataclass
class Api:
    """A TestClient on the real app plus two owners' auth headers and the enqueued runs."""

    client: TestClient
    a: dict[str, str]
    b: dict[str, str]
    enqueued: list[tuple[str, str]] = field(default_factory=list)


def configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> None:
    """Point settings at the test database (no DESCENT_* from outside leaks in)."""
    for key in list(os.environ):
        if key.startswith("DESCENT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESCENT_DATA_DIR", str(tmp_path / "data"))
    for key, value in env.items():
        monkeypatch.setenv(f"DESCENT_{key.upper()}", value)
    get_settings.cache_clear()
    reset_engine()


def make_key(owner: str) -> dict[str, str]:
    """Create an API key for `owner` and return its Authorization header."""
    with session_factory() as session:
        _, plain = keys.create(session=session, owner=owner)
    return {"Authorization": f"Bearer {plain}"}


def empty_tables() -> None:
    """Delete every row (children first) so the next test starts clean."""
    with session_factory() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
        session.commit()


@pytest.fixture
def api_factory(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[object]:
    """Return a function building an Api with extra settings (e.g. max_rows="5")."""
    clients: list[TestClient] = []

    def build(**env: str) -> Api:
        configure(monkeypatch, tmp_path, database_url=database_url, **env)
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
    empty_tables()
    reset_engine()
    get_settings.cache_clear()


@pytest.fixture
def api(api_factory) -> Api:  # type: ignore[no-untyped-def]
    """The app with default settings and auth on."""
    return api_factory()
