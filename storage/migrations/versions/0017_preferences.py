"""preferences: each Slack user's settings (user_preferences), accounts they muted
(account_mutes) and accounts they follow (account_follows)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_preferences",
        sa.Column("slack_user_id", sa.String(length=40), nullable=False),
        sa.Column("digest_time", sa.String(length=5), nullable=True),
        sa.Column("quiet_days", sa.JSON(), nullable=False),
        sa.Column("min_severity", sa.String(length=20), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("slack_user_id"),
    )
    for table in ("account_mutes", "account_follows"):
        extra = [sa.Column("until", sa.DateTime(), nullable=False)] if "mutes" in table else []
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("slack_user_id", sa.String(length=40), nullable=False),
            sa.Column("account_id", sa.Integer(), nullable=False),
            *extra,
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("slack_user_id", "account_id", name=f"uq_{table}"),
        )
        op.create_index(f"ix_{table}_account_id", table, ["account_id"])


def downgrade() -> None:
    for table in ("account_follows", "account_mutes"):
        op.drop_index(f"ix_{table}_account_id", table_name=table)
        op.drop_table(table)
    op.drop_table("user_preferences")
