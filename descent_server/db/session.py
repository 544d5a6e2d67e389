"""Engines and sessions: one engine per process, sessions committed once or rolled back."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from descent_server.settings import get_settings

SQLITE_BUSY_TIMEOUT_MS = 30_000
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def normalize_url(url: str) -> str:
    """Return `url` with PostgreSQL pointed at the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def json_dumps(value: Any) -> str:
    """Encode JSON columns with orjson: fast, and NaN/Infinity become null."""
    return orjson.dumps(value, option=JSON_OPTIONS, default=_json_default).decode()


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for SQLite (WAL, foreign keys, busy timeout) or PostgreSQL."""
    url = normalize_url(url)
    kwargs.setdefault("json_serializer", json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if make_url(url).get_backend_name() == "sqlite":
        return _make_sqlite_engine(url, **kwargs)
    options: dict[str, Any] = {"pool_pre_ping": True}
    if kwargs.get("poolclass") is None:
        options.update(pool_size=5, max_overflow=10)
    options.update(kwargs)
    # connect_timeout keeps a request from hanging when the database is down.
    options.setdefault("connect_args", {"connect_timeout": 5})
    return create_engine(url, **options)


def _make_sqlite_engine(url: str, **kwargs: Any) -> Engine:
    options: dict[str, Any] = {
        "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    }
    if make_url(url).database in (None, "", ":memory:"):
        options["poolclass"] = NullPool
    options.update(kwargs)
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        # WAL lets the API read while a worker writes; NORMAL is durable enough under WAL.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    return engine


@lru_cache
def get_engine() -> Engine:
    """Return the process-wide engine for the configured database (cached)."""
    return make_engine(get_settings().resolved_database_url())


def reset_engine() -> None:
    """Forget the cached engine (after a fork or a settings change); its pool is dropped."""
    if get_engine.cache_info().currsize:
        # close=False: in a forked child the parent's connections must not be closed by us.
        get_engine().dispose(close=False)
    get_engine.cache_clear()
    _factory.cache_clear()


@lru_cache
def _factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def session_factory() -> Session:
    """Return a new session bound to the process-wide engine."""
    return _factory()()


@contextmanager
def session_scope(factory: Any = None) -> Iterator[Session]:
    """Yield a session, commit once at the end, roll back on error, always close."""
    session: Session = (factory or session_factory)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
