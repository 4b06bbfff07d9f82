"""seen_slack_requests: signed Slack requests answered, so a replay is answered once
across every ``pulse serve`` process

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_slack_requests",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_seen_slack_requests_seen_at", "seen_slack_requests", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_seen_slack_requests_seen_at", table_name="seen_slack_requests")
    op.drop_table("seen_slack_requests")
