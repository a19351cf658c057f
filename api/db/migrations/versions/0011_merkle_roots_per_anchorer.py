"""Merkle roots unique per (anchorer, root), not per root

Revision ID: 0011
Revises: 0010

The registry now keys roots by anchorer (a root copied from the mempool and anchored first by
another supplier no longer blocks the victim's anchor), so two suppliers may anchor the same root:
``merkle_roots`` drops its unique ``root`` and is unique on ``(anchorer, root)`` instead. The
table is rebuilt from chain logs (a log table), so no row moves. Downgrade restores the unique
``root`` (it fails if two anchorers' rows of one root are indexed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NEW = "uq_merkle_roots_anchorer_root"
# SQLite reflects 0001's unique(root) unnamed: batch mode names it by this convention to drop it.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_on_root() -> str:
    """The name of the unique constraint on ``root`` alone (PostgreSQL names it itself)."""
    for uq in sa.inspect(op.get_bind()).get_unique_constraints("merkle_roots"):
        if uq["column_names"] == ["root"]:
            return uq["name"] or "uq_merkle_roots_root"
    raise RuntimeError("merkle_roots has no unique constraint on root")


def upgrade() -> None:
    old = _unique_on_root()
    with op.batch_alter_table("merkle_roots", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(old, type_="unique")
        batch_op.create_unique_constraint(NEW, ["anchorer", "root"])


def downgrade() -> None:
    with op.batch_alter_table("merkle_roots", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(NEW, type_="unique")
        batch_op.create_unique_constraint("uq_merkle_roots_root", ["root"])
