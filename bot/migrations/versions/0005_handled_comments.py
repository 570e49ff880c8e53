"""Handled comments: which delivery took on each comment command, keyed by the comment.

A webhook's signature covers its body only, so the same comment can arrive again under a
new delivery id; the comment's id is what makes it the same command.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handled_comments",
        sa.Column("comment_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("delivery_id", sa.String(100), nullable=False),
        sa.Column("repository", sa.String(200), nullable=False),
        sa.Column("handled_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("handled_comments")
