"""Sign-in sessions indexed by their end

Revision ID: 0014
Revises: 0013

Expired and ended sessions are deleted a batch per sign-in (``api.auth.sessions``): the batch is
found by ``expires_at``, which the index makes a range read rather than a scan of every session.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_auth_sessions_expires_at", "auth_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_auth_sessions_expires_at", table_name="auth_sessions")
