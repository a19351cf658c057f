"""The relayer's batch transactions stored once per batch (relay_batches), not on every row

Revision ID: 0010
Revises: 0009

- New table ``relay_batches`` (tx_hash, raw_tx, created_at): the signed raw bytes of a relayer
  transaction, kept until its batch settles, to broadcast the same bytes again after a restart.
  Until now every ``relay_requests`` row of a batch carried the whole batch transaction (~2 KB of
  calldata per join: ~40 KB per row of a 20-join batch), rewritten with each status move (issue 15).
- The bytes of the rows that still carry them move there (one row per distinct ``tx_hash``) and
  the rows' ``raw_tx`` is cleared (the column stays, unused). Downgrade puts them back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relay_batches",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("raw_tx", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash"),
    )
    # One row per stored transaction (the rows of one batch carry the same bytes).
    op.execute(
        "INSERT INTO relay_batches (tx_hash, raw_tx, created_at) "
        "SELECT tx_hash, MIN(raw_tx), MIN(updated_at) FROM relay_requests "
        "WHERE raw_tx IS NOT NULL AND tx_hash IS NOT NULL GROUP BY tx_hash"
    )
    op.execute("UPDATE relay_requests SET raw_tx = NULL WHERE raw_tx IS NOT NULL")


def downgrade() -> None:
    op.execute(
        "UPDATE relay_requests SET raw_tx = (SELECT b.raw_tx FROM relay_batches b "
        "WHERE b.tx_hash = relay_requests.tx_hash) "
        "WHERE status IN ('sending', 'sent') AND tx_hash IS NOT NULL"
    )
    op.drop_table("relay_batches")
