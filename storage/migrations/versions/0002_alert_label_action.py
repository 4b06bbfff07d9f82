"""alert label and action; one live alert per (account, rule)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:00:00

Hand-written. ``label`` and ``action`` are copied from the flag when an alert is raised,
so a resolved alert's card can still be rendered once the flag is gone from the latest
snapshot. The partial unique index makes "never two live alerts for the same account and
rule" a database guarantee, not only a property of the evaluation code (SQLite and
PostgreSQL both support partial indexes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LIVE_ALERT = "status <> 'resolved'"


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("action", sa.Text(), nullable=True))
    op.create_index(
        "uq_alerts_live",
        "alerts",
        ["account_id", "rule"],
        unique=True,
        sqlite_where=sa.text(LIVE_ALERT),
        postgresql_where=sa.text(LIVE_ALERT),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_alerts_live",
        table_name="alerts",
        sqlite_where=sa.text(LIVE_ALERT),
        postgresql_where=sa.text(LIVE_ALERT),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("action")
        batch_op.drop_column("label")
