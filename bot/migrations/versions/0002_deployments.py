"""Deployments (each from request to verdict) and holds on automatic deploys.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store import DEPLOYMENT_STATES

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("app", sa.String(100), nullable=False),
        sa.Column("env", sa.String(100), nullable=False),
        sa.Column("app_repo", sa.String(200), nullable=False),
        sa.Column("source_sha", sa.String(40)),
        sa.Column("image", sa.String(500)),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("delivery_id", sa.String(100), nullable=False),
        sa.Column("issue_number", sa.Integer),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("gitops_sha", sa.String(40)),
        sa.Column("gitops_pr", sa.Integer),
        sa.Column("github_deployment_id", sa.BigInteger),
        sa.Column("check_run_id", sa.BigInteger),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("deadline", sa.DateTime),
        sa.Column("finished_at", sa.DateTime),
        sa.CheckConstraint(f"state IN {DEPLOYMENT_STATES}", name="ck_deployments_state"),
        sa.UniqueConstraint("delivery_id", "app", "env", name="uq_deployments_delivery"),
    )
    op.create_index("ix_deployments_app_env_state", "deployments", ["app", "env", "state"])
    op.create_table(
        "holds",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("set_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("holds")
    op.drop_index("ix_deployments_app_env_state", table_name="deployments")
    op.drop_table("deployments")
