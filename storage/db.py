"""Engine and session factory, one per database URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

PG_CONNECT_TIMEOUT_SECONDS = 10
"""How long a PostgreSQL connection may take to open (libpq's ``connect_timeout``; a
``connect_timeout`` in the URL wins). libpq's own default is to wait for ever: a database
behind a dropped route hung `/readyz`, the scheduler and every request instead of
failing."""


def connect_args(url: str) -> dict[str, Any]:
    """What every engine on Pulse's database ``url`` hands the driver: a PostgreSQL
    connection gives up opening after :data:`PG_CONNECT_TIMEOUT_SECONDS` unless the URL
    sets its own ``connect_timeout``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        return {"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS}
    return {}


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """A pooled engine; SQLite gets foreign keys on and WAL so readers do not block writers;
    PostgreSQL connections give up opening after :data:`PG_CONNECT_TIMEOUT_SECONDS`."""
    engine = create_engine(url, future=True, connect_args=connect_args(url))
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A transaction: committed when the block ends, rolled back on error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
