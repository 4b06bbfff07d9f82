"""alerts: the baseline of an acknowledged or snoozed alert, its reason, why it reopened

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = ("quiet_since", "quiet_score", "quiet_flags", "quiet_reason", "reopen_reason")


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quiet_since", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("quiet_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("quiet_flags", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("quiet_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reopen_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
