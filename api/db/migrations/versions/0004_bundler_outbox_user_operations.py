"""The bundler's outbox (api.bundler): user operations accepted at /v1/bundler.

Revision ID: 0004
Revises: 0003

- New table ``user_operations`` (a table the chain cannot rebuild: signed operations, kept across
  chain changes like ``relay_requests``; the pending ones of another chain are failed with
  ``chain_changed`` by api.binding). No existing rows are touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_operations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_op_hash", sa.String(length=66), nullable=False),
        sa.Column("entry_point", sa.String(length=42), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.String(length=80), nullable=False),
        sa.Column("nonce_key", sa.String(length=80), nullable=False),
        sa.Column("nonce_seq", sa.BigInteger(), nullable=False),
        sa.Column("user_operation", sa.JSON(), nullable=False),
        sa.Column("chain_key", sa.String(length=66), nullable=False),
        sa.Column("accepted_block", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("last_attempt_error", sa.Text(), nullable=True),
        sa.Column("bundler_nonce", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("raw_tx", sa.Text(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("actual_gas_cost", sa.String(length=80), nullable=True),
        sa.Column("actual_gas_used", sa.String(length=80), nullable=True),
        sa.Column("revert_reason", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=80), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_args", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("user_operations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_operations_chain_key"), ["chain_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_user_operations_sender"), ["sender"], unique=False)
        batch_op.create_index(batch_op.f("ix_user_operations_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_user_operations_tx_hash"), ["tx_hash"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_user_operations_user_op_hash"), ["user_op_hash"], unique=False
        )
        batch_op.create_index(
            "uq_user_operations_pending_nonce",
            ["sender", "nonce"],
            unique=True,
            sqlite_where=sa.text("status IN ('queued', 'sending', 'sent')"),
            postgresql_where=sa.text("status IN ('queued', 'sending', 'sent')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("user_operations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_user_operations_pending_nonce",
            sqlite_where=sa.text("status IN ('queued', 'sending', 'sent')"),
            postgresql_where=sa.text("status IN ('queued', 'sending', 'sent')"),
        )
        batch_op.drop_index(batch_op.f("ix_user_operations_user_op_hash"))
        batch_op.drop_index(batch_op.f("ix_user_operations_tx_hash"))
        batch_op.drop_index(batch_op.f("ix_user_operations_status"))
        batch_op.drop_index(batch_op.f("ix_user_operations_sender"))
        batch_op.drop_index(batch_op.f("ix_user_operations_chain_key"))

    op.drop_table("user_operations")
