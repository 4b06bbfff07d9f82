"""The stored rows of exactly a batch's natural keys: the loader's existence check.

The batch's keys are written to a temporary table (COPY on PostgreSQL, executemany on
SQLite) and joined to the fact table on its natural key (the primary key of
``usage_daily``, the unique constraint of the other facts), so the check costs one index
probe per row of the batch, whatever order a file's rows come in. Ranging over the
batch's accounts between its first and last day instead read, for a file in no day
order, nearly every stored row for every slice (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Table, text
from sqlalchemy.orm import Session

from storage.loader.fast_insert import bulk_insert
from storage.loader.sql import is_postgres

KEYS_TABLE = "pulse_fact_keys"
"""The temporary table of a batch's keys (per connection; dropped after each check)."""


def stored_rows(
    session: Session,
    table: Table,
    key_cols: Sequence[str],
    value_cols: Sequence[str],
    keys: pd.DataFrame,
) -> list[Any]:
    """``(*key_cols, *value_cols)`` of every stored row whose key is one of ``keys``'s
    rows (the key columns of a batch, distinct); dates as the driver returns them."""
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
    rows = session.execute(
        text(f"SELECT {picked} FROM {temp} AS k {join} {table.name} AS t ON {on}")
    ).all()
    session.execute(text(f"DROP TABLE {temp}"))
    return list(rows)
