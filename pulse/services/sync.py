"""Running a connector into storage: batches, cursors and the run report.

Each batch is stored in its own transaction together with the cursor that follows it, so
a failure mid-run keeps everything already stored and the next run resumes from the last
fully stored batch, without gaps or duplicates.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from connectors.base import Connector, get_connector
from pulse.kernel.clock import utcnow
from pulse.kernel.config import PulseConfig
from pulse.kernel.records import Batch, Rejection
from storage.bulk import (
    drop_usage_indexes,
    missing_usage_indexes,
    restore_usage_indexes,
    usage_is_empty,
)
from storage.db import session_factory
from storage.loader import (
    FACTS,
    LoadResult,
    RefCache,
    load_batch,
    load_facts_prepared,
    write_facts,
)
from storage.models import AuditLog, SyncState, UsageDaily

log = logging.getLogger("pulse.services.sync")

ProgressHook = Callable[[Batch, LoadResult], None]



@dataclass
class SyncReport:
    """What one run of one source did: the figures `pulse sync` prints and stores."""

    source: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # ok | partial | failed | dry-run
    cursor: str | None = None
    totals: LoadResult = field(default_factory=LoadResult)
    by_entity: dict[str, LoadResult] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> list[Rejection]:
        return self.totals.skipped

    def as_dict(self, max_skipped: int = 500) -> dict[str, object]:
        """A JSON-able summary for sync_state.last_report (skips capped, with the count)."""
        return {
            "source": self.source,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "cursor": self.cursor,
            "fetched": self.totals.fetched,
            "inserted": self.totals.inserted,
            "updated": self.totals.updated,
            "unchanged": self.totals.unchanged,
            "skipped_count": len(self.totals.skipped),
            "skipped": [asdict(r) for r in self.totals.skipped[:max_skipped]],
            "errors": self.errors,
            "warnings": self.warnings,
            "by_entity": {
                name: {
                    "fetched": r.fetched,
                    "inserted": r.inserted,
                    "updated": r.updated,
                    "unchanged": r.unchanged,
                    "skipped": len(r.skipped),
                }
                for name, r in self.by_entity.items()
            },
        }


def _state(session: Session, source: str) -> SyncState:
    state = session.get(SyncState, source)
    if state is None:
        state = SyncState(source=source)
        session.add(state)
    return state


T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead.

    A connector parses the next page or file slice while this thread waits on the
    database for the current one (both release the GIL in I/O and in Arrow/numpy), so a
    bulk load uses both cores. Order is kept; an exception in the connector is raised
    here at the same position; when the consumer stops early the producer stops after
    its current item and the generator is closed in its own thread.
    """
    box: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            box.put((_DONE, exc))
            return
        finally:
            close = getattr(items, "close", None)
            if stop.is_set() and close is not None:
                close()
        box.put((_DONE, None))

    worker = threading.Thread(target=produce, name="pulse-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = box.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                box.get(timeout=0.1)


WRITERS = 2
"""Slices written at once on PostgreSQL, so the server has the next slice while one waits
for its turn to commit (3 measured no faster on 2 cores: docs/performance.md)."""


class _Writer:
    """Background threads that store fact slices and commit them strictly in order.

    The server ingesting a slice (COPY into the primary key) is the slowest part of a
    bulk load, so on PostgreSQL two slices are written at once on two connections, each committing
    only after the slice before it did, so the stored cursor never passes a slice that
    is not stored. Two slices write at once only when the connector vouches that no two
    of its slices share a fact key (``Batch.distinct_keys``); other slices start writing
    after the one before them is committed, since they may update its rows.

    ``submit`` hands a slice over and returns the slices committed meanwhile; ``drain``
    waits for all of them. After the first failure nothing more is committed; the failure
    is raised by the next ``submit``/``drain``, and ``finish`` returns what was stored.
    """

    def __init__(self, factory: Callable[[], Session], source: str, workers: int = 2) -> None:
        self._factory = factory
        self._source = source
        self._todo: queue.Queue[tuple[int, Batch, Callable[[Session], LoadResult]] | None] = (
            queue.Queue(1)
        )
        self._done: list[tuple[Batch, LoadResult]] = []
        self._turn = threading.Condition()
        self._submitted = 0
        self._committed = 0  # sequence number of the last slice committed (or given up)
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._run, name=f"pulse-writer-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _wait_turn(self, seq: int) -> None:
        with self._turn:
            self._turn.wait_for(lambda: self._committed == seq - 1)

    def _run(self) -> None:
        while (item := self._todo.get()) is not None:
            seq, batch, work = item
            session = self._factory()
            try:
                self._store(seq, batch, work, session)
            finally:
                session.close()
                with self._turn:
                    self._committed = seq
                    self._turn.notify_all()

    def _store(
        self, seq: int, batch: Batch, work: Callable[[Session], LoadResult], session: Session
    ) -> None:
        error: BaseException | None = None
        result: LoadResult | None = None
        if not batch.distinct_keys:
            self._wait_turn(seq)
        try:
            if self._error is None:
                result = work(session)
        except BaseException as exc:  # noqa: BLE001 - raised in the sync's thread
            error = exc
        self._wait_turn(seq)
        if self._error is not None or error is not None or result is None:
            session.rollback()
            if self._error is None:
                self._error = error
            return
        try:
            if batch.cursor is not None:
                _state(session, self._source).cursor = batch.cursor
            session.commit()
        except BaseException as exc:  # noqa: BLE001
            session.rollback()
            self._error = exc
            return
        with self._turn:
            self._done.append((batch, result))

    def _take(self) -> list[tuple[Batch, LoadResult]]:
        with self._turn:
            done, self._done = self._done, []
        return done

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(
        self, batch: Batch, work: Callable[[Session], LoadResult]
    ) -> list[tuple[Batch, LoadResult]]:
        self._raise()
        self._submitted += 1
        self._todo.put((self._submitted, batch, work))
        return self._take()

    def finish(self) -> list[tuple[Batch, LoadResult]]:
        """Wait for every slice handed over; what was stored, even after a failure."""
        self._wait_turn(self._submitted + 1)
        return self._take()

    def drain(self) -> list[tuple[Batch, LoadResult]]:
        done = self.finish()
        if self._error is not None:
            with self._turn:
                self._done[:0] = done  # kept for the failure report's ``finish``
            self._raise()
        return done

    def close(self) -> None:
        for _ in self._threads:
            self._todo.put(None)
        for thread in self._threads:
            thread.join()


BULK_MIN_ROWS = 100_000
"""Smallest first usage slice loaded without the table's indexes: below it the saving is
too small to notice (building the key over 100,000 rows takes a tenth of a second)."""


class _UsageBulkLoad:
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


def run_sync(
    url: str,
    config: PulseConfig,
    source: str,
    *,
    full: bool = False,
    dry_run: bool = False,
    connector: Connector | None = None,
    progress: ProgressHook | None = None,
    bulk_min_rows: int = BULK_MIN_ROWS,
) -> SyncReport:
    """Pull one source into the database at ``url`` and return its report.

    ``dry_run`` loads everything inside one transaction and rolls it back, so the report
    shows what would change while nothing is written. On PostgreSQL a first usage load of
    at least ``bulk_min_rows`` rows into an empty table runs without the table's indexes
    (``_UsageBulkLoad``).
    """
    factory = session_factory(url)
    report = SyncReport(source=source, started_at=utcnow())
    if connector is None:
        connector = get_connector(source)(config)
    with factory() as session:
        cursor = None if full else _state(session, source).cursor
        session.rollback()
    report.cursor = cursor

    dry_session = factory() if dry_run else None
    cache = RefCache()
    # SQLite takes one writer at a time: a second slice's open write would wait on the
    # first, which waits for its turn behind nothing but the second's lock: one thread.
    postgres = make_url(url).get_backend_name() == "postgresql"
    workers = WRITERS if postgres else 1
    writer = None if dry_run else _Writer(factory, source, workers)
    bulk = _UsageBulkLoad(factory, bulk_min_rows) if postgres and not dry_run else None
    notes: list[str] = []

    def store(batch: Batch, work: Callable[[Session], LoadResult]) -> LoadResult:
        """Load one batch and commit it with its cursor (or flush, in a dry run)."""
        session = dry_session or factory()
        try:
            result = work(session)
            if dry_session is None:
                if batch.cursor is not None:
                    _state(session, source).cursor = batch.cursor
                session.commit()
            else:
                session.flush()
            return result
        finally:
            if dry_session is None:
                session.close()

    def account(done: list[tuple[Batch, LoadResult]]) -> None:
        for batch, result in done:
            if batch.cursor is not None:
                report.cursor = batch.cursor
            report.totals.add(result)
            report.by_entity.setdefault(batch.entity, LoadResult()).add(result)
            if progress:
                progress(batch, result)

    try:
        if bulk is not None and (note := bulk.repair()):
            notes.append(note)
        for batch in prefetched(connector.pull(cursor, full=full)):
            if writer is not None and batch.entity in FACTS:
                assume_new = bulk is not None and bulk.applies(batch)
                # prepare this slice while the previous one is still being written
                with factory() as session:
                    prepared = load_facts_prepared(session, source, batch, cache,
                                                   assume_new=assume_new)
                account(writer.submit(
                    batch, lambda session, p=prepared: write_facts(session, source, p)
                ))
                continue
            if writer is not None:
                account(writer.drain())  # references may point at what is being written
            result = store(batch, lambda session, b=batch: load_batch(session, source, b, cache))
            account([(batch, result)])
        if writer is not None:
            account(writer.drain())
        report.status = "dry-run" if dry_run else ("partial" if report.skipped else "ok")
    except Exception as exc:  # the report must say what failed; stored data stays
        if writer is not None:
            account(writer.finish())  # slices already handed over are still stored
        log.exception("sync of %s failed", source)
        report.errors.append(f"{type(exc).__name__}: {exc}")
        report.status = "failed"
    finally:
        if writer is not None:
            writer.close()
        if dry_session is not None:
            dry_session.rollback()
            dry_session.close()
    if bulk is not None:  # every slice is written or given up: build the indexes again
        try:
            if note := bulk.finish():
                notes.append(note)
        except Exception as exc:  # the next run builds them before writing
            log.exception("could not build the usage indexes again")
            report.errors.append(f"usage indexes not rebuilt ({exc}); the next sync builds them")
            report.status = "failed"
    report.warnings = [*connector.warnings, *notes]
    report.finished_at = utcnow()
    if not dry_run:
        _record(factory(), report)
    return report


def _record(session: Session, report: SyncReport) -> None:
    with session:
        state = _state(session, report.source)
        state.last_run_at = report.finished_at
        state.last_status = report.status
        state.last_report = report.as_dict()
        if report.status in {"ok", "partial"}:
            state.last_success_at = report.finished_at
        session.add(
            AuditLog(
                at=report.finished_at or utcnow(),
                actor="pulse sync",
                action="sync",
                detail={
                    "source": report.source,
                    "inserted": report.totals.inserted,
                    "updated": report.totals.updated,
                    "skipped": len(report.skipped),
                    "errors": report.errors,
                },
                outcome=report.status,
            )
        )
        session.commit()
