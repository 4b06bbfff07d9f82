"""Inserting many rows fast: COPY on PostgreSQL (CSV written by Arrow), executemany on
SQLite."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy.orm import Session

from storage.loader.sql import (
    SQLITE_TIMESTAMP,
    date_columns,
    is_postgres,
    postgres_connection,
    sqlite_connection,
)

COPY_ROWS = 100_000
"""Rows per part of the COPY text (Arrow's CSV writer batch)."""


@dataclass(frozen=True)
class CopyData:
    """Rows rendered as PostgreSQL COPY CSV, in parts of ``COPY_ROWS``."""

    columns: tuple[str, ...]
    parts: tuple[pa.Buffer, ...]


def bulk_insert(
    session: Session,
    table_name: str,
    frame: pd.DataFrame,
    *,
    csv: CopyData | None = None,
    into: str | None = None,
) -> None:
    """Insert many rows fast: COPY on PostgreSQL, executemany on SQLite.

    Millions of usage rows through the ORM would dominate a sync; both drivers have a
    native bulk path that keeps the load within seconds. On PostgreSQL the CSV is written
    by Arrow's C++ writer straight from the columns (no Python object per value); ``csv``
    is that text rendered beforehand by ``copy_data`` for exactly ``frame``. ``into`` names
    the table written when it is not ``table_name`` itself but has its columns (a
    temporary table of keys); ``table_name`` still says which columns are dates.
    """
    target = into or table_name
    if frame.empty:
        return
    if is_postgres(session):
        data = csv if csv is not None else copy_data(table_name, frame)
        sql = f"COPY {target} ({', '.join(data.columns)}) FROM STDIN WITH (FORMAT csv)"
        with postgres_connection(session).cursor() as cur, cur.copy(sql) as cp:
            for part in data.parts:
                cp.write(part)
        return
    columns = list(frame.columns)
    dates = date_columns(table_name)
    # Python scalars, column by column: sqlite3 binds no numpy types (and turning a
    # datetime column into Timestamp objects first cost more than the insert itself)
    python: dict[str, pd.Series] = {}
    for col in columns:
        values = frame[col]
        if pd.api.types.is_datetime64_any_dtype(values):
            fmt = "%Y-%m-%d" if col in dates else SQLITE_TIMESTAMP
            python[col] = values.dt.strftime(fmt).astype(object)
        elif values.dtype == object and len(values) and isinstance(values.iloc[0], date):
            python[col] = values.map(lambda d: d.isoformat())
        else:
            python[col] = values.astype(object)
    converted = pd.DataFrame(python, index=frame.index)
    converted = converted.where(converted.notna(), None)
    placeholders = ", ".join("?" for _ in columns)
    sqlite_cur = sqlite_connection(session).cursor()
    try:
        sqlite_cur.executemany(
            f"INSERT INTO {target} ({', '.join(columns)}) VALUES ({placeholders})",
            converted.itertuples(index=False, name=None),
        )
    finally:
        sqlite_cur.close()


def copy_data(table_name: str, frame: pd.DataFrame) -> CopyData:
    """Render ``frame`` for ``COPY table_name FROM STDIN (FORMAT csv)``; no database needed,
    so a bulk load renders the next slice while the server ingests the current one."""
    dates = date_columns(table_name)
    options = pacsv.WriteOptions(include_header=False, batch_size=COPY_ROWS)
    parts = []
    for start in range(0, len(frame), COPY_ROWS):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(_arrow_table(frame.iloc[start : start + COPY_ROWS], dates), sink, options)
        parts.append(sink.getvalue())
    return CopyData(tuple(frame.columns), tuple(parts))


def _arrow_table(frame: pd.DataFrame, dates: set[str]) -> pa.Table:
    """The frame as Arrow, with DATE columns as dates and timestamps at microseconds."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, name in enumerate(table.column_names):
        column = table.column(i)
        if pa.types.is_timestamp(column.type):
            target = pa.date32() if name in dates else pa.timestamp("us", column.type.tz)
            table = table.set_column(i, name, pc.cast(column, target, safe=False))
    return table
