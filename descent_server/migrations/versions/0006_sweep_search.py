"""Sweeps that search and prune: sweep.strategy, seed, early_stop; run.swept; prune_decision.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-13 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN, not batch mode (see 0002): rebuilding `run` on SQLite would drop
    # its history-cascade trigger. Sweeps stored before this revision are grid sweeps whose
    # `grid` column already holds their axes; their runs' swept values are read back from
    # their hyperparameters.
    op.add_column(
        "sweep", sa.Column("strategy", sa.String(length=16), server_default="grid", nullable=False)
    )
    op.add_column("sweep", sa.Column("seed", sa.BigInteger(), nullable=True))
    op.add_column("sweep", sa.Column("early_stop", sa.JSON(), nullable=True))
    op.add_column("run", sa.Column("swept", sa.JSON(), nullable=True))
    # One row per (run, rung): the primary key is what makes a pruning decision happen once.
    op.create_table(
        "prune_decision",
        sa.Column(
            "run_id",
            sa.String(length=36),
            sa.ForeignKey("run.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("rung", sa.Integer(), primary_key=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("stop", sa.Boolean(), nullable=False),
        sa.Column("peers", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prune_decision")
    op.drop_column("run", "swept")
    op.drop_column("sweep", "early_stop")
    op.drop_column("sweep", "seed")
    op.drop_column("sweep", "strategy")
