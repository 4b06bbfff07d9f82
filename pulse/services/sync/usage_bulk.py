"""A first load of usage into an empty PostgreSQL table, without its indexes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from pulse.kernel.records import Batch
from storage.bulk import (
    drop_usage_indexes,
    missing_usage_indexes,
    restore_usage_indexes,
    usage_is_empty,
)
from storage.loader import FACTS
from storage.models import UsageDaily

log = logging.getLogger("pulse.services.sync")

BULK_MIN_ROWS = 100_000
"""Smallest first usage slice loaded without the table's indexes: below it the saving is
too small to notice (building the key over 100,000 rows takes a tenth of a second)."""


class UsageBulkLoad:
    """A first load of usage into an empty PostgreSQL table, without its indexes.

    The indexes are dropped with the first usage slice, when that slice is large, its
    connector vouches that no two of the pull's rows share a key and the table holds no
    row at all (checked under the lock the drop takes), and built again by ``finish``,
    whether the run succeeded or not (``storage.bulk`` says why and what it saves).
    """

    def __init__(self, factory: Callable[[], Session], min_rows: int) -> None:
        self._factory = factory
        self._min_rows = min_rows
        self._decided = False
        self.active = False

    def repair(self) -> str | None:
        """Build indexes a killed bulk load left missing, before anything is written."""
        with self._factory() as session:
            if not missing_usage_indexes(session.connection()):
                return None
        log.warning("usage indexes missing (a bulk load was interrupted); building them")
        return self._restore()

    def applies(self, batch: Batch) -> bool:
        """Whether ``batch`` is part of a bulk load; the first usage slice may start one."""
        if FACTS[batch.entity][0] is not UsageDaily or not batch.distinct_keys:
            return False
        if not self._decided:
            self._decided = True
            if len(batch) >= self._min_rows:
                with self._factory() as session:
                    conn = session.connection()
                    drop_usage_indexes(conn)
                    if usage_is_empty(conn):
                        session.commit()
                        self.active = True
                        log.info("usage table empty: loading without its indexes")
                    else:
                        session.rollback()
        return self.active

    def finish(self) -> str | None:
        if not self.active:
            return None
        self.active = False
        return self._restore()

    def _restore(self) -> str | None:
        started = time.perf_counter()
        with self._factory() as session:
            removed = restore_usage_indexes(session.connection())
            session.commit()
        log.info("usage indexes built in %.1f s", time.perf_counter() - started)
        if removed:
            return (f"usage: {removed} row(s) shared a key with a newer row (written by "
                    "another process during a bulk load) and were removed")
        return None
