"""Writing a scoring run's snapshots in bulk, through each driver's fastest path.

100,000 snapshots through the ORM took longer than the scoring itself. Rows go through
``COPY`` on PostgreSQL (encoded while a writer thread streams the previous ones to the
server) and one ``executemany`` on SQLite; any other database gets a portable, slower
Core insert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Float, Table
from sqlalchemy.orm import Session

from storage.loader.sql import SQLITE_TIMESTAMP, postgres_connection, sqlite_connection
from storage.models import ScoreSnapshot
from storage.snapshot_codec import PackedJSON

SNAPSHOT_SCORE_COLUMNS = (
    "score",
    "tier",
    "expansion_score",
    "renewal_risk",
    "renewal_risk_score",
    "flags",
)
"""What a scoring run stores per account besides the account, the dates and the
explanation, in order."""
_TABLE = cast(Table, ScoreSnapshot.__table__)
SNAPSHOT_PACKED_COLUMNS = frozenset(
    name for name in SNAPSHOT_SCORE_COLUMNS if isinstance(_TABLE.c[name].type, PackedJSON)
)
"""The columns among :data:`SNAPSHOT_SCORE_COLUMNS` handed over already packed
(:func:`packed`)."""
SNAPSHOT_FLOAT_COLUMNS = frozenset(
    name for name in SNAPSHOT_SCORE_COLUMNS if isinstance(_TABLE.c[name].type, Float)
)
"""The columns among :data:`SNAPSHOT_SCORE_COLUMNS` handed over as Python floats."""
SNAPSHOT_COMPONENTS_COLUMNS = ("components", "components_ref")
"""The explanation (components and reasons) as stored and the date of the keyframe it is
a delta against."""
SNAPSHOT_COLUMNS = (
    "account_id",
    "as_of",
    "computed_at",
    *SNAPSHOT_SCORE_COLUMNS,
    *SNAPSHOT_COMPONENTS_COLUMNS,
)
"""Every column written, in the order of the rows sent to the database: the explanation
last, as stored and with its keyframe's date (:mod:`storage.snapshot_keyframes`)."""


def packed(name: str, values: Iterable[list[Any] | None]) -> Iterator[bytes | None]:
    """The values of a :data:`SNAPSHOT_PACKED_COLUMNS` column as that column stores them
    (an empty list as the column wants it), lazily."""
    column_type = cast(PackedJSON, _TABLE.c[name].type)
    return map(column_type.stored, values)


def driver_dates(session: Session, as_of: date, computed_at: datetime) -> tuple[Any, Any]:
    """``as_of`` and ``computed_at`` as the rows of :func:`insert_snapshot_rows` carry them
    for the session's database (SQLite is handed the text SQLAlchemy would store)."""
    if session.connection().dialect.name == "postgresql":
        return as_of, computed_at
    return as_of.isoformat(), computed_at.strftime(SQLITE_TIMESTAMP)


def driver_date(session: Session) -> Callable[[date], Any]:
    """How the rows of :func:`insert_snapshot_rows` carry another date (a keyframe's)."""
    if session.connection().dialect.name == "sqlite":
        return date.isoformat
    return lambda day: day


def insert_snapshot_rows(
    session: Session, rows: Iterable[tuple[Any, ...]], as_of: date, computed_at: datetime
) -> None:
    """Insert snapshots of ``as_of``: each row holds the :data:`SNAPSHOT_COLUMNS` in order,
    the packed columns packed and the dates as :func:`driver_dates` gives them. ``rows``
    may be a generator; it is consumed while the database ingests. Runs in the session's
    transaction."""
    conn = session.connection()
    dialect = conn.dialect.name
    table = ScoreSnapshot.__tablename__
    columns = ", ".join(SNAPSHOT_COLUMNS)
    if dialect == "postgresql":
        from psycopg.copy import QueuedLibpqWriter

        with postgres_connection(session).cursor() as pg_cursor:
            writer = QueuedLibpqWriter(pg_cursor)
            with pg_cursor.copy(f"COPY {table} ({columns}) FROM STDIN", writer=writer) as copy:
                for record in rows:
                    copy.write_row(record)
    elif dialect == "sqlite":
        cur = sqlite_connection(session).cursor()
        try:
            marks = ", ".join("?" for _ in SNAPSHOT_COLUMNS)
            cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        finally:
            cur.close()
    else:  # any other database: portable, slower
        keys = list(SNAPSHOT_COLUMNS)
        session.execute(
            _TABLE.insert(),
            [
                {**dict(zip(keys, r, strict=True)), "as_of": as_of, "computed_at": computed_at}
                for r in rows
            ],
        )
