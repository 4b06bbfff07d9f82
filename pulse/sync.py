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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.orm import Session

from connectors.base import Batch, Connector, Rejection, get_connector
from pulse.config import PulseConfig
from storage.db import session_factory
from storage.loader import LoadResult, RefCache, load_batch
from storage.models import AuditLog, SyncState

log = logging.getLogger("pulse.sync")

ProgressHook = Callable[[Batch, LoadResult], None]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


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


def run_sync(
    url: str,
    config: PulseConfig,
    source: str,
    *,
    full: bool = False,
    dry_run: bool = False,
    connector: Connector | None = None,
    progress: ProgressHook | None = None,
) -> SyncReport:
    """Pull one source into the database at ``url`` and return its report.

    ``dry_run`` loads everything inside one transaction and rolls it back, so the report
    shows what would change while nothing is written.
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
    try:
        for batch in prefetched(connector.pull(cursor, full=full)):
            session = dry_session or factory()
            try:
                result = load_batch(session, source, batch, cache)
                if dry_session is None:
                    if batch.cursor is not None:
                        _state(session, source).cursor = batch.cursor
                    session.commit()
                else:
                    session.flush()
            finally:
                if dry_session is None:
                    session.close()
            if batch.cursor is not None:
                report.cursor = batch.cursor
            report.totals.add(result)
            report.by_entity.setdefault(batch.entity, LoadResult()).add(result)
            if progress:
                progress(batch, result)
        report.status = "dry-run" if dry_run else ("partial" if report.skipped else "ok")
    except Exception as exc:  # the report must say what failed; stored data stays
        log.exception("sync of %s failed", source)
        report.errors.append(f"{type(exc).__name__}: {exc}")
        report.status = "failed"
    finally:
        if dry_session is not None:
            dry_session.rollback()
            dry_session.close()
    report.warnings = list(connector.warnings)
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
