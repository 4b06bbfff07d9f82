"""SQL helpers the loader shares: the dialect, chunked ``IN`` lists, driver-ready values,
a table's DATE columns and the driver connections under a session."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import Date, DateTime, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from storage.models import Base

CHUNK = 5_000
"""Values per ``IN`` list (and rows per ``INSERT`` executemany) on SQLite."""
ANY_CHUNK = 100_000
"""Values per ``= ANY(array)`` on PostgreSQL: one bound parameter, so no query text to
build and parse per value (a 5,000-item ``IN`` list cost more than the lookup itself)."""


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def among(session: Session, column: Any, values: Sequence[Any], item: Any) -> Any:
    """``column IN values``, as ``= ANY(:array)`` on PostgreSQL."""
    if is_postgres(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(item)))
    return column.in_(list(values))


def plain(record: dict[str, Any]) -> dict[str, Any]:
    """Turn numpy/pandas scalars into Python values the database drivers accept."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        if value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
            value = None
        out[key] = value
    return out


SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"
"""How SQLAlchemy stores a ``DateTime`` in SQLite; rows written past the ORM use it too."""


def date_columns(table_name: str) -> set[str]:
    """The table's DATE columns (not timestamps)."""
    return {c.key for c in Base.metadata.tables[table_name].columns
            if isinstance(c.type, Date) and not isinstance(c.type, DateTime)}


def postgres_connection(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session's, for COPY."""
    driver = session.connection().connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError(f"COPY needs a psycopg connection, not {type(driver).__name__}")
    return driver


def sqlite_connection(session: Session) -> sqlite3.Connection:
    """The sqlite3 connection under the session's, for a plain executemany."""
    driver = session.connection().connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):
        raise TypeError(f"expected a sqlite3 connection, not {type(driver).__name__}")
    return driver
