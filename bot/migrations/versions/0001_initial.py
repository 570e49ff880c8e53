"""Initial schema: deliveries, audit log, deployment locks and their waiters.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.String(100), primary_key=True),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64)),
        sa.Column("installation_id", sa.BigInteger),
        sa.Column("repository", sa.String(200)),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_expires_at", sa.DateTime),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("finished_at", sa.DateTime),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed', 'dead')", name="ck_deliveries_state"
        ),
    )
    op.create_index("ix_deliveries_claimable", "deliveries", ["state", "next_attempt_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("delivery_id", sa.String(100)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("app", sa.String(100)),
        sa.Column("env", sa.String(100)),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.CheckConstraint("kind IN ('command', 'decision', 'action')", name="ck_audit_log_kind"),
    )
    op.create_index("ix_audit_log_app_env", "audit_log", ["app", "env"])
    op.create_table(
        "locks",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(200)),
        sa.Column("acquired_at", sa.DateTime),
        sa.Column("expires_at", sa.DateTime),
    )
    op.create_table(
        "lock_waiters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "key", sa.String(200), sa.ForeignKey("locks.key", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("ticket", sa.String(200), nullable=False),
        sa.Column("enqueued_at", sa.DateTime, nullable=False),
        sa.Column("ttl_seconds", sa.Float, nullable=False),
        sa.UniqueConstraint("key", "ticket", name="uq_lock_waiters_key_ticket"),
    )


def downgrade() -> None:
    op.drop_table("lock_waiters")
    op.drop_table("locks")
    op.drop_index("ix_audit_log_app_env", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_deliveries_claimable", table_name="deliveries")
    op.drop_table("deliveries")
