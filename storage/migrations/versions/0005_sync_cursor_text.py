"""sync cursor as text: per-object JSON cursors outgrow 200 characters

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_state") as batch:
        batch.alter_column(
            "cursor", existing_type=sa.String(length=200), type_=sa.Text(), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_state") as batch:
        batch.alter_column(
            "cursor", existing_type=sa.Text(), type_=sa.String(length=200), existing_nullable=True
        )
