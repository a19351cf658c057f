"""The schema of the last release without migrations (main at 3445a45), every table.

Revision ID: 0001
Revises: (none: the first)

On an empty database this creates every table. On a database that release wrote (its tables made
by ``create_all``, no ``alembic_version``), the same tables already exist, with the same columns and
index names: each is kept as it is, rows included, and only what is missing is created. That is
how a pre-migration database joins the chain of revisions without a separate "stamp" step.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "anchored_events" not in existing:
        op.create_table(
            "anchored_events",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("leaf_index", sa.Integer(), nullable=False),
            sa.Column("batch_id", sa.String(length=66), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("event_hash", sa.String(length=66), nullable=False),
            sa.Column("document_cid", sa.String(length=128), nullable=True),
            sa.Column("document_digest", sa.String(length=66), nullable=True),
            sa.Column("actor", sa.String(length=42), nullable=False),
            sa.Column("root", sa.String(length=66), nullable=True),
            sa.Column("proof", sa.JSON(), nullable=True),
            sa.Column("verification", sa.String(length=16), nullable=False),
            sa.Column("event_type", sa.String(length=32), nullable=True),
            sa.Column("biz_step", sa.String(length=128), nullable=True),
            sa.Column("event_time", sa.DateTime(timezone=True), nullable=True),
            sa.Column("read_point", sa.String(length=256), nullable=True),
            sa.Column("document", sa.JSON(), nullable=True),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("tx_hash", "log_index", "leaf_index"),
        )
        op.create_index(
            op.f("ix_anchored_events_batch_id"), "anchored_events", ["batch_id"], unique=False
        )
        op.create_index(
            "ix_anchored_events_batch_time",
            "anchored_events",
            ["batch_id", "event_time"],
            unique=False,
        )
        op.create_index(
            op.f("ix_anchored_events_block_number"),
            "anchored_events",
            ["block_number"],
            unique=False,
        )
        op.create_index(
            op.f("ix_anchored_events_event_hash"), "anchored_events", ["event_hash"], unique=False
        )
        op.create_index(
            op.f("ix_anchored_events_verification"),
            "anchored_events",
            ["verification"],
            unique=False,
        )

    if "batch_status_events" not in existing:
        op.create_table(
            "batch_status_events",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("batch_id", sa.String(length=66), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("actor", sa.String(length=42), nullable=False),
            sa.Column("reason_cid", sa.String(length=128), nullable=True),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("tx_hash", "log_index"),
        )
        op.create_index(
            op.f("ix_batch_status_events_batch_id"),
            "batch_status_events",
            ["batch_id"],
            unique=False,
        )
        op.create_index(
            op.f("ix_batch_status_events_block_number"),
            "batch_status_events",
            ["block_number"],
            unique=False,
        )
        op.create_index(
            op.f("ix_batch_status_events_status"), "batch_status_events", ["status"], unique=False
        )

    if "batch_writers" not in existing:
        op.create_table(
            "batch_writers",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("batch_id", sa.String(length=66), nullable=False),
            sa.Column("writer", sa.String(length=42), nullable=False),
            sa.Column("allowed", sa.Boolean(), nullable=False),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("tx_hash", "log_index"),
        )
        op.create_index(
            op.f("ix_batch_writers_batch_id"), "batch_writers", ["batch_id"], unique=False
        )
        op.create_index(
            op.f("ix_batch_writers_block_number"), "batch_writers", ["block_number"], unique=False
        )

    if "batches" not in existing:
        op.create_table(
            "batches",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("batch_id", sa.String(length=66), nullable=False),
            sa.Column("gtin", sa.String(length=14), nullable=False),
            sa.Column("lot", sa.String(length=64), nullable=False),
            sa.Column("supplier", sa.String(length=42), nullable=False),
            sa.Column("metadata_cid", sa.String(length=128), nullable=True),
            sa.Column("metadata_json", sa.JSON(), nullable=True),
            sa.Column("metadata_status", sa.String(length=16), nullable=False),
            sa.Column("breach_count", sa.Integer(), nullable=False),
            sa.Column("cold_chain", sa.JSON(), nullable=True),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("batch_id"),
            sa.UniqueConstraint("tx_hash", "log_index"),
        )
        op.create_index(op.f("ix_batches_block_number"), "batches", ["block_number"], unique=False)
        op.create_index(op.f("ix_batches_breach_count"), "batches", ["breach_count"], unique=False)
        op.create_index(op.f("ix_batches_gtin"), "batches", ["gtin"], unique=False)
        op.create_index("ix_batches_gtin_lot", "batches", ["gtin", "lot"], unique=True)
        op.create_index(op.f("ix_batches_supplier"), "batches", ["supplier"], unique=False)

    if "claim_events" not in existing:
        op.create_table(
            "claim_events",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("deal_id", sa.BigInteger(), nullable=False),
            sa.Column("buyer", sa.String(length=42), nullable=False),
            sa.Column("leader", sa.String(length=42), nullable=True),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("quantity", sa.BigInteger(), nullable=False),
            sa.Column("evidence_cid", sa.String(length=128), nullable=True),
            sa.Column("by_default", sa.Boolean(), nullable=False),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("tx_hash", "log_index"),
        )
        op.create_index(
            op.f("ix_claim_events_block_number"), "claim_events", ["block_number"], unique=False
        )
        op.create_index(op.f("ix_claim_events_buyer"), "claim_events", ["buyer"], unique=False)
        op.create_index(op.f("ix_claim_events_deal_id"), "claim_events", ["deal_id"], unique=False)
        op.create_index(op.f("ix_claim_events_status"), "claim_events", ["status"], unique=False)

    if "deal_batches" not in existing:
        op.create_table(
            "deal_batches",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("deal_id", sa.BigInteger(), nullable=False),
            sa.Column("batch_id", sa.String(length=66), nullable=False),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("deal_id", "batch_id"),
        )
        op.create_index(
            op.f("ix_deal_batches_batch_id"), "deal_batches", ["batch_id"], unique=False
        )
        op.create_index(
            op.f("ix_deal_batches_block_number"), "deal_batches", ["block_number"], unique=False
        )
        op.create_index(op.f("ix_deal_batches_deal_id"), "deal_batches", ["deal_id"], unique=False)

    if "deal_outcomes" not in existing:
        op.create_table(
            "deal_outcomes",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("deal_id", sa.BigInteger(), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("batch_id", sa.String(length=66), nullable=True),
            sa.Column("final_unit_price", sa.Numeric(precision=78, scale=0), nullable=True),
            sa.Column("revenue", sa.Numeric(precision=78, scale=0), nullable=True),
            sa.Column("supplier_amount", sa.Numeric(precision=78, scale=0), nullable=True),
            sa.Column("platform_fee", sa.Numeric(precision=78, scale=0), nullable=True),
            sa.Column("commission_total", sa.Numeric(precision=78, scale=0), nullable=True),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("tx_hash", "log_index"),
        )
        op.create_index(
            op.f("ix_deal_outcomes_block_number"), "deal_outcomes", ["block_number"], unique=False
        )
        op.create_index(
            op.f("ix_deal_outcomes_deal_id"), "deal_outcomes", ["deal_id"], unique=False
        )
        op.create_index(op.f("ix_deal_outcomes_kind"), "deal_outcomes", ["kind"], unique=False)

    if "deals" not in existing:
        op.create_table(
            "deals",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("deal_id", sa.BigInteger(), nullable=False),
            sa.Column("supplier", sa.String(length=42), nullable=False),
            sa.Column("token", sa.String(length=42), nullable=False),
            sa.Column("fee_recipient", sa.String(length=42), nullable=False),
            sa.Column("price_tiers", sa.JSON(), nullable=False),
            sa.Column("commission_tiers", sa.JSON(), nullable=False),
            sa.Column("min_quantity", sa.BigInteger(), nullable=False),
            sa.Column("max_quantity", sa.BigInteger(), nullable=False),
            sa.Column("per_buyer_limit", sa.BigInteger(), nullable=False),
            sa.Column("join_deadline", sa.BigInteger(), nullable=False),
            sa.Column("delivery_deadline", sa.BigInteger(), nullable=False),
            sa.Column("dispute_window", sa.BigInteger(), nullable=False),
            sa.Column("answer_window", sa.BigInteger(), nullable=False),
            sa.Column("commission_bps", sa.Integer(), nullable=False),
            sa.Column("platform_fee_bps", sa.Integer(), nullable=False),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("deal_id"),
            sa.UniqueConstraint("tx_hash", "log_index"),
        )
        op.create_index(op.f("ix_deals_block_number"), "deals", ["block_number"], unique=False)
        op.create_index(op.f("ix_deals_supplier"), "deals", ["supplier"], unique=False)

    if "document_uploads" not in existing:
        op.create_table(
            "document_uploads",
            sa.Column("signature_digest", sa.String(length=66), nullable=False),
            sa.Column("uploader", sa.String(length=42), nullable=False),
            sa.Column("cid", sa.String(length=100), nullable=False),
            sa.Column("sha256", sa.String(length=64), nullable=False),
            sa.Column("content_type", sa.String(length=100), nullable=False),
            sa.Column("size", sa.BigInteger(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("signature_digest"),
        )
        op.create_index(
            op.f("ix_document_uploads_uploader"), "document_uploads", ["uploader"], unique=False
        )

    if "indexed_blocks" not in existing:
        op.create_table(
            "indexed_blocks",
            sa.Column("number", sa.BigInteger(), nullable=False),
            sa.Column("hash", sa.String(length=66), nullable=False),
            sa.PrimaryKeyConstraint("number"),
        )

    if "indexer_state" not in existing:
        op.create_table(
            "indexer_state",
            sa.Column("name", sa.String(length=32), nullable=False),
            sa.Column("chain_id", sa.BigInteger(), nullable=False),
            sa.Column("start_block", sa.BigInteger(), nullable=False),
            sa.Column("last_block", sa.BigInteger(), nullable=False),
            sa.Column("head_block", sa.BigInteger(), nullable=False),
            sa.Column("final_block", sa.BigInteger(), nullable=False),
            sa.Column("version", sa.BigInteger(), nullable=False),
            sa.Column("head_time", sa.DateTime(timezone=True), nullable=True),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("name"),
        )

    if "merkle_roots" not in existing:
        op.create_table(
            "merkle_roots",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("root", sa.String(length=66), nullable=False),
            sa.Column("leaf_count", sa.Integer(), nullable=False),
            sa.Column("anchorer", sa.String(length=42), nullable=False),
            sa.Column("manifest_cid", sa.String(length=128), nullable=True),
            sa.Column("manifest_status", sa.String(length=16), nullable=False),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("root"),
            sa.UniqueConstraint("tx_hash", "log_index"),
        )
        op.create_index(
            op.f("ix_merkle_roots_block_number"), "merkle_roots", ["block_number"], unique=False
        )
        op.create_index(
            op.f("ix_merkle_roots_manifest_status"),
            "merkle_roots",
            ["manifest_status"],
            unique=False,
        )

    if "order_events" not in existing:
        op.create_table(
            "order_events",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("deal_id", sa.BigInteger(), nullable=False),
            sa.Column("buyer", sa.String(length=42), nullable=False),
            sa.Column("leader", sa.String(length=42), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("quantity", sa.BigInteger(), nullable=False),
            sa.Column("amount", sa.Numeric(precision=78, scale=0), nullable=False),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("tx_hash", "log_index"),
        )
        op.create_index(
            op.f("ix_order_events_block_number"), "order_events", ["block_number"], unique=False
        )
        op.create_index(op.f("ix_order_events_buyer"), "order_events", ["buyer"], unique=False)
        op.create_index(
            "ix_order_events_deal_buyer", "order_events", ["deal_id", "buyer"], unique=False
        )
        op.create_index(op.f("ix_order_events_deal_id"), "order_events", ["deal_id"], unique=False)
        op.create_index(op.f("ix_order_events_leader"), "order_events", ["leader"], unique=False)

    if "party_events" not in existing:
        op.create_table(
            "party_events",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("account", sa.String(length=42), nullable=False),
            sa.Column("action", sa.String(length=16), nullable=False),
            sa.Column("credential_cid", sa.String(length=128), nullable=True),
            sa.Column("by", sa.String(length=42), nullable=True),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("tx_hash", "log_index"),
        )
        op.create_index(op.f("ix_party_events_account"), "party_events", ["account"], unique=False)
        op.create_index(
            op.f("ix_party_events_block_number"), "party_events", ["block_number"], unique=False
        )
        op.create_index(op.f("ix_party_events_kind"), "party_events", ["kind"], unique=False)

    if "payouts" not in existing:
        op.create_table(
            "payouts",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("deal_id", sa.BigInteger(), nullable=False),
            sa.Column("account", sa.String(length=42), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("amount", sa.Numeric(precision=78, scale=0), nullable=False),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("tx_hash", "log_index"),
        )
        op.create_index(op.f("ix_payouts_account"), "payouts", ["account"], unique=False)
        op.create_index(op.f("ix_payouts_block_number"), "payouts", ["block_number"], unique=False)
        op.create_index(op.f("ix_payouts_deal_id"), "payouts", ["deal_id"], unique=False)

    if "raw_logs" not in existing:
        op.create_table(
            "raw_logs",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("address", sa.String(length=42), nullable=False),
            sa.Column("event", sa.String(length=32), nullable=False),
            sa.Column("args", sa.Text(), nullable=False),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("tx_hash", "log_index"),
        )
        op.create_index(
            op.f("ix_raw_logs_block_number"), "raw_logs", ["block_number"], unique=False
        )
        op.create_index(op.f("ix_raw_logs_event"), "raw_logs", ["event"], unique=False)

    if "receipts" not in existing:
        op.create_table(
            "receipts",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("deal_id", sa.BigInteger(), nullable=False),
            sa.Column("leader", sa.String(length=42), nullable=False),
            sa.Column("batch_id", sa.String(length=66), nullable=False),
            sa.Column("event_hash", sa.String(length=66), nullable=False),
            sa.Column("document_digest", sa.String(length=66), nullable=False),
            sa.Column("quantity", sa.BigInteger(), nullable=False),
            sa.Column("block_number", sa.BigInteger(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=False),
            sa.Column("log_index", sa.Integer(), nullable=False),
            sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("tx_hash", "log_index"),
        )
        op.create_index(op.f("ix_receipts_batch_id"), "receipts", ["batch_id"], unique=False)
        op.create_index(
            op.f("ix_receipts_block_number"), "receipts", ["block_number"], unique=False
        )
        op.create_index(op.f("ix_receipts_deal_id"), "receipts", ["deal_id"], unique=False)
        op.create_index(op.f("ix_receipts_leader"), "receipts", ["leader"], unique=False)

    if "relay_locks" not in existing:
        op.create_table(
            "relay_locks",
            sa.Column("name", sa.String(length=80), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )

    if "relay_requests" not in existing:
        op.create_table(
            "relay_requests",
            sa.Column("id", sa.String(length=36), nullable=False),
            sa.Column("action", sa.String(length=40), nullable=False),
            sa.Column("signer", sa.String(length=42), nullable=False),
            sa.Column("target", sa.String(length=42), nullable=False),
            sa.Column("nonce", sa.BigInteger(), nullable=False),
            sa.Column("deadline", sa.BigInteger(), nullable=False),
            sa.Column("request_digest", sa.String(length=66), nullable=False),
            sa.Column("typed_data", sa.JSON(), nullable=False),
            sa.Column("signature", sa.String(length=200), nullable=False),
            sa.Column("permit", sa.JSON(), nullable=True),
            sa.Column("permit_signature", sa.String(length=200), nullable=True),
            sa.Column("details", sa.JSON(), nullable=True),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("next_attempt_at", sa.Float(), nullable=False),
            sa.Column("last_attempt_error", sa.Text(), nullable=True),
            sa.Column("permit_tx_hash", sa.String(length=66), nullable=True),
            sa.Column("relayer_nonce", sa.BigInteger(), nullable=True),
            sa.Column("tx_hash", sa.String(length=66), nullable=True),
            sa.Column("raw_tx", sa.Text(), nullable=True),
            sa.Column("block_number", sa.BigInteger(), nullable=True),
            sa.Column("error_code", sa.String(length=80), nullable=True),
            sa.Column("error_message", sa.Text(), nullable=True),
            sa.Column("error_args", sa.JSON(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_relay_requests_request_digest"),
            "relay_requests",
            ["request_digest"],
            unique=False,
        )
        op.create_index(
            op.f("ix_relay_requests_signer"), "relay_requests", ["signer"], unique=False
        )
        op.create_index(
            op.f("ix_relay_requests_status"), "relay_requests", ["status"], unique=False
        )
        op.create_index(
            op.f("ix_relay_requests_tx_hash"), "relay_requests", ["tx_hash"], unique=False
        )


def downgrade() -> None:
    raise NotImplementedError("0001 is the first schema: drop the database instead")
