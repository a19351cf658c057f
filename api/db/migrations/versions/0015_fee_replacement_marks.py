"""Relayer batches and bundles remember when they were sent, to be replaced once outbid

Revision ID: 0015
Revises: 0014

A transaction whose fee cap covers the base fee but whose tip is outbid is never mined; it is
signed again with raised fees once it has waited ``TUANCHAIN_RELAYER_REPLACE_AFTER_BLOCKS``
blocks and ``..._SECONDS`` seconds (:mod:`api.relayer.replace`, :mod:`api.bundler.worker`):

- ``relay_batches`` and ``user_operations``: ``sent_block`` and ``sent_at`` (the latest block
  and the worker's clock when the transaction was signed; NULL on rows stored before: counted
  from the first poll that finds them) and ``at_ceiling_since`` (due for a replacement that the
  fee ceiling, or the operation's own fees, forbid: shown to the operator);
- ``user_operations.earlier_tx_hashes``: the bundle's earlier transactions of the same bundler
  nonce (JSON list), any of which may be the one mined.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("relay_batches", "user_operations"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("sent_block", sa.BigInteger(), nullable=True))
            batch_op.add_column(sa.Column("sent_at", sa.Float(), nullable=True))
            batch_op.add_column(sa.Column("at_ceiling_since", sa.Float(), nullable=True))
    with op.batch_alter_table("user_operations") as batch_op:
        batch_op.add_column(sa.Column("earlier_tx_hashes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_operations") as batch_op:
        batch_op.drop_column("earlier_tx_hashes")
    for table in ("relay_batches", "user_operations"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("at_ceiling_since")
            batch_op.drop_column("sent_at")
            batch_op.drop_column("sent_block")
