"""company_prefix_events: the GS1 Company Prefixes the platform assigned or revoked

Revision ID: 0013
Revises: 0012

The registry now lets only a GS1 Company Prefix's holder register batches of GTINs under it; the
platform assigns and revokes prefixes (CompanyPrefixAssigned / CompanyPrefixRevoked). The index
keeps those logs, one row each, so the operator's review page and the supplier's page list who
holds which prefix. A log table: rebuilt from the chain, nothing to move.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLE = "company_prefix_events"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("supplier", sa.String(length=42), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tx_hash", "log_index"),
    )
    for column in ("prefix", "supplier", "block_number"):
        op.create_index(op.f(f"ix_{TABLE}_{column}"), TABLE, [column], unique=False)


def downgrade() -> None:
    for column in ("block_number", "supplier", "prefix"):
        op.drop_index(op.f(f"ix_{TABLE}_{column}"), table_name=TABLE)
    op.drop_table(TABLE)
