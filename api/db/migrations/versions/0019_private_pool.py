"""The shared pool of private documents counts its bytes in a row of its own

Revision ID: 0019
Revises: 0018

``private_pool``: one row (``unvouched``) holding the sizes of the private documents whose owner
had no role on chain, changed in the transactions that add or vouch them, so an upload reserves
its bytes with one conditional UPDATE (``api.private.store``): concurrent uploads near the cap
can no longer both pass it, as when each summed the rows before inserting its own. The row starts
with the sum of the rows in the pool now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pool = op.create_table(
        "private_pool",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    documents = sa.table(
        "private_documents", sa.column("size", sa.BigInteger), sa.column("vouched", sa.Boolean)
    )
    op.execute(
        pool.insert().from_select(
            ["name", "used"],
            sa.select(
                sa.literal("unvouched", sa.String(16)),
                sa.func.coalesce(sa.func.sum(documents.c.size), 0),
            ).where(documents.c.vouched.is_(sa.false())),
        )
    )


def downgrade() -> None:
    op.drop_table("private_pool")
