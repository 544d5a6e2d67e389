"""The `descent-server` CLI against a temporary SQLite database."""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from descent_server.cli import app
from descent_server.db.session import get_engine

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_help_lists_every_command() -> None:
    output = invoke("--help")
    for name in ("dev", "api", "worker", "migrate", "keys"):
        assert name in output
    for name in ("create", "list", "revoke"):
        assert name in invoke("keys", "--help")


def test_migrate_creates_the_schema(embedded_env: Path) -> None:
    output = invoke("migrate")
    assert "up to date" in output
    assert (embedded_env / "descent.db").exists()
    tables = set(sa.inspect(get_engine()).get_table_names())
    assert {"api_key", "dataset", "run", "epoch", "snapshot", "artifact"} <= tables
    invoke("migrate")  # idempotent


def test_keys_create_list_revoke(embedded_env: Path) -> None:
    invoke("migrate")
    output = invoke("keys", "create", "--owner", "alice")
    secret = output.strip().splitlines()[-1]
    assert len(secret) >= 32 and " " not in secret

    with get_engine().connect() as conn:
        key_id, owner, key_hash, revoked_at = conn.execute(
            sa.text("SELECT id, owner, key_hash, revoked_at FROM api_key")
        ).one()
    assert owner == "alice" and revoked_at is None
    assert key_hash == hashlib.sha256(secret.encode()).hexdigest()  # only the hash is stored

    listing = invoke("keys", "list")
    assert key_id in listing and "alice" in listing and "active" in listing
    assert secret not in listing

    assert key_id in invoke("keys", "revoke", key_id)
    listing = invoke("keys", "list")
    assert "revoked" in listing and "active" not in listing.split("\n", 1)[1]


def test_revoke_unknown_key_fails(embedded_env: Path) -> None:
    invoke("migrate")
    result = runner.invoke(app, ["keys", "revoke", "00000000-0000-0000-0000-000000000000"])
    assert result.exit_code == 1
    assert "no such key" in result.output


def test_create_needs_an_owner(embedded_env: Path) -> None:
    invoke("migrate")
    result = runner.invoke(app, ["keys", "create", "--owner", " "])
    assert result.exit_code == 2
    assert "owner" in result.output
