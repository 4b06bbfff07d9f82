"""First loads of usage into an empty PostgreSQL table: COPY into the bare heap, then
build the indexes once.

PostgreSQL's own advice for populating a table ("Populating a Database": remove indexes,
load, create them again) holds here: 4 million usage rows took 18.8 s to COPY into the
table with its primary key, and 8.8 s into the bare table plus 4.8 s to build the key
afterwards from one sort. A 10-million-row first sync ran at 229-242 k rows/s over five
runs, against 207-262 k with the indexes kept: about the same median, less spread, and
far less work for the server, which no longer sets the pace (docs/performance.md). A first sync of a
customer's usage history is exactly that case, so the sync drops the indexes when the
table is empty and the connector vouches that no two of its rows share a key
(``Batch.distinct_keys``), and builds them again at the end of the run, failed or not.

A run killed in between leaves the table without its indexes; every sync on PostgreSQL
starts by building whatever is missing (``restore_usage_indexes``), so the next run
repairs it before writing anything. Should rows with the same key have slipped in
meanwhile (a second writer), the newest of each key is kept and the number removed is
reported, since the key cannot be built over duplicates.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from storage.models import UsageDaily, table_of

USAGE_TABLE = UsageDaily.__tablename__
USAGE_KEY = tuple(c.name for c in table_of(UsageDaily).primary_key.columns)
PRIMARY_KEY = f"{USAGE_TABLE}_pkey"
"""The name PostgreSQL gave the key when migration 0006 created it; kept identical."""
BRIN_INDEX = "ix_usage_day_brin"
BUILD_MEMORY = "512MB"
"""``maintenance_work_mem`` for building the key: one in-memory sort for ~10 M rows
(1 GB measured no faster)."""


def usage_is_empty(conn: Connection) -> bool:
    return conn.execute(text(f"SELECT NOT EXISTS (SELECT 1 FROM {USAGE_TABLE})")).scalar_one()


def missing_usage_indexes(conn: Connection) -> list[str]:
    present = set(
        conn.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": USAGE_TABLE}
        ).scalars()
    )
    return [name for name in (PRIMARY_KEY, BRIN_INDEX) if name not in present]


def drop_usage_indexes(conn: Connection) -> None:
    conn.execute(text(f"ALTER TABLE {USAGE_TABLE} DROP CONSTRAINT IF EXISTS {PRIMARY_KEY}"))
    conn.execute(text(f"DROP INDEX IF EXISTS {BRIN_INDEX}"))


def restore_usage_indexes(conn: Connection) -> int:
    """Build the usage indexes that are missing; the number of duplicate rows removed."""
    missing = missing_usage_indexes(conn)
    removed = 0
    if PRIMARY_KEY in missing:
        conn.execute(text(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'"))
        add_key = text(
            f"ALTER TABLE {USAGE_TABLE} ADD CONSTRAINT {PRIMARY_KEY} "
            f"PRIMARY KEY ({', '.join(USAGE_KEY)})"
        )
        try:
            with conn.begin_nested():
                conn.execute(add_key)
        except IntegrityError:
            removed = _remove_duplicates(conn)
            conn.execute(add_key)
    if BRIN_INDEX in missing:
        conn.execute(text(f"CREATE INDEX {BRIN_INDEX} ON {USAGE_TABLE} USING brin (day)"))
    return removed


def _remove_duplicates(conn: Connection) -> int:
    """Keep the most recently written row of each key (the highest ``ctid`` in a table
    that was only appended to since its key was dropped)."""
    keys = ", ".join(USAGE_KEY)
    result = conn.execute(
        text(
            f"DELETE FROM {USAGE_TABLE} u USING ("
            f"  SELECT ctid, row_number() OVER (PARTITION BY {keys} ORDER BY ctid DESC) AS n"
            f"  FROM {USAGE_TABLE}"
            f") d WHERE u.ctid = d.ctid AND d.n > 1"
        )
    )
    return int(result.rowcount)
