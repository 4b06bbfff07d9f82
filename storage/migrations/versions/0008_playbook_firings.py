"""playbook_firings: cooldowns, daily caps and what each playbook action did

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "playbook_firings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("playbook", sa.String(length=80), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("fired_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_playbook_firings_key", "playbook_firings",
                    ["playbook", "account_id", "fired_at"])
    op.create_index(op.f("ix_playbook_firings_account_id"), "playbook_firings", ["account_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_playbook_firings_account_id"), table_name="playbook_firings")
    op.drop_index("ix_playbook_firings_key", table_name="playbook_firings")
    op.drop_table("playbook_firings")
