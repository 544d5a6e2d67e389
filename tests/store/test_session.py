"""Engines and sessions: SQLite pragmas, PostgreSQL URLs, one commit or a rollback."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from descent_server.db.models import ApiKey
from descent_server.db.session import make_engine, normalize_url, session_scope


def test_postgres_urls_use_psycopg_3() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_runs_in_wal_with_foreign_keys(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    finally:
        engine.dispose()


def test_session_scope_commits_once_or_rolls_back(session_factory) -> None:  # type: ignore[no-untyped-def]
    key = {"owner": "o", "prefix": "p", "key_hash": "h" * 64}
    with session_scope(session_factory) as session:
        session.add(ApiKey(id="k1", **key))
    with pytest.raises(RuntimeError), session_scope(session_factory) as session:
        session.add(ApiKey(id="k2", **{**key, "key_hash": "g" * 64}))
        session.flush()
        raise RuntimeError("boom")
    with session_factory() as session:
        assert [k.id for k in session.query(ApiKey).all()] == ["k1"]
