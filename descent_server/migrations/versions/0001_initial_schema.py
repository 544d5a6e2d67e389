"""Initial schema: every table of descent_server/db/models.py.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 19:36:34.751805
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _on_run() -> str:
    return " ON run" if op.get_context().dialect.name == "postgresql" else ""


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index("ix_api_key_owner", "api_key", ["owner"])

    op.create_table(
        "dataset",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "idempotency_key"),
    )
    op.create_index("ix_dataset_owner", "dataset", ["owner"])

    op.create_table(
        "sweep",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("grid", sa.JSON(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sweep_owner", "sweep", ["owner"])

    op.create_table(
        "run",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("hyperparameters", sa.JSON(), nullable=False),
        sa.Column("device_request", sa.String(length=8), nullable=False),
        sa.Column("queue", sa.String(length=16), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("progress_epoch", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("analysis", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("device", sa.String(length=200), nullable=True),
        sa.Column("backend", sa.String(length=32), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sweep_id", sa.String(length=36), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweep.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "idempotency_key"),
    )
    op.create_index("ix_run_dataset_id", "run", ["dataset_id"])
    op.create_index("ix_run_owner", "run", ["owner"])
    op.create_index("ix_run_status", "run", ["status"])
    op.create_index("ix_run_sweep_id", "run", ["sweep_id"])

    op.create_table(
        "artifact",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "name"),
    )
    op.create_table(
        "epoch",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("val_loss", sa.Float(), nullable=True),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("val_accuracy", sa.Float(), nullable=True),
        sa.Column("extra", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "epoch"),
    )
    op.create_table(
        "epoch_block",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("min_epoch", sa.Integer(), nullable=False),
        sa.Column("min_loss", sa.Float(), nullable=True),
        sa.Column("max_epoch", sa.Integer(), nullable=False),
        sa.Column("max_loss", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "block"),
    )
    op.create_table(
        "snapshot",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("grid", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "epoch"),
    )

    _create_history_cascade()


def _create_history_cascade() -> None:
    """Delete a run's epochs and blocks with it (no foreign keys: see db/models.py Epoch)."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION run_delete_epochs() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN DELETE FROM epoch WHERE run_id IN (SELECT id FROM old_runs); "
            "DELETE FROM epoch_block WHERE run_id IN (SELECT id FROM old_runs); RETURN NULL; "
            "END $$"
        )
        op.execute(
            "CREATE TRIGGER run_delete_epochs AFTER DELETE ON run "
            "REFERENCING OLD TABLE AS old_runs FOR EACH STATEMENT "
            "EXECUTE FUNCTION run_delete_epochs()"
        )
    else:
        op.execute(
            "CREATE TRIGGER run_delete_epochs AFTER DELETE ON run FOR EACH ROW "
            "BEGIN DELETE FROM epoch WHERE run_id = OLD.id; "
            "DELETE FROM epoch_block WHERE run_id = OLD.id; END"
        )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS run_delete_epochs" + _on_run())
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS run_delete_epochs()")
    op.drop_table("snapshot")
    op.drop_table("epoch_block")
    op.drop_table("epoch")
    op.drop_table("artifact")
    op.drop_index("ix_run_sweep_id", table_name="run")
    op.drop_index("ix_run_status", table_name="run")
    op.drop_index("ix_run_owner", table_name="run")
    op.drop_index("ix_run_dataset_id", table_name="run")

    op.drop_table("run")
    op.drop_index("ix_sweep_owner", table_name="sweep")

    op.drop_table("sweep")
    op.drop_index("ix_dataset_owner", table_name="dataset")

    op.drop_table("dataset")
    op.drop_index("ix_api_key_owner", table_name="api_key")

    op.drop_table("api_key")
