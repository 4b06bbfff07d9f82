"""Running a connector into storage: batches, cursors and the run report."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from connectors.base import Connector, get_connector
from pulse.kernel import telemetry
from pulse.kernel.clock import utcnow
from pulse.kernel.config import PulseConfig
from pulse.kernel.errors import one_line, user_error
from pulse.kernel.records import Batch
from pulse.services.alerts.baseline import history_imported
from pulse.services.sync.report import SyncReport, record_run, sync_state
from pulse.services.sync.threads import WRITERS, OrderedWriter, prefetched
from pulse.services.sync.usage_bulk import BULK_MIN_ROWS, UsageBulkLoad
from scoring.flags import core_feature_warning
from storage.db import session_factory
from storage.loader import FACTS, LoadResult, RefCache, load_batch, load_facts_prepared, write_facts
from storage.models import UsageDaily

log = logging.getLogger("pulse.services.sync")

ProgressHook = Callable[[Batch, LoadResult], None]


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
    (``UsageBulkLoad``). A source's first successful sync imports its history: alert
    evaluation then takes a new baseline (``alerts.baseline.history_imported``).
    """
    started = time.perf_counter()
    factory = session_factory(url)
    report = SyncReport(source=source, started_at=utcnow())
    if connector is None:
        connector = get_connector(source)(config)
    with factory() as session:
        # a full pull still gets the stored cursor: it reads everything, and keeps the
        # cursor of what it does not reach if it stops half-way (connectors.base)
        state = sync_state(session, source)
        cursor, first = state.cursor, state.last_success_at is None
        session.rollback()
    report.cursor = cursor
    postgres = make_url(url).get_backend_name() == "postgresql"
    run = _SyncRun(factory, report, progress, postgres=postgres, dry_run=dry_run,
                   bulk_min_rows=bulk_min_rows)
    run.load(connector.pull(cursor, full=full))
    run.rebuild_indexes()
    report.warnings = [*connector.warnings, *run.notes]
    if run.features and not dry_run:
        with factory() as session:
            note = core_features_note(session, config.scoring.core_features, run.features)
        report.warnings += [note] if note else []
    report.finished_at = utcnow()
    if not dry_run:
        record_run(factory(), report)
        _observe(report, time.perf_counter() - started)
        if first and report.status != "failed":
            with factory() as session:  # its history is a baseline, not a flood of alerts
                history_imported(session, source, report.finished_at)
                session.commit()
    return report


def batch_features(batch: Batch) -> set[str]:
    """The distinct features of a usage batch (a frame or records)."""
    records = batch.records
    if isinstance(records, pd.DataFrame):
        if "feature" not in records.columns:
            return set()
        return {str(f) for f in records["feature"].dropna().unique()}
    return {str(r["feature"]) for r in records if r.get("feature") is not None}


def core_features_note(
    session: Session, core_features: Sequence[str], loaded: set[str]
) -> str | None:
    """The warning when configured core features appear neither in the usage just loaded
    nor anywhere in the usage table (when none appears the onboarding flag is off)."""
    missing = [f for f in core_features if f not in loaded]
    absent = [
        f for f in missing
        if session.execute(select(UsageDaily.feature).where(UsageDaily.feature == f).limit(1))
        .first() is None
    ]
    return core_feature_warning(absent, core_features)


def _observe(report: SyncReport, seconds: float) -> None:
    """One log line (outcome, counts, duration) and the sync's metrics."""
    totals = report.totals
    level = logging.WARNING if report.status == "failed" else logging.INFO
    log.log(level, "sync %s %s in %.2fs: %d new, %d changed, %d unchanged, %d skipped%s",
            report.source, report.status, seconds, totals.inserted, totals.updated,
            totals.unchanged, len(totals.skipped),
            f"; {'; '.join(report.errors)}" if report.errors else "",
            extra={"source": report.source, "outcome": report.status,
                   "duration": round(seconds, 3), "inserted": totals.inserted,
                   "updated": totals.updated})
    telemetry.SYNCS.labels(report.source, report.status).inc()
    telemetry.RECORDS_SYNCED.labels(report.source, "inserted").inc(totals.inserted)
    telemetry.RECORDS_SYNCED.labels(report.source, "updated").inc(totals.updated)
    if report.status == "failed" and telemetry.api_label(report.source) != "other":
        telemetry.api_error(report.source)  # a CRM, billing or support API (not a file)


class _SyncRun:
    """One run's batches into storage: who writes them (a writer thread per PostgreSQL
    connection, the sync's own thread, or one rolled-back session in a dry run) and what
    the report counts."""

    def __init__(
        self,
        factory: Callable[[], Session],
        report: SyncReport,
        progress: ProgressHook | None,
        *,
        postgres: bool,
        dry_run: bool,
        bulk_min_rows: int,
    ) -> None:
        self.factory = factory
        self.source = report.source
        self.report = report
        self.progress = progress
        self.dry_run = dry_run
        self.dry_session = factory() if dry_run else None
        self.cache = RefCache()
        # SQLite takes one writer at a time: a second slice's open write would wait on the
        # first, which waits for its turn behind nothing but the second's lock: one thread.
        workers = WRITERS if postgres else 1
        self.writer = None if dry_run else OrderedWriter(factory, self.source, workers)
        self.bulk = UsageBulkLoad(factory, bulk_min_rows) if postgres and not dry_run else None
        self.notes: list[str] = []
        self.features: set[str] = set()
        """Features of the usage rows this run loaded."""

    def load(self, batches: Iterator[Batch]) -> None:
        """Store every batch, each committed with its cursor; a failure is reported, and
        what was stored before it stays."""
        writer, report = self.writer, self.report
        try:
            if self.bulk is not None and (note := self.bulk.repair()):
                self.notes.append(note)
            for batch in prefetched(batches):
                self._load_one(batch)
            if writer is not None:
                self._account(writer.drain())
            report.status = "dry-run" if self.dry_run else ("partial" if report.skipped else "ok")
        except Exception as exc:  # the report must say what failed; stored data stays
            if writer is not None:
                self._account(writer.finish())  # slices already handed over are still stored
            line = one_line(exc)
            if user_error(exc) is None:  # unexpected: the traceback is wanted
                log.exception("sync of %s failed: %s", self.source, line)
            else:  # expected (an API refusal, a missing credential): one line
                log.error("sync of %s failed: %s", self.source, line,
                          exc_info=log.isEnabledFor(logging.DEBUG))
            report.errors.append(line)
            report.status = "failed"
        finally:
            if writer is not None:
                writer.close()
            if self.dry_session is not None:
                self.dry_session.rollback()
                self.dry_session.close()

    def _load_one(self, batch: Batch) -> None:
        source, writer = self.source, self.writer
        if batch.entity == "usage":
            self.features.update(batch_features(batch))
        if writer is not None and batch.entity in FACTS:
            assume_new = self.bulk is not None and self.bulk.applies(batch)
            # prepare this slice while the previous one is still being written
            with self.factory() as session:
                prepared = load_facts_prepared(session, source, batch, self.cache,
                                               assume_new=assume_new)
            self._account(writer.submit(batch, partial(write_facts, source=source,
                                                       prepared=prepared)))
            return
        if writer is not None:
            self._account(writer.drain())  # references may point at what is being written
        work = partial(load_batch, source=source, batch=batch, cache=self.cache)
        self._account([(batch, self._store(batch, work))])

    def _store(self, batch: Batch, work: Callable[[Session], LoadResult]) -> LoadResult:
        """Load one batch and commit it with its cursor (or flush, in a dry run)."""
        session = self.dry_session or self.factory()
        try:
            result = work(session)
            if self.dry_session is None:
                if batch.cursor is not None:
                    sync_state(session, self.source).cursor = batch.cursor
                session.commit()
            else:
                session.flush()
            return result
        finally:
            if self.dry_session is None:
                session.close()

    def _account(self, done: list[tuple[Batch, LoadResult]]) -> None:
        report = self.report
        for batch, result in done:
            if batch.cursor is not None:
                report.cursor = batch.cursor
            report.totals.add(result)
            report.by_entity.setdefault(batch.entity, LoadResult()).add(result)
            if self.progress:
                self.progress(batch, result)

    def rebuild_indexes(self) -> None:
        """Every slice is written or given up: build the usage indexes a bulk load dropped."""
        if self.bulk is None:
            return
        try:
            if note := self.bulk.finish():
                self.notes.append(note)
        except Exception as exc:  # the next run builds them before writing
            log.exception("could not build the usage indexes again")
            self.report.errors.append(
                f"usage indexes not rebuilt ({one_line(exc)}); the next sync builds them"
            )
            self.report.status = "failed"
