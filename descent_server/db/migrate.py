"""Run the Alembic migrations programmatically (the schema is created only by migrations)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from descent_server.db.session import normalize_url
from descent_server.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """Return an Alembic config for the package's migrations and `url` (default: settings)."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    resolved = normalize_url(url or get_settings().resolved_database_url())
    # ConfigParser interpolation treats % specially (e.g. in encoded passwords).
    config.set_main_option("sqlalchemy.url", resolved.replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the database at `url` (default: the configured one) to `revision`."""
    resolved = url or get_settings().resolved_database_url()
    if resolved.startswith("sqlite:///"):
        # The embedded database lives in data_dir, which may not exist yet.
        Path(resolved.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(resolved), revision)


def current(url: str | None = None) -> str | None:
    """Return the revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    from descent_server.db.session import make_engine

    engine = make_engine(url or get_settings().resolved_database_url())
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
