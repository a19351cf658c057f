"""Private documents remember whether their owner had a role on chain

Revision ID: 0016
Revises: 0015

Fresh addresses cost nothing, so the per-address quota does not bound what addresses without a
role keep together: ``private_documents.vouched`` is false for rows in the pool they share
(``api.private.store``, its cap a setting since). Rows stored before are counted as vouched: an
upgrade does not fill the pool with documents kept under the old rules.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("private_documents") as batch_op:
        batch_op.add_column(
            sa.Column("vouched", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("private_documents") as batch_op:
        batch_op.drop_column("vouched")
