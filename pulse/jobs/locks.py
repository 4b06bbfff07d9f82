"""Locks between Pulse processes, one per database: the scheduler's leader lock and the
run lock every pipeline run holds.

On PostgreSQL each is a session-level advisory lock (``pg_try_advisory_lock``, scoped to
the database) held on a connection of its own: when the holding process dies its
connection closes and PostgreSQL frees the lock. On SQLite (one machine) an exclusive
``flock`` on a file beside the database plays that part; ``flock`` locks taken through
separate opens of the file exclude each other even inside one process, so two threads
compete like two processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from storage.db import connect_args

LEADER_LOCK_KEY = 0x70756C7365  # "pulse": the advisory lock every Pulse process competes for
RUN_LOCK_KEY = 0x70756C7372  # "pulsr": held by the one pipeline (or alerts, digest) run
RUN_LOCK_POLL_SECONDS = 1.0
"""How often a run waiting for the run lock tries again."""


class DatabaseLock:
    """Held by at most one holder per database; ``held`` re-checks it is still ours."""

    def __init__(self, url: str, *, key: int, suffix: str) -> None:
        self.url = url
        self.key = key
        self.suffix = suffix
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None
        self._postgres = make_url(url).get_backend_name() == "postgresql"

    def acquire(self) -> bool:
        if self.held:
            return True
        return self._acquire_pg() if self._postgres else self._acquire_file()

    def _acquire_pg(self) -> bool:
        self.release()
        engine = create_engine(self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                               connect_args=connect_args(self.url))
        conn = engine.connect()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        if got:
            self._conn = conn
        else:
            conn.close()
            engine.dispose()
        return got

    def _lock_path(self) -> Path:
        database = make_url(self.url).database
        if not database or database == ":memory:":
            return Path(f"/tmp/pulse-memory{self.suffix}")
        return Path(database).with_suffix(Path(database).suffix + self.suffix)

    def _acquire_file(self) -> bool:
        handle = self._lock_path().open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    @property
    def held(self) -> bool:
        if self._file is not None:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - a dead connection means the lock is gone
            self.release()
            return False

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing the connection releases it anyway
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            engine = self._conn.engine
            self._conn.close()
            engine.dispose()
            self._conn = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class LeaderLock(DatabaseLock):
    """The scheduler's: only the process holding it runs scheduled jobs."""

    def __init__(self, url: str) -> None:
        super().__init__(url, key=LEADER_LOCK_KEY, suffix=".scheduler.lock")


class RunInProgress(Exception):
    """Another run holds the run lock; this one did nothing."""

    def __str__(self) -> str:
        return ("another Pulse run is in progress (`pulse run`, `pulse alerts`, `pulse digest` "
                "or the scheduled pipeline); nothing was done: try again when it has finished")


@contextlib.contextmanager
def run_lock(
    url: str, *, wait_seconds: float = 0.0, sleep: Callable[[float], None] = time.sleep
) -> Iterator[None]:
    """Hold the run lock for the body: one run that posts cards or sends digests at a time,
    whatever process or thread starts it. Waits up to ``wait_seconds`` for it, trying every
    :data:`RUN_LOCK_POLL_SECONDS`, then raises :class:`RunInProgress`."""
    lock = DatabaseLock(url, key=RUN_LOCK_KEY, suffix=".run.lock")
    retries = int(wait_seconds // RUN_LOCK_POLL_SECONDS)
    for retry in range(retries + 1):
        if lock.acquire():
            break
        if retry == retries:
            raise RunInProgress
        sleep(RUN_LOCK_POLL_SECONDS)
    try:
        yield
    finally:
        lock.release()
