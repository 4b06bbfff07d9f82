"""usage_daily keyed on (account_id, day, user_id, feature); BRIN on day for PostgreSQL

The surrogate id, the separate unique constraint and the (day, account_id) B-tree made
every bulk-loaded usage row update three indexes; see docs/performance.md.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEY = ["account_id", "day", "user_id", "feature"]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("usage_daily", recreate="always" if not postgres else "auto") as b:
        b.drop_index("ix_usage_day_account")
        b.drop_constraint("uq_usage_key", type_="unique")
        if postgres:
            b.drop_constraint("usage_daily_pkey", type_="primary")
        b.drop_column("id")
        b.create_primary_key("usage_daily_pkey", KEY)
    if postgres:
        op.create_index("ix_usage_day_brin", "usage_daily", ["day"], postgresql_using="brin")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.drop_index("ix_usage_day_brin", table_name="usage_daily")
    with op.batch_alter_table("usage_daily", recreate="always" if not postgres else "auto") as b:
        if postgres:
            b.drop_constraint("usage_daily_pkey", type_="primary")
        b.add_column(sa.Column("id", sa.Integer(), sa.Identity() if postgres else None))
        b.create_unique_constraint("uq_usage_key", ["account_id", "user_id", "feature", "day"])
        b.create_index("ix_usage_day_account", ["day", "account_id"])
