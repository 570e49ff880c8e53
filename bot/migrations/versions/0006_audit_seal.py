"""Audit log: a seal on each entry, so a rewritten chain shows without trusting the database.

The seal is an HMAC over the entry's id and hash under a key derived from the webhook
secret (see ``bot/anchor.py``). Entries written before this migration have none.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("seal", sa.String(100)))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("seal")
