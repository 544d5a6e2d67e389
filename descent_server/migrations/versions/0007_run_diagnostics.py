"""Training diagnostics: run.diagnostics, the findings stored while a run trains.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-20 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN, not batch mode (see 0002): rebuilding `run` on SQLite would drop
    # its history-cascade trigger. Runs stored before this revision have no findings.
    op.add_column("run", sa.Column("diagnostics", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    op.drop_column("run", "diagnostics")
