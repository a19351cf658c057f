"""The last mile (issue 11): pickup handovers, no-shows and cash orders in the index.

Revision ID: 0007
Revises: 0006

``deals`` gains the two new deal parameters (``pickup_deadline``, ``cash_cap_per_leader``);
``pickup_events`` (HandedOver, CashHandedOver, HandoverSkipped, NoShowsClosed) and
``cash_order_events`` (CashOrderBooked, CashRefunded) are new index tables (REBUILDABLE, see
api.binding). The escrow with these events is a new deployment, so the chain binding clears and
rebuilds the index on the first start against it; no rows are rewritten here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _log_columns() -> list[sa.Column]:
    return [
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pickup_deadline", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("cash_cap_per_leader", sa.BigInteger(), nullable=True))
    op.create_table(
        "pickup_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("leader", sa.String(length=42), nullable=True),
        sa.Column("buyer", sa.String(length=42), nullable=True),
        sa.Column("beneficiary_ref", sa.String(length=66), nullable=True),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("short_quantity", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("refund_per_unit", sa.Numeric(precision=78, scale=0), nullable=True),
        *_log_columns(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tx_hash", "log_index"),
    )
    with op.batch_alter_table("pickup_events", schema=None) as batch_op:
        batch_op.create_index("ix_pickup_events_block_number", ["block_number"], unique=False)
        batch_op.create_index("ix_pickup_events_deal_id", ["deal_id"], unique=False)
        batch_op.create_index("ix_pickup_events_kind", ["kind"], unique=False)
        batch_op.create_index("ix_pickup_events_leader", ["leader"], unique=False)
        batch_op.create_index("ix_pickup_events_deal_buyer", ["deal_id", "buyer"], unique=False)
    op.create_table(
        "cash_order_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.BigInteger(), nullable=False),
        sa.Column("leader", sa.String(length=42), nullable=False),
        sa.Column("beneficiary_ref", sa.String(length=66), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=78, scale=0), nullable=False),
        *_log_columns(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tx_hash", "log_index"),
    )
    with op.batch_alter_table("cash_order_events", schema=None) as batch_op:
        batch_op.create_index("ix_cash_order_events_block_number", ["block_number"], unique=False)
        batch_op.create_index("ix_cash_order_events_deal_id", ["deal_id"], unique=False)
        batch_op.create_index("ix_cash_order_events_leader", ["leader"], unique=False)


def downgrade() -> None:
    op.drop_table("cash_order_events")
    op.drop_table("pickup_events")
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_column("cash_cap_per_leader")
        batch_op.drop_column("pickup_deadline")
