"""accounts and opportunities deleted at their source: when the CRM record was deleted,
merged away or archived, and the CRM id of the record an account was merged into

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


TABLES = ("accounts", "opportunities")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("deleted_at", sa.DateTime(), nullable=True))
    op.add_column("accounts", sa.Column("merged_into", sa.String(length=40), nullable=True))


def downgrade() -> None:
    # a plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): batch mode would copy the table,
    # and dropping the old one fails while snapshots and contacts reference it
    op.drop_column("accounts", "merged_into")
    for table in TABLES:
        op.drop_column(table, "deleted_at")
