"""packed snapshots: score_snapshots keyed by (account_id, as_of), without the surrogate id,
its components, flags and reasons compressed (storage.snapshot_codec); every row converted

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from storage.snapshot_codec import PackedJSON

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLE = "score_snapshots"
STAGING = "score_snapshots_staging"
BATCH_ROWS = 10_000
"""Rows converted per round trip: memory stays flat on a table of years of snapshots."""
EXPLANATION = ("components", "flags", "reasons")
SCALARS = (
    "account_id",
    "as_of",
    "computed_at",
    "score",
    "tier",
    "expansion_score",
    "renewal_risk",
    "renewal_risk_score",
)


def _scalar_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("expansion_score", sa.Float(), nullable=False),
        sa.Column("renewal_risk", sa.String(length=10), nullable=False),
        sa.Column("renewal_risk_score", sa.Float(), nullable=False),
    ]


def _packed_table(name: str, metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        *_scalar_columns(),
        *(sa.Column(c, PackedJSON(), nullable=True) for c in EXPLANATION),
        sa.PrimaryKeyConstraint("account_id", "as_of", name="pk_score_snapshots"),
    )


def _json_table(name: str, metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        *_scalar_columns(),
        *(sa.Column(c, sa.JSON(), nullable=False) for c in EXPLANATION),
        sa.UniqueConstraint("account_id", "as_of", name="uq_snapshot_account_day"),
    )


def _batches(source: sa.Table, fix: Callable[[Any], Any]) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``source`` in key order, ``BATCH_ROWS`` at a time, explanation fixed."""
    bind = op.get_bind()
    last: tuple[Any, Any] | None = None
    key = (source.c.account_id, source.c.as_of)
    while True:
        stmt = sa.select(*(source.c[c] for c in (*SCALARS, *EXPLANATION))).order_by(*key)
        if last is not None:
            stmt = stmt.where(sa.tuple_(*key) > sa.tuple_(*(sa.literal(v) for v in last)))
        rows = bind.execute(stmt.limit(BATCH_ROWS)).mappings().all()
        if not rows:
            return
        yield [
            {**{c: r[c] for c in SCALARS}, **{c: fix(r[c]) for c in EXPLANATION}} for r in rows
        ]
        last = (rows[-1]["account_id"], rows[-1]["as_of"])


def _swap(make_source: Callable[..., sa.Table], make_target: Callable[..., sa.Table],
          fix: Callable[[Any], Any]) -> None:
    """Copy every snapshot into a new table of the other layout and put it in place."""
    metadata = sa.MetaData()
    sa.Table("accounts", metadata, sa.Column("id", sa.Integer(), primary_key=True))
    source = make_source(TABLE, metadata)
    target = make_target(STAGING, metadata)
    target.create(op.get_bind())
    for batch in _batches(source, fix):
        op.get_bind().execute(target.insert(), batch)
    op.drop_index("ix_snapshot_as_of", table_name=TABLE)
    op.drop_table(TABLE)
    op.rename_table(STAGING, TABLE)
    op.create_index("ix_snapshot_as_of", TABLE, ["as_of"], unique=False)


def upgrade() -> None:
    _swap(_json_table, _packed_table, lambda v: list(v or []))


def downgrade() -> None:
    _swap(_packed_table, _json_table, lambda v: list(v or []))
