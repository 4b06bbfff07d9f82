"""pipeline_runs: the daily pipeline's runs and step outcomes, one scheduled run a day

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCHEDULED = "kind = 'scheduled'"


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_pipeline_scheduled_day",
        "pipeline_runs",
        ["run_date"],
        unique=True,
        sqlite_where=sa.text(SCHEDULED),
        postgresql_where=sa.text(SCHEDULED),
    )


def downgrade() -> None:
    op.drop_index("uq_pipeline_scheduled_day", table_name="pipeline_runs")
    op.drop_table("pipeline_runs")
