"""Quotas and shared rate limits: dataset and run sizes, the shared rate_limit buckets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 15:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("full_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    # Plain ADD/DROP COLUMN (SQLite >= 3.35), not batch mode: rebuilding `run` on SQLite
    # would drop its history-cascade trigger.
    op.add_column(
        "dataset", sa.Column("size_bytes", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "run", sa.Column("stored_bytes", sa.BigInteger(), server_default="0", nullable=False)
    )
    # Datasets stored before the quota count what they hold (length() of a blob is bytes).
    op.execute("UPDATE dataset SET size_bytes = length(content)")


def downgrade() -> None:
    op.drop_column("run", "stored_bytes")
    op.drop_column("dataset", "size_bytes")
    op.drop_table("rate_limit")
