"""people: Slack matches of CRM owners (slack_lookups, owners.slack_user_source) and
alerts whose card went to the catch-all channel (alerts.catch_all)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_lookups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("slack_user_id", sa.String(length=40), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email", name="uq_slack_lookups_email"),
    )
    with op.batch_alter_table("owners") as batch:
        batch.add_column(sa.Column("slack_user_source", sa.String(length=20), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(
            sa.Column("catch_all", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("catch_all")
    with op.batch_alter_table("owners") as batch:
        batch.drop_column("slack_user_source")
    op.drop_table("slack_lookups")
