"""Deliveries: an index of those waiting, in the order workers take them.

A claim looks for the waiting delivery due first. Through the (state, next_attempt_at)
index that meant every due row, each read from the table (past its payload) and sorted:
with 20,000 deliveries waiting, over 100 ms a claim. The partial index holds only waiting
deliveries, already in that order, so a claim reads one entry. The old index goes: SQLite's
planner preferred it for the same query, as it would any index that leads with the state;
(lease_expires_at, state) serves what else it did (running deliveries whose lease ran out,
and counts by state, which read the index alone).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

WAITING = sa.text("state IN ('queued', 'failed')")


def upgrade() -> None:
    op.drop_index("ix_deliveries_claimable", table_name="deliveries")
    op.create_index("ix_deliveries_lease", "deliveries", ["lease_expires_at", "state"])
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at", "received_at"],
        sqlite_where=WAITING,
        postgresql_where=WAITING,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_index("ix_deliveries_lease", table_name="deliveries")
    op.create_index("ix_deliveries_claimable", "deliveries", ["state", "next_attempt_at"])
