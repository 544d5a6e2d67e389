"""The MLP regressor's metrics per stored epoch: epoch.mae and epoch.val_mae.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable without a default: adding them rewrites no rows on either backend, and every
    # epoch of another kind (or stored before this) reads back null. Plain ADD/DROP COLUMN,
    # not batch mode (see 0002).
    op.add_column("epoch", sa.Column("mae", sa.Float(), nullable=True))
    op.add_column("epoch", sa.Column("val_mae", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("epoch", "val_mae")
    op.drop_column("epoch", "mae")
