"""private documents and sign-in sessions

Revision ID: 0005
Revises: 0004

New tables, none of which the chain can rebuild (no existing row changes):
- ``auth_nonces``, ``auth_sessions``: Sign-In with Ethereum (EIP-4361) challenges and sessions
  (api.auth); a session stores only its token's SHA-256;
- ``private_documents``: personal data sealed with AES-256-GCM (api.private), keyed by the
  plaintext's SHA-256 (what the chain anchors); ``private_document_reads``: who read which.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("auth_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_nonces_address"), ["address"], unique=False)
        batch_op.create_index(batch_op.f("ix_auth_nonces_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "auth_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
        sa.UniqueConstraint("nonce"),
    )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_sessions_address"), ["address"], unique=False)

    op.create_table(
        "private_document_reads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("reader", sa.String(length=42), nullable=False),
        sa.Column("right", sa.String(length=32), nullable=False),
        sa.Column("read_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("private_document_reads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_private_document_reads_reader"), ["reader"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_private_document_reads_sha256"), ["sha256"], unique=False
        )

    op.create_table(
        "private_documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=42), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("deal_id", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "sha256", "purpose", "deal_id"),
    )
    with op.batch_alter_table("private_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_private_documents_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_private_documents_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("private_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_private_documents_sha256"))
        batch_op.drop_index(batch_op.f("ix_private_documents_owner"))

    op.drop_table("private_documents")
    with op.batch_alter_table("private_document_reads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_private_document_reads_sha256"))
        batch_op.drop_index(batch_op.f("ix_private_document_reads_reader"))

    op.drop_table("private_document_reads")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_sessions_address"))

    op.drop_table("auth_sessions")
    with op.batch_alter_table("auth_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_nonces_expires_at"))
        batch_op.drop_index(batch_op.f("ix_auth_nonces_address"))

    op.drop_table("auth_nonces")
