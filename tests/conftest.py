"""Shared fixtures for every test folder (store, workers, API, SDK, e2e). Reuse them.

Databases (real ones, migrated by Alembic through `descent_server.db.migrate.upgrade`):
- `database_url` — parametrized over ["sqlite", "postgres"]: a FRESH migrated database per
  test. SQLite: a temp file copied from a migrated template. PostgreSQL: a database
  `descent_test_<uuid8>` on 127.0.0.1:5432 (user postgres) cloned from a migrated template
  database, dropped WITH (FORCE) at the end. Pick one backend in a test with
  `@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)`. The postgres
  variant carries the `postgres` mark (`-m "not postgres"` runs SQLite only).
- `backend` — "sqlite" or "postgres": which one `database_url` is.
- `broker_url` — the broker that goes with the backend: "" for SQLite (the embedded
  filesystem broker under data_dir), `redis://127.0.0.1:6379/<n>` for PostgreSQL, with a
  Redis database number reserved for this test (a marker key) and flushed before and after.

Settings and sessions:
- `settings` — clears every DESCENT_* variable, then sets DESCENT_DATA_DIR (tmp),
  DESCENT_DATABASE_URL, DESCENT_BROKER_URL; chdir to tmp (no stray .env); clears the
  settings/engine/producer caches before and after. Returns `get_settings()`. To change more
  knobs in a test: `monkeypatch.setenv("DESCENT_X", ...)` then `refresh_settings()`.
- `session_factory` — a sessionmaker on the test database (`with session_factory() as s:`).

Helpers (import as `tests.helpers.X`):
- processes: `start_worker(log_path=...)` a real `celery worker` subprocess (prefork, -Q cpu,
  -c 1) on the current DESCENT_* environment, waits until ready; `.stop()`, `.kill()`
  (SIGKILL of its process group), `.log()`. The `worker` fixture below is one of those.
- runs: `insert_run(session, **fields)` (default: the course movies regression, queued),
  `insert_dataset(session, columns)`, `records(first, last)`, `wait_for_run(factory, id)`.
- proxy: `TcpProxy(5432)`, a link to PostgreSQL that a test can cut (an outage for one
  client without stopping the shared server).
- redis_db: `reserved_redis_db()` yields the URL of a Redis database no other test or
  benchmark holds (what `broker_url` uses).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

from descent_server.db.migrate import upgrade
from descent_server.db.session import get_engine, make_engine, reset_engine
from descent_server.settings import Settings, get_settings
from tests.helpers.redis_db import reserved_redis_db

PG_HOST = "127.0.0.1:5432"
PG_ADMIN = f"postgresql://postgres@{PG_HOST}/postgres"


def pg_url(name: str) -> str:
    """Return the SQLAlchemy URL of the PostgreSQL database `name`."""
    return f"postgresql+psycopg://postgres@{PG_HOST}/{name}"


def create_pg_database(name: str, template: str | None = None) -> str:
    """Create a PostgreSQL database (optionally cloned from `template`); return its URL."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{suffix}')  # type: ignore[arg-type]
    return pg_url(name)


def drop_pg_database(name: str) -> None:
    """Drop a PostgreSQL database, closing whatever is still connected to it."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def refresh_settings() -> Settings:
    """Forget cached settings, engine and broker producer; return fresh settings."""
    get_settings.cache_clear()
    if get_engine.cache_info().currsize:
        get_engine().dispose()  # close the pooled connections: tests must not leak them
    reset_engine()
    from descent_server.workers.queue import reset_producer

    reset_producer()
    return get_settings()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[str]:
    name = f"descent_test_tmpl_{uuid.uuid4().hex[:8]}"
    url = create_pg_database(name)
    upgrade(url)
    yield name
    drop_pg_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for this test (see the module docstring)."""
    kind = request.param
    if kind == "sqlite":
        template = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "descent.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("_postgres_template")
    name = f"descent_test_{uuid.uuid4().hex[:8]}"
    url = create_pg_database(name, template=template)
    yield url
    reset_engine()
    drop_pg_database(name)


@pytest.fixture
def backend(database_url: str) -> str:
    """The database backend of this test: "sqlite" or "postgres"."""
    return "sqlite" if database_url.startswith("sqlite") else "postgres"


@pytest.fixture
def broker_url(database_url: str) -> Iterator[str]:
    """The broker for the backend: embedded filesystem for SQLite, a Redis db for PostgreSQL."""
    if database_url.startswith("sqlite"):
        yield ""
        return
    with reserved_redis_db() as url:
        yield url


@pytest.fixture
def settings(
    database_url: str, broker_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Settings pointing at this test's database, broker and data dir."""
    for key in list(os.environ):
        if key.startswith("DESCENT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESCENT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DESCENT_DATABASE_URL", database_url)
    monkeypatch.setenv("DESCENT_BROKER_URL", broker_url)
    (tmp_path / "data").mkdir(exist_ok=True)
    yield refresh_settings()
    monkeypatch.undo()
    refresh_settings()


@pytest.fixture
def session_factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A sessionmaker on this test's database (its engine is disposed at the end)."""
    engine = make_engine(database_url)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[object]:
    """A real Celery worker (prefork, -Q cpu, -c 1) on this test's settings, stopped after."""
    from tests.helpers.processes import start_worker

    proc = start_worker(log_path=tmp_path / "worker.log")
    try:
        yield proc
    finally:
        proc.stop()
