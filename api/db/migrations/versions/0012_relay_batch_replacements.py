"""Relayer batch transactions replaced with higher fees (same nonce) keep every hash

Revision ID: 0012
Revises: 0011

A batch whose fee cap the base fee outgrew is signed again with the same relayer nonce and
raised fees (:mod:`api.relayer.replace`); any of the transactions of that nonce may be the one
mined, so each is kept in ``relay_batches`` until the batch settles:

- ``series``: the hash of the first transaction of that nonce (NULL on the first itself);
- ``max_fee_per_gas``: the transaction's fee cap (NULL on rows stored before: read from the raw
  bytes), so a poll tells a priced-out batch without decoding it;
- ``permits_raw``: the raw permit transactions sent right before the batch, signed again with it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("relay_batches") as batch_op:
        batch_op.add_column(sa.Column("series", sa.String(length=66), nullable=True))
        batch_op.add_column(sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("permits_raw", sa.JSON(), nullable=True))
        batch_op.create_index("ix_relay_batches_series", ["series"])


def downgrade() -> None:
    with op.batch_alter_table("relay_batches") as batch_op:
        batch_op.drop_index("ix_relay_batches_series")
        batch_op.drop_column("permits_raw")
        batch_op.drop_column("max_fee_per_gas")
        batch_op.drop_column("series")
