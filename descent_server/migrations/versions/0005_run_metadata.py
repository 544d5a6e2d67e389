"""Across runs: run.tags, notes, parent_run_id, duration_s, dataset_name; dataset dedupe index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-13 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN, not batch mode (see 0002): rebuilding `run` on SQLite would drop
    # its history-cascade trigger.
    op.add_column("run", sa.Column("tags", sa.JSON(), server_default="[]", nullable=False))
    op.add_column("run", sa.Column("notes", sa.Text(), nullable=True))
    op.add_column("run", sa.Column("parent_run_id", sa.String(length=36), nullable=True))
    op.add_column("run", sa.Column("duration_s", sa.Float(), nullable=True))
    op.add_column("run", sa.Column("dataset_name", sa.String(length=200), nullable=True))
    op.create_index("ix_run_parent_run_id", "run", ["parent_run_id"])
    op.create_index("ix_dataset_owner_sha256", "dataset", ["owner", "sha256"])
    # Runs finished before this revision get their duration too, so sorting by it is whole.
    if op.get_bind().dialect.name == "postgresql":
        seconds = "EXTRACT(EPOCH FROM finished_at - started_at)"
    else:
        seconds = "(julianday(finished_at) - julianday(started_at)) * 86400.0"
    op.execute(
        f"UPDATE run SET duration_s = {seconds} "
        "WHERE finished_at IS NOT NULL AND started_at IS NOT NULL"
    )
    # The dataset's name as it was at submit: a builtin's is what follows "builtin:".
    op.execute(
        "UPDATE run SET dataset_name = CASE WHEN dataset_id LIKE 'builtin:%' "
        "THEN substr(dataset_id, 9) "
        "ELSE (SELECT dataset.name FROM dataset WHERE dataset.id = run.dataset_id) END"
    )


def downgrade() -> None:
    op.drop_index("ix_dataset_owner_sha256", table_name="dataset")
    op.drop_index("ix_run_parent_run_id", table_name="run")
    op.drop_column("run", "dataset_name")
    op.drop_column("run", "duration_s")
    op.drop_column("run", "parent_run_id")
    op.drop_column("run", "notes")
    op.drop_column("run", "tags")
