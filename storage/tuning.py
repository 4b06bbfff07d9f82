"""Running the scorer's grouped queries fast: result frames, server settings, connections.

* Results become pandas frames straight from the Core result, as plain tuples
  (:func:`query_frame`), skipping the ORM's row loading and pandas' probing of ``Row``.
* The one big aggregation per run gets :data:`PG_BIG_QUERY_SETTINGS` on PostgreSQL, for
  that statement only (:func:`big_query_frame`).
* When extra connections would see exactly what the session sees (:func:`parallel_safe`),
  the big aggregation runs on connections of its own while the small queries run on the
  session's (:func:`run_queries`); SQLite, which uses one core per query, gets it split
  into :data:`PARALLEL_WORKERS` account ranges (:func:`split_ids`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

AnySelect: TypeAlias = Select[*tuple[Any, ...]]
"""A Core ``select`` of any columns."""

PG_BIG_QUERY_SETTINGS = {"work_mem": "256MB", "jit": "on"}
"""PostgreSQL settings for the one big aggregation, applied for that statement only.

``work_mem``: with the 4 MB default the per-user hash aggregate spilled to disk in a
hundred batches. 100,000 accounts (881,130 active users) need 221 MB: inside the
256 MB hash limit that a ``work_mem`` of 128 MB gives (twice, with the default
``hash_mem_multiplier``) but near it, so it is 256 MB now, room for about two million
active users before it spills. A ceiling, not an allocation: a smaller workspace uses
what it needs. ``jit``: explicitly on, so a server configured without it still compiles
this statement's per-row expressions: 8.0-9.9 s against 10.5-11.0 s for one date at
100,000 accounts, compilation (0.6 s) included. JIT had been switched off while feature weights were
CASE chains comparing each row's feature text up to 36 times; their compilation (2 s)
cost more than it saved. Figures: docs/performance.md.
"""

PARALLEL_WORKERS = 2
"""Connections used at once when that is safe (the benchmark target is a 2-core box)."""


def query_frame(session: Session, stmt: AnySelect) -> pd.DataFrame:
    """Run a Core ``stmt`` on the session's connection: through ``Session.execute`` every
    row also passed the ORM's row loading, 0.6 s per date for 100,000 accounts."""
    session.flush()  # what Session.execute would have flushed first
    result = session.connection().execute(stmt)
    columns = list(result.keys())
    return rows_frame(result.all(), columns)


def rows_frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    """Rows as a frame, via plain tuples: pandas probes each SQLAlchemy ``Row`` for
    attributes it lacks, which took 0.45 s per 100,000 rows against 0.08 s this way."""
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)


def _tuned(conn: Connection) -> dict[str, str]:
    """Apply :data:`PG_BIG_QUERY_SETTINGS` transaction-locally; return what they were."""
    if conn.dialect.name != "postgresql":
        return {}
    before: dict[str, str] = {}
    for name, value in PG_BIG_QUERY_SETTINGS.items():
        before[name] = str(conn.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar())
        conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    return before


def _restore(conn: Connection, before: Mapping[str, str]) -> None:
    for name, value in before.items():
        conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})


def big_query_frame(session: Session, stmt: AnySelect) -> pd.DataFrame:
    """Run the big aggregation on the session's connection with tuned settings."""
    conn = session.connection()
    before = _tuned(conn)
    try:
        return query_frame(session, stmt)
    finally:
        _restore(conn, before)


def _big_query_frame_on_new_connection(engine: Engine, stmt: AnySelect) -> pd.DataFrame:
    """Run ``stmt`` on a connection of its own (rolled back, so settings do not leak)."""
    with engine.connect() as conn:
        _tuned(conn)
        result = conn.execute(stmt)
        return rows_frame(result.all(), list(result.keys()))


def engine_of(session: Session) -> Engine | None:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else None


def parallel_safe(session: Session) -> bool:
    """True when extra connections would see exactly what ``session`` sees.

    They would not if the session holds uncommitted writes (a test or loader that scores
    before committing) or uses a private in-memory SQLite database; then every query runs
    on the session's own connection.
    """
    engine = engine_of(session)
    if engine is None:
        return False
    dialect = engine.dialect.name
    if dialect == "sqlite":
        database = engine.url.database or ""
        if database in ("", ":memory:") or "mode=memory" in str(engine.url):
            return False
        dbapi = session.connection().connection.dbapi_connection
        return not getattr(dbapi, "in_transaction", True)
    if dialect == "postgresql" and (engine.dialect.server_version_info or (0,)) >= (10,):
        pending = session.execute(text("SELECT txid_current_if_assigned()")).scalar()
        return pending is None
    return False


def split_ids(ids: pd.Series, parts: int) -> list[tuple[int, int]]:
    """Inclusive id ranges holding about the same number of accounts each."""
    ordered = np.sort(ids.to_numpy(dtype="int64"))
    if len(ordered) == 0:
        return []
    chunks = [c for c in np.array_split(ordered, parts) if len(c)]
    return [(int(c[0]), int(c[-1])) for c in chunks]


def run_queries(
    session: Session,
    big: Sequence[AnySelect],
    small: Mapping[str, AnySelect],
    *,
    threads: bool,
    timings: dict[str, float],
    big_name: str,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The big statements' rows in one frame, and each small statement's frame by name.

    With ``threads`` (only when :func:`parallel_safe` or asked for explicitly) each big
    statement runs on a connection of its own while the small ones run on the session's;
    otherwise the big ones run first on the session's connection. ``timings`` receives
    the seconds of each small statement and of the big ones together (as ``big_name``).
    """

    def timed(name: str, stmt: AnySelect) -> pd.DataFrame:
        t0 = perf_counter()
        frame = query_frame(session, stmt)
        timings[name] = perf_counter() - t0
        return frame

    t0 = perf_counter()
    if threads:
        engine = engine_of(session)
        assert engine is not None  # checked by parallel_safe or asked for explicitly
        with ThreadPoolExecutor(max_workers=len(big)) as pool:
            futures = [
                pool.submit(_big_query_frame_on_new_connection, engine, s) for s in big
            ]
            results = {name: timed(name, stmt) for name, stmt in small.items()}
            combined = pd.concat([f.result() for f in futures], ignore_index=True)
        timings[big_name] = perf_counter() - t0
    else:
        combined = pd.concat([big_query_frame(session, s) for s in big], ignore_index=True)
        timings[big_name] = perf_counter() - t0
        results = {name: timed(name, stmt) for name, stmt in small.items()}
    return combined, results
