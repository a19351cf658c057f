"""Party events carry the public profile, the private credentials' digest and refusal reasons.

Revision ID: 0006
Revises: 0005

The registry's onboarding changed (issue 13): ``PartyApplied`` names a public profile CID and the
SHA-256 of private credentials; ``PartyRejected``, ``PartyRevoked`` carry a reason CID;
``PartyProfileUpdated`` is new. ``party_events`` (an index table) trades ``credential_cid`` for
``profile_cid``, ``credentials_digest`` and ``reason_cid``. Rows are not rewritten here: the new
registry is a new deployment (other code hashes), so the chain binding (api.binding) clears and
rebuilds the whole index on the first start against it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("party_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile_cid", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("credentials_digest", sa.String(length=66), nullable=True))
        batch_op.add_column(sa.Column("reason_cid", sa.String(length=128), nullable=True))
        batch_op.drop_column("credential_cid")


def downgrade() -> None:
    with op.batch_alter_table("party_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credential_cid", sa.String(length=128), nullable=True))
        batch_op.drop_column("reason_cid")
        batch_op.drop_column("credentials_digest")
        batch_op.drop_column("profile_cid")
