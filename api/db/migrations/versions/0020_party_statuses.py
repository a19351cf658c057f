"""Each party's standing now, kept by the indexer

Revision ID: 0020
Revises: 0019

The approved leaders and suppliers (the shop's leader chooser, the dashboard's leader list and its
"view one" chooser) were read by walking every ``party_events`` row in Python. ``party_statuses``
holds one row per party, its latest decision (``api.db.party_statuses``), with an index of (kind,
status, account): the approved list is an index range, paged. Filled here from the events already
indexed, as the indexer would have.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# As api.db.party_statuses.PARTY_STATUSES when written (a migration keeps its own copy).
STATUSES = {
    "applied": "pending",
    "approved": "approved",
    "rejected": "rejected",
    "revoked": "revoked",
}


def upgrade() -> None:
    statuses = op.create_table(
        "party_statuses",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("account", sa.String(42), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
    )
    op.create_index("ix_party_statuses_block_number", "party_statuses", ["block_number"])
    op.create_index(
        "ix_party_statuses_kind_status_account", "party_statuses", ["kind", "status", "account"]
    )
    e = sa.table(
        "party_events",
        sa.column("kind"),
        sa.column("account"),
        sa.column("action"),
        sa.column("block_number"),
        sa.column("log_index"),
    )
    ranked = (
        sa.select(
            e.c.kind,
            e.c.account,
            e.c.action,
            e.c.block_number,
            e.c.log_index,
            sa.func.row_number()
            .over(
                partition_by=(e.c.kind, e.c.account),
                order_by=(e.c.block_number.desc(), e.c.log_index.desc()),
            )
            .label("rank"),
        )
        .where(e.c.action.in_(STATUSES))
        .subquery()
    )
    op.execute(
        sa.insert(statuses).from_select(
            ["kind", "account", "status", "block_number", "log_index"],
            sa.select(
                ranked.c.kind,
                ranked.c.account,
                sa.case(STATUSES, value=ranked.c.action),
                ranked.c.block_number,
                ranked.c.log_index,
            ).where(ranked.c.rank == 1),
        )
    )


def downgrade() -> None:
    op.drop_table("party_statuses")
