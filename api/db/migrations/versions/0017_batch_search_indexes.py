"""Batches indexed for the operators' search by the start of a lot or a GTIN

Revision ID: 0017
Revises: 0016

``/ops/deals/new``'s batch search read every batch (a LIKE '%…%' of gtin and lower(lot)); it now
reads the start of a lot (case aside) and of a GTIN as index ranges in code-point order
(``api.disputes.batch_search``): this index of lower(lot), and gtin's own. Code-point order is
SQLite's BINARY and PostgreSQL's C / C.UTF-8 collations (a linguistic collation may sort "a-z"
outside the range of "a-"). An index only: nothing to move.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_batches_lot_lower", "batches", [sa.text("lower(lot)")])


def downgrade() -> None:
    op.drop_index("ix_batches_lot_lower", table_name="batches")
