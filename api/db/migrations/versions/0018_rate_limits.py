"""Per-client rate limits shared by every process on the database

Revision ID: 0018
Revises: 0017

``rate_limits``: a token bucket per client address (``api.ratelimit.SharedBuckets``), so several
``tuanchain serve`` processes on one PostgreSQL database do not give a client a limit each. Used
on PostgreSQL; on SQLite the table stays empty (one process keeps its buckets in memory). A new
table: nothing to move.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("granted", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
