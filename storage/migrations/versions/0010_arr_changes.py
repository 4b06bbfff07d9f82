"""arr_changes: the ARR ledger behind retention metrics (GRR, NRR, churn, the ARR bridge)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "arr_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("arr", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "effective_on", name="uq_arr_changes_account_day"),
    )
    op.create_index(op.f("ix_arr_changes_account_id"), "arr_changes", ["account_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_arr_changes_account_id"), table_name="arr_changes")
    op.drop_table("arr_changes")
