"""the webhook outbox's cursor per endpoint

Revision ID: 0009
Revises: 0008

``webhook_endpoints.scanned_block`` / ``scanned_time``: how far the outbox has queued notices for
the endpoint (indexed rows up to that block, deadlines up to that chain time), so a pass looks
only at what came after instead of every address's notices. Null on existing rows: their next
pass looks at everything once (rows already queued are not queued again: their ids are unique).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scanned_block", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("scanned_time", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_column("scanned_time")
        batch_op.drop_column("scanned_block")
