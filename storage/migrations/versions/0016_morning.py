"""morning: the accounts alert evaluation watches (baseline), one message of new alerts
per person (alert_messages, alerts.bundle_id, alerts.held_at), the digests sent each day

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

A database that already has alerts has been watched: every account it scored counts as
watched since its latest snapshot, so upgrading does not turn the next run into a
baseline.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watched_accounts",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "digest_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("destination", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=True),
        sa.Column("ts", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_digest_sends_day", "digest_sends", ["day", "destination"])
    op.create_table(
        "alert_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("ts", sa.String(length=40), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("bundle_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("held_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key(
            "fk_alerts_bundle_id_alert_messages", "alert_messages", ["bundle_id"], ["id"]
        )
    op.execute(
        "INSERT INTO watched_accounts (account_id, since, at) "
        "SELECT account_id, MAX(as_of), CURRENT_TIMESTAMP FROM score_snapshots "
        "WHERE EXISTS (SELECT 1 FROM alerts) GROUP BY account_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("fk_alerts_bundle_id_alert_messages", type_="foreignkey")
        batch.drop_column("held_at")
        batch.drop_column("bundle_id")
    op.drop_table("alert_messages")
    op.drop_index("ix_digest_sends_day", table_name="digest_sends")
    op.drop_table("digest_sends")
    op.drop_table("watched_accounts")
