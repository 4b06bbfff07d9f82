"""snapshot explanations: a snapshot's components and reasons packed together (one delta
against the keyframe instead of two lists), flags as empty bytes instead of NULL, the
fixed-width columns first; every row converted, deltas kept

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from storage.snapshot_codec import pack, pack_against, reference_text, unpack

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

TABLE = "score_snapshots"
STAGING = "score_snapshots_staging"
BATCH_ROWS = 10_000
"""Rows converted per round trip: memory stays flat on a table of years of snapshots."""
KEYFRAME_DAYS = 7
"""As in 0022's writer: a delta's keyframe is less than this many days older than it."""
SCALARS = (
    "account_id",
    "as_of",
    "computed_at",
    "score",
    "expansion_score",
    "renewal_risk_score",
    "tier",
    "renewal_risk",
)


def _scalar_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("expansion_score", sa.Float(), nullable=False),
        sa.Column("renewal_risk_score", sa.Float(), nullable=False),
    ]


def _key(name: str) -> sa.PrimaryKeyConstraint:
    """The primary key of table ``name``: on PostgreSQL a constraint's name is an index's,
    unique in the schema, so the staging table's is renamed once it is in place."""
    staging = name == STAGING and op.get_bind().dialect.name == "postgresql"
    return sa.PrimaryKeyConstraint("account_id", "as_of", name=f"pk_{name if staging else TABLE}")


def _table_0023(name: str, metadata: sa.MetaData) -> sa.Table:
    """Fixed-width columns first (no padding), the explanation in ``components``."""
    return sa.Table(
        name,
        metadata,
        *_scalar_columns(),
        sa.Column("components_ref", sa.Date(), nullable=True),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("renewal_risk", sa.String(length=10), nullable=False),
        sa.Column("flags", sa.LargeBinary(), nullable=False),
        sa.Column("components", sa.LargeBinary(), nullable=True),
        _key(name),
    )


def _table_0022(name: str, metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        *_scalar_columns()[:4],
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("components", sa.LargeBinary(), nullable=True),
        sa.Column("expansion_score", sa.Float(), nullable=False),
        sa.Column("renewal_risk", sa.String(length=10), nullable=False),
        sa.Column("renewal_risk_score", sa.Float(), nullable=False),
        sa.Column("flags", sa.LargeBinary(), nullable=True),
        sa.Column("reasons", sa.LargeBinary(), nullable=True),
        sa.Column("components_ref", sa.Date(), nullable=True),
        _key(name),
    )


def _rows(source: sa.Table) -> Iterator[dict[str, Any]]:
    """The rows of ``source`` in key order, each with its keyframe's stored ``components``
    as ``keyframe`` (None for a keyframe), ``BATCH_ROWS`` per round trip."""
    bind = op.get_bind()
    keyframe = source.alias("keyframe")
    key = (source.c.account_id, source.c.as_of)
    columns = [c for c in source.c if c.name != "components_ref"]
    last: tuple[Any, Any] | None = None
    while True:
        stmt = (
            sa.select(*columns, keyframe.c.components.label("keyframe"))
            .outerjoin(
                keyframe,
                sa.and_(
                    keyframe.c.account_id == source.c.account_id,
                    keyframe.c.as_of == source.c.components_ref,
                ),
            )
            .order_by(*key)
        )
        if last is not None:
            stmt = stmt.where(sa.tuple_(*key) > sa.tuple_(*(sa.literal(v) for v in last)))
        rows = bind.execute(stmt.limit(BATCH_ROWS)).mappings().all()
        if not rows:
            return
        yield from (dict(r) for r in rows)
        last = (rows[-1]["account_id"], rows[-1]["as_of"])


def _components(row: dict[str, Any]) -> Any:
    """A row's stored components (0022) or explanation (0023) decoded, keyframe appended."""
    stored = row["components"]
    if stored is None:
        return []
    return unpack(bytes(stored) + bytes(row["keyframe"] or b""))


class _Keyframes:
    """0022's writer's choice for rows met in key order: a delta against the account's
    latest keyframe of the last ``KEYFRAME_DAYS`` days, else a new keyframe."""

    def __init__(self) -> None:
        self.latest: dict[int, tuple[date, bytes]] = {}

    def pack(self, account_id: int, as_of: date, value: list[Any]) -> tuple[bytes | None, Any]:
        """``value`` as stored and its ``components_ref``."""
        found = self.latest.get(account_id)
        if found is not None and found[0] > as_of - timedelta(days=KEYFRAME_DAYS):
            return pack_against(value, reference_text(found[1])), found[0]
        packed = pack(value)
        if packed is not None:
            self.latest[account_id] = (as_of, packed)
        return packed, None


def _to_0023(source: sa.Table) -> Iterator[dict[str, Any]]:
    chosen = _Keyframes()
    for row in _rows(source):
        explanation = [_components(row), unpack(row["reasons"])]
        packed, ref = chosen.pack(row["account_id"], row["as_of"], explanation)
        yield {**{c: row[c] for c in SCALARS}, "flags": row["flags"] or b"",
               "components": packed, "components_ref": ref}


def _to_0022(source: sa.Table) -> Iterator[dict[str, Any]]:
    chosen = _Keyframes()
    for row in _rows(source):
        components, reasons = _components(row) or [[], []]
        packed, ref = chosen.pack(row["account_id"], row["as_of"], components)
        yield {**{c: row[c] for c in SCALARS}, "flags": pack(unpack(row["flags"])),
               "reasons": pack(reasons), "components": packed, "components_ref": ref}


def _swap(
    make_source: Callable[[str, sa.MetaData], sa.Table],
    make_target: Callable[[str, sa.MetaData], sa.Table],
    convert: Callable[[sa.Table], Iterator[dict[str, Any]]],
) -> None:
    """Copy every snapshot into a new table of the other layout and put it in place."""
    metadata = sa.MetaData()
    sa.Table("accounts", metadata, sa.Column("id", sa.Integer(), primary_key=True))
    source = make_source(TABLE, metadata)
    target = make_target(STAGING, metadata)
    bind = op.get_bind()
    target.create(bind)
    batch: list[dict[str, Any]] = []
    for row in convert(source):
        batch.append(row)
        if len(batch) == BATCH_ROWS:
            bind.execute(target.insert(), batch)
            batch = []
    if batch:
        bind.execute(target.insert(), batch)
    op.drop_index("ix_snapshot_as_of", table_name=TABLE)
    op.drop_table(TABLE)
    op.rename_table(STAGING, TABLE)
    if bind.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {TABLE} RENAME CONSTRAINT pk_{STAGING} TO pk_{TABLE}")
    op.create_index("ix_snapshot_as_of", TABLE, ["as_of"], unique=False)


def upgrade() -> None:
    _swap(_table_0022, _table_0023, _to_0023)


def downgrade() -> None:
    _swap(_table_0023, _table_0022, _to_0022)
