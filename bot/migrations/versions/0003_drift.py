"""Drift: since when each Application has been OutOfSync, and whether its issue is open.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drift",
        sa.Column("application", sa.String(200), primary_key=True),
        sa.Column("out_of_sync_since", sa.DateTime),
        sa.Column("issue_open", sa.Boolean, nullable=False),
        sa.Column("issue_digest", sa.String(64)),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("drift")
