"""The schema comes from Alembic and matches the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from descent_server.db.migrate import alembic_config, current, upgrade
from descent_server.db.models import Base
from descent_server.db.session import make_engine
from tests.helpers.runs import insert_run, records


def test_upgrade_creates_every_table_at_head(database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert current(database_url) == head
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_downgrade_reverses_it(database_url: str) -> None:
    upgrade(database_url)  # already at head: nothing to do
    command.downgrade(alembic_config(database_url), "base")
    assert current(database_url) is None
    engine = make_engine(database_url)
    try:
        assert "run" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    upgrade(database_url)
    assert current(database_url) is not None


def test_deleting_a_run_deletes_its_epochs(session_factory) -> None:  # type: ignore[no-untyped-def]
    from descent_server.repository import history, leases

    with session_factory() as session:
        run_id = insert_run(session)
        keep = insert_run(session)
        session.commit()
        for rid in (run_id, keep):
            attempt = leases.claim(session, rid)
            assert history.append_epochs(session, rid, attempt, records(0, 9))
        session.commit()
        session.execute(text("DELETE FROM run WHERE id = :id"), {"id": run_id})
        session.commit()
        assert history.count_epochs(session, run_id) == 0
        assert history.count_epochs(session, keep) == 10
