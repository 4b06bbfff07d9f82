"""usage_daily keyed on (account_id, day, user_id, feature); BRIN on day for PostgreSQL

The surrogate id, the separate unique constraint, the (day, account_id) B-tree and the
two foreign keys (a referential check per row) made bulk loads ~9x slower; see
docs/performance.md and the UsageDaily docstring.

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
    if op.get_bind().dialect.name != "postgresql":
        _rebuild_sqlite()
        return
    op.drop_index("ix_usage_day_account", table_name="usage_daily")
    op.drop_constraint("uq_usage_key", "usage_daily", type_="unique")
    op.drop_constraint("usage_daily_pkey", "usage_daily", type_="primary")
    op.drop_constraint("usage_daily_account_id_fkey", "usage_daily", type_="foreignkey")
    op.drop_constraint("usage_daily_user_id_fkey", "usage_daily", type_="foreignkey")
    op.drop_column("usage_daily", "id")
    op.create_primary_key("usage_daily_pkey", "usage_daily", KEY)
    op.create_index("ix_usage_day_brin", "usage_daily", ["day"], postgresql_using="brin")


def _rebuild_sqlite() -> None:
    """SQLite's foreign keys are unnamed, so build the new table and copy the rows over."""
    op.create_table(
        "usage_daily_new",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("feature", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY, name="usage_daily_pkey"),
    )
    columns = "account_id, day, user_id, feature, source, events, minutes"
    op.execute(f"INSERT INTO usage_daily_new ({columns}) SELECT {columns} FROM usage_daily")
    op.drop_index("ix_usage_day_account", table_name="usage_daily")
    op.drop_table("usage_daily")
    op.rename_table("usage_daily_new", "usage_daily")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.drop_index("ix_usage_day_brin", table_name="usage_daily")
        op.drop_constraint("usage_daily_pkey", "usage_daily", type_="primary")
        op.add_column("usage_daily", sa.Column("id", sa.Integer(), sa.Identity()))
        op.create_primary_key("usage_daily_pkey", "usage_daily", ["id"])
        op.create_foreign_key("usage_daily_account_id_fkey", "usage_daily", "accounts",
                              ["account_id"], ["id"])
        op.create_foreign_key("usage_daily_user_id_fkey", "usage_daily", "contacts",
                              ["user_id"], ["id"])
    else:
        op.create_table(
            "usage_daily_old",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("source", sa.String(length=40), nullable=False),
            sa.Column("account_id", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("feature", sa.String(length=80), nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("events", sa.Integer(), nullable=False),
            sa.Column("minutes", sa.Float(), nullable=False),
            sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
            sa.ForeignKeyConstraint(["user_id"], ["contacts.id"]),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("account_id", "user_id", "feature", "day", name="uq_usage_key"),
        )
        columns = "source, account_id, user_id, feature, day, events, minutes"
        op.execute(f"INSERT INTO usage_daily_old ({columns}) SELECT {columns} FROM usage_daily")
        op.drop_table("usage_daily")
        op.rename_table("usage_daily_old", "usage_daily")
    if postgres:
        op.create_unique_constraint("uq_usage_key", "usage_daily",
                                    ["account_id", "user_id", "feature", "day"])
    op.create_index("ix_usage_day_account", "usage_daily", ["day", "account_id"])
