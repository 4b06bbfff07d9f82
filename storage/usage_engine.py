"""The engine that holds the usage rows, so the usage aggregation runs where they live.

``scoring.usage.engine`` (docs/connectors.md, "Where usage is aggregated") names it:

* ``pulse``: Pulse's own database (SQLite, PostgreSQL), the ``usage_daily`` table a sync
  fills. Statements run on the scoring session.
* ``duckdb``: a ``.duckdb`` file (``table`` names the table), or Parquet/CSV files read
  in place through ``read_parquet``/``read_csv`` (a view over them, no copy), through
  the ``duckdb-engine`` SQLAlchemy dialect. Frames can be handed to it as tables
  (:meth:`UsageEngine.frame`'s ``tables``): the contacts the usage is rolled up through.
* ``warehouse``: any SQLAlchemy URL (Snowflake, BigQuery, Databricks SQL, Redshift,
  PostgreSQL) from the environment variable ``url_env`` names; its driver must be
  installed. Only per-user figures come back; the roll-up runs in a local DuckDB
  (:func:`local_duckdb`).

The statements themselves are built by the same builder for every engine
(:mod:`scoring.signals.activity`, :mod:`storage.usage_sql`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from pyarrow import csv as pa_csv
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from pulse.kernel.config import UsageEngineConfig
from storage.tuning import AnySelect, query_frame, rows_frame
from storage.usage_sql import UsageTable, mapped_usage, pulse_usage

DUCKDB_FILE_SUFFIXES = (".duckdb", ".ddb", ".db")
"""A ``path`` ending so is a DuckDB database file; anything else names usage files."""
FILES_VIEW = "pulse_usage_files"
"""The view over Parquet/CSV usage files inside the DuckDB engine."""


class UsageEngineError(RuntimeError):
    """A usage engine that cannot be reached as configured, worded for the administrator."""


@dataclass(frozen=True)
class UsageEngine:
    """Where the usage is (:class:`~storage.usage_sql.UsageTable`) and how to reach it.

    ``engine`` is None for Pulse's own database (the session's); ``user_source`` is the
    source whose contact ids the usage's user column holds (outside engines only).
    """

    kind: str
    usage: UsageTable
    engine: Engine | None = None
    user_source: str = ""

    @property
    def local(self) -> bool:
        """True when the usage is Pulse's own ``usage_daily``."""
        return self.engine is None

    @property
    def dialect(self) -> str:
        """The SQLAlchemy dialect name of an outside engine (``duckdb``, ``snowflake`` ...)."""
        return "" if self.engine is None else self.engine.dialect.name

    def rows(self, session: Session, stmt: AnySelect) -> list[tuple[Any, ...]]:
        """All rows of ``stmt`` (small results: workspace facts, the usage calendar)."""
        if self.engine is None:
            return [tuple(r) for r in session.execute(stmt).all()]
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(stmt).all()]

    def frame(
        self,
        session: Session | None,
        stmt: AnySelect,
        tables: Mapping[str, pd.DataFrame | pa.Table] | None = None,
    ) -> pd.DataFrame:
        """``stmt``'s rows as a frame; ``tables`` (frames or Arrow tables) are handed to
        a DuckDB engine first (registered by name for this statement: DuckDB reads them
        in place). From DuckDB the columns come typed by DuckDB (dates and timestamps
        as ``datetime64``, a NULL number as NaN), not as SQLAlchemy's Python values."""
        if self.engine is None:
            assert session is not None
            return query_frame(session, stmt)
        with self.engine.connect() as conn, _registered(conn, tables or {}):
            result = conn.execute(stmt)
            if conn.dialect.name == "duckdb":
                # DuckDB builds the frame column by column itself: 100,000 rows of
                # figures as Python tuples took about 0.5 s (docs/performance.md)
                frame: pd.DataFrame = result.cursor.fetchdf()
                result.close()
                return frame
            return rows_frame(result.all(), list(result.keys()))


@contextmanager
def _registered(
    conn: Connection, tables: Mapping[str, pd.DataFrame | pa.Table]
) -> Iterator[None]:
    if tables and conn.dialect.name != "duckdb":
        raise UsageEngineError(f"only DuckDB can be handed tables, not {conn.dialect.name}")
    raw: Any = conn.connection.dbapi_connection
    for name, frame in tables.items():
        raw.register(name, frame)
    try:
        yield
    finally:
        for name in tables:
            raw.unregister(name)


def arrow_table(conn: Connection, stmt: AnySelect, types: Mapping[str, pa.DataType]) -> pa.Table:
    """``stmt``'s rows as an Arrow table of ``types`` (one per selected column, in order),
    to hand to DuckDB. PostgreSQL sends them by ``COPY ... TO STDOUT`` as CSV, which Arrow
    parses in C: for the million contacts of 100,000 accounts, fetching Python tuples
    took 9-18 s on the benchmark's loaded machine (docs/performance.md)."""
    if conn.dialect.name == "postgresql":
        sql = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        buffer = io.BytesIO()
        raw: Any = conn.connection.dbapi_connection
        with raw.cursor() as cursor, cursor.copy(
            f"COPY ({sql}) TO STDOUT WITH (FORMAT CSV, HEADER)"
        ) as copy:
            for block in copy:
                buffer.write(block)
        buffer.seek(0)
        options = pa_csv.ConvertOptions(
            column_types=dict(types), true_values=["t"], false_values=["f"],
            strings_can_be_null=True, quoted_strings_can_be_null=False,
        )
        return pa_csv.read_csv(buffer, convert_options=options)
    rows = conn.execute(stmt).all()
    return pa.table({
        name: pa.array([r[i] for r in rows]).cast(kind) if rows else pa.array([], kind)
        for i, (name, kind) in enumerate(types.items())
    })


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _files_view(path: str, day_column: str) -> str:
    """The view over usage files: Parquet or CSV (gzip too), read where they are; the
    day column is cast to DATE (pandas writes Parquet dates as timestamps)."""
    lower = path.lower()
    reader = "read_parquet" if lower.endswith(".parquet") else "read_csv_auto"
    day = '"' + day_column.replace('"', '""') + '"'
    return (
        f"CREATE OR REPLACE VIEW {FILES_VIEW} AS SELECT * REPLACE (CAST({day} AS DATE) AS "
        f"{day}) FROM {reader}({_quoted(path)})"
    )


def _duckdb(config: UsageEngineConfig) -> UsageEngine:
    path = str(Path(config.path).expanduser())
    if path.lower().endswith(DUCKDB_FILE_SUFFIXES):
        if not Path(path).is_file():
            raise UsageEngineError(f"scoring.usage.path: DuckDB file '{path}' not found")
        engine = create_engine(f"duckdb:///{path}", connect_args={"read_only": True})
        usage = mapped_usage(config.table, config.columns)
    else:
        engine = create_engine("duckdb:///:memory:")
        view = _files_view(path, config.columns["day"])

        @event.listens_for(engine, "connect")
        def _view(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(view)

        usage = mapped_usage(FILES_VIEW, config.columns)
    return UsageEngine("duckdb", usage, engine, config.user_source)


def _warehouse(config: UsageEngineConfig) -> UsageEngine:
    url = os.environ.get(config.url_env, "").strip()
    if not url:
        raise UsageEngineError(
            f"scoring.usage: environment variable {config.url_env} is not set; it must hold "
            "the SQLAlchemy URL of the warehouse holding the usage"
        )
    engine = create_engine(url)
    return UsageEngine("warehouse", mapped_usage(config.table, config.columns), engine,
                       config.user_source)


_ENGINES: dict[tuple[str, ...], UsageEngine] = {}


def usage_engine(config: UsageEngineConfig) -> UsageEngine:
    """The engine ``config`` names (outside engines built once per process)."""
    if config.engine == "pulse":
        return UsageEngine("pulse", pulse_usage())
    key = (config.engine, config.path, config.url_env, config.table,
           repr(sorted(config.columns.items())), config.user_source,
           os.environ.get(config.url_env, ""))
    if key not in _ENGINES:
        _ENGINES[key] = _duckdb(config) if config.engine == "duckdb" else _warehouse(config)
    return _ENGINES[key]


def local_duckdb() -> UsageEngine:
    """An in-memory DuckDB for rolling up per-user rows a warehouse sent back."""
    engine = create_engine("duckdb:///:memory:")
    return UsageEngine("duckdb", pulse_usage(), engine)
