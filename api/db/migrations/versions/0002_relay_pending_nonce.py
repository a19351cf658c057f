"""Outbox: one pending request per (signer, nonce); details only from signed payloads.

Revision ID: 0002
Revises: 0001

- A partial unique index on ``relay_requests (signer, nonce)`` over pending rows (queued, sending,
  sent), so two API processes cannot both accept one forwarder nonce. Rows are carried over; should
  a database already hold two pending requests for one nonce (the race this closes), only one can
  ever execute on chain: the one already handed to the chain (sending / sent) or else the earliest
  stays, the others are failed with ``nonce_taken`` and a message a client can read.
- ``details`` of the requests already in the outbox are cleared: before this revision they were the
  client's own claims, never checked against what was signed (a join signed for 1 unit could show
  50). The signed payloads (``typed_data``, ``permit``) and everything else are kept; requests
  accepted from now on get details decoded from those payloads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import groupby

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PENDING = ("queued", "sending", "sent")  # frozen here: this revision's meaning of "pending"
PENDING_SQL = "status IN ('queued', 'sending', 'sent')"
INDEX = "uq_relay_requests_pending_nonce"

requests = sa.table(
    "relay_requests",
    sa.column("id", sa.String),
    sa.column("signer", sa.String),
    sa.column("nonce", sa.BigInteger),
    sa.column("status", sa.String),
    sa.column("details", sa.JSON),
    sa.column("error_code", sa.String),
    sa.column("error_message", sa.Text),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def _fail_duplicate_pending_nonces(bind: sa.Connection) -> None:
    rows = bind.execute(
        sa.select(
            requests.c.id,
            requests.c.signer,
            requests.c.nonce,
            requests.c.status,
            requests.c.created_at,
        )
        .where(requests.c.status.in_(PENDING))
        .order_by(requests.c.signer, requests.c.nonce)
    ).all()
    for (signer, nonce), group in groupby(rows, key=lambda r: (r.signer, r.nonce)):
        # Handed to the chain first (its transaction may be mined), then the earliest.
        keep, *others = sorted(group, key=lambda r: (r.status == "queued", r.created_at, r.id))
        for row in others:
            bind.execute(
                requests.update()
                .where(requests.c.id == row.id)
                .values(
                    status="failed",
                    error_code="nonce_taken",
                    error_message=(
                        f"nonce {nonce} of {signer} is held by request {keep.id}: two requests "
                        "were accepted for one nonce, and only one can execute"
                    ),
                    updated_at=datetime.now(UTC),
                )
            )


def upgrade() -> None:
    bind = op.get_bind()
    _fail_duplicate_pending_nonces(bind)
    bind.execute(requests.update().values(details=sa.null()))
    op.create_index(
        INDEX,
        "relay_requests",
        ["signer", "nonce"],
        unique=True,
        sqlite_where=sa.text(PENDING_SQL),
        postgresql_where=sa.text(PENDING_SQL),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="relay_requests")
