"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}

Say what changes, and for a table the chain cannot rebuild (relay_requests, document_uploads,
relay_locks) how its rows are carried over; an index table may instead be emptied (and its
indexer_state row deleted) so the indexer reads the logs again. See api/db/migrate.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
