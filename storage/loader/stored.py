"""The stored rows of a batch's natural keys: the loader's existence check.

Two ways, chosen per batch by a bounded count. When the batch's accounts hold few stored
rows between its first and last day (a first import, or a file in day order), those rows
are read by that range of the key's leading columns, the cheapest read there is. When
they hold more than :data:`RANGE_ROWS_PER_KEY` per row of the batch (a file in no day
order: each slice spans every day), the batch's keys go into a temporary table (COPY on
PostgreSQL, executemany on SQLite) joined to the fact table on its natural key (the
primary key of ``usage_daily``, the unique constraint of the other facts): one index
probe per row of the batch. Either way the check costs in proportion to the batch, not
to the table; the range alone re-read nearly the whole table for every slice of an
unsorted file (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Integer, Table, func, literal, select, text
from sqlalchemy.orm import Session

from storage.loader.fast_insert import bulk_insert
from storage.loader.sql import ANY_CHUNK, among, is_postgres

RANGE_ROWS_PER_KEY = 2
"""Stored rows per row of the batch, in its accounts and days, up to which they are read
by range; past it the batch's exact keys are joined (the count stops there too)."""
RANGE_CHUNK_SQLITE = 900
"""Accounts per range query on SQLite (under its 999 bound-parameter limit)."""

KEYS_TABLE = "pulse_fact_keys"
"""The temporary table of a batch's keys (per connection; dropped after each check)."""


def stored_rows(
    session: Session,
    table: Table,
    key_cols: Sequence[str],
    value_cols: Sequence[str],
    keys: pd.DataFrame,
    day: str,
) -> Sequence[Sequence[Any]]:
    """``(*key_cols, *value_cols)`` of stored rows, dates as the driver returns them:
    every row whose key is one of ``keys``'s rows (the key columns of a batch, distinct,
    ``day`` its date column), and possibly other rows of the same accounts and days."""
    accounts = [int(a) for a in np.unique(keys["account_id"].to_numpy())]
    days = (pd.Timestamp(keys[day].min()).date(), pd.Timestamp(keys[day].max()).date())
    budget = RANGE_ROWS_PER_KEY * len(keys)
    if _range_count(session, table, day, accounts, days, budget) <= budget:
        return _range_rows(session, table, (*key_cols, *value_cols), day, accounts, days)
    return _key_rows(session, table, key_cols, value_cols, keys)


def _account_chunks(session: Session, accounts: list[int]) -> list[list[int]]:
    step = ANY_CHUNK if is_postgres(session) else RANGE_CHUNK_SQLITE
    return [accounts[start : start + step] for start in range(0, len(accounts), step)]


def _range_count(
    session: Session,
    table: Table,
    day: str,
    accounts: list[int],
    days: tuple[date, date],
    limit: int,
) -> int:
    """Stored rows of ``accounts`` within ``days``, counted up to ``limit`` + 1."""
    found = 0
    for chunk in _account_chunks(session, accounts):
        inner = (
            select(literal(1))
            .select_from(table)
            .where(among(session, table.c.account_id, chunk, Integer),
                   table.c[day] >= days[0], table.c[day] <= days[1])
            .limit(limit - found + 1)
            .subquery()
        )
        found += session.execute(select(func.count()).select_from(inner)).scalar_one()
        if found > limit:
            break
    return found


def _range_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    day: str,
    accounts: list[int],
    days: tuple[date, date],
) -> list[tuple[Any, ...]]:
    """Every stored row of ``accounts`` within ``days`` (the key's leading columns)."""
    rows: list[tuple[Any, ...]] = []
    for chunk in _account_chunks(session, accounts):
        stmt = select(*(table.c[c] for c in columns)).where(
            among(session, table.c.account_id, chunk, Integer),
            table.c[day] >= days[0],
            table.c[day] <= days[1],
        )
        rows.extend(tuple(r) for r in session.execute(stmt))
    return rows


def _key_rows(
    session: Session,
    table: Table,
    key_cols: Sequence[str],
    value_cols: Sequence[str],
    keys: pd.DataFrame,
) -> Sequence[Sequence[Any]]:
    """The stored rows of exactly ``keys``, by a join with a temporary table of them."""
    postgres = is_postgres(session)
    temp = f"{'pg_temp' if postgres else 'temp'}.{KEYS_TABLE}"
    dialect = session.get_bind().dialect
    columns = ", ".join(f"{c} {table.c[c].type.compile(dialect=dialect)}" for c in key_cols)
    session.execute(text(f"DROP TABLE IF EXISTS {temp}"))
    session.execute(text(f"CREATE TEMPORARY TABLE {temp} ({columns})"))
    bulk_insert(session, table.name, keys[list(key_cols)], into=temp)
    if postgres:
        # row count and distinct values, so the planner weighs index probes against a scan
        session.execute(text(f"ANALYZE {temp}"))
    # SQLite's CROSS JOIN keeps the keys as the outer loop: one key lookup per row
    join = "JOIN" if postgres else "CROSS JOIN"
    on = " AND ".join(f"t.{c} = k.{c}" for c in key_cols)
    picked = ", ".join(f"t.{c}" for c in (*key_cols, *value_cols))
    cursor = session.connection().connection.cursor()  # plain tuples, no Row per value
    try:
        cursor.execute(f"SELECT {picked} FROM {temp} AS k {join} {table.name} AS t ON {on}")
        rows = cursor.fetchall()
    finally:
        cursor.close()
    session.execute(text(f"DROP TABLE {temp}"))
    return rows
