"""A wall-clock time per stored epoch: epoch.recorded_at.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 16:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Seconds since the Unix epoch (UTC) as a float: 8 bytes, COPYed as float8 with no
    # parsing, formatted as RFC 3339 only when served. Nullable without a default, so adding
    # it rewrites no rows on either backend; epochs stored before it read back as null.
    # Plain ADD/DROP COLUMN, not batch mode (see 0002).
    op.add_column("epoch", sa.Column("recorded_at", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("epoch", "recorded_at")
