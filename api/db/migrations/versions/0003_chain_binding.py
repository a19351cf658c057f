"""The database is bound to one chain (api.binding).

Revision ID: 0003
Revises: 0002

- New table ``chain_binding``: the chain id, genesis hash, contracts (addresses and code hashes) and
  the index and event-hash formats the index was written for. Empty after this revision: the first
  start binds the database, rebuilding the index if it cannot tell which chain wrote it.
- ``relay_requests.chain_key`` (nullable, indexed): the chain a request was accepted for. Existing
  rows are carried over with NULL, which the first start resolves: a waiting request signed for this
  deployment's forwarder on the same chain is kept, any other is failed with ``chain_changed``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_binding",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("chain_key", sa.String(length=66), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("genesis_hash", sa.String(length=66), nullable=False),
        sa.Column("contracts", sa.JSON(), nullable=False),
        sa.Column("index_format", sa.Integer(), nullable=False),
        sa.Column("hash_rules", sa.Integer(), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("relay_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_key", sa.String(length=66), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_relay_requests_chain_key"), ["chain_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("relay_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relay_requests_chain_key"))
        batch_op.drop_column("chain_key")

    op.drop_table("chain_binding")
