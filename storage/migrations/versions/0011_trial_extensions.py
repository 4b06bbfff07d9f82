"""trial_extensions: each step of a trial's extension history

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trial_extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("approver", sa.String(length=80), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("previous_end", sa.Date(), nullable=True),
        sa.Column("new_end", sa.Date(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("slack_channel", sa.String(length=40), nullable=True),
        sa.Column("slack_ts", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_trial_extensions_account_id"), "trial_extensions", ["account_id"])
    op.create_index(
        "uq_trial_extension_live_step",
        "trial_extensions",
        ["subscription_id", "step"],
        unique=True,
        sqlite_where=sa.text("status IN ('granted', 'pending')"),
        postgresql_where=sa.text("status IN ('granted', 'pending')"),
    )


def downgrade() -> None:
    op.drop_index("uq_trial_extension_live_step", table_name="trial_extensions")
    op.drop_index(op.f("ix_trial_extensions_account_id"), table_name="trial_extensions")
    op.drop_table("trial_extensions")
