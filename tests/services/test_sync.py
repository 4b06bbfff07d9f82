"""Syncing a source into storage: idempotent re-import, error reports, resumable cursors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from connectors.base import Connector
from connectors.files import FilesConnector
from pulse.kernel.config import FilesSourceConfig, PulseConfig, SourcesConfig
from pulse.kernel.records import Batch
from pulse.services.sync import prefetched, run_sync
from storage.db import session_factory
from storage.models import Account, AuditLog, Contact, SyncState, Ticket, UsageDaily

FIXTURES = Path(__file__).parents[1] / "fixtures" / "files"


def _count(url: str, model: type) -> int:
    with session_factory(url)() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_reimporting_the_same_files_changes_nothing(db_url: str) -> None:
    cfg = PulseConfig()
    first = run_sync(db_url, cfg, "files", connector=FilesConnector(cfg, path=FIXTURES / "valid"))
    assert first.status == "ok", first.as_dict()
    assert first.totals.inserted > 0 and not first.skipped
    counts = {m: _count(db_url, m) for m in (Account, Contact, UsageDaily, Ticket)}
    again = run_sync(
        db_url, cfg, "files", full=True, connector=FilesConnector(cfg, path=FIXTURES / "valid")
    )
    assert again.status == "ok"
    assert (again.totals.inserted, again.totals.updated) == (0, 0)
    assert again.totals.unchanged == first.totals.inserted
    assert {m: _count(db_url, m) for m in counts} == counts


def test_broken_csv_reports_file_line_and_reason_and_keeps_valid_rows(db_url: str) -> None:
    cfg = PulseConfig()
    report = run_sync(db_url, cfg, "files", connector=FilesConnector(cfg, path=FIXTURES / "broken"))
    assert report.status == "partial"
    skipped = {(r.where, r.reason) for r in report.skipped}
    assert ("accounts.csv:3", "renewal_date: '2025-13-01' is not a date (YYYY-MM-DD)") in skipped
    assert ("contacts.csv", "missing required column(s): email") in skipped
    # contacts.csv was rejected whole, so usage rows pointing at its users are skipped by
    # the loader, naming the file, line and unknown user
    assert any(w.startswith("usage.csv:") and "unknown user" in r for w, r in skipped)
    with session_factory(db_url)() as s:
        assert sorted(s.scalars(select(Account.external_id))) == ["A-1", "A-6"]
        state = s.get(SyncState, "files")
        assert state is not None and state.last_status == "partial"
        assert state.last_report and state.last_report["skipped_count"] == len(report.skipped)
        assert s.scalar(select(AuditLog.outcome).where(AuditLog.action == "sync")) == "partial"


class _FailsAfterAccounts(Connector):
    """A source whose connection drops after its second page."""

    name = "flaky"

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        yield Batch("owners", [{"external_id": "o1", "name": "Olga"}], cursor="page-1")
        yield Batch(
            "accounts",
            [{"external_id": "a1", "name": "Acme", "owner_external_id": "o1"}],
            cursor="page-2",
        )
        raise ConnectionError("connection reset by peer")


def test_failure_mid_run_keeps_stored_pages_and_cursor(db_url: str) -> None:
    report = run_sync(db_url, PulseConfig(), "flaky", connector=_FailsAfterAccounts(PulseConfig()))
    assert report.status == "failed"
    assert report.errors == ["ConnectionError: connection reset by peer"]
    with session_factory(db_url)() as s:
        assert s.scalar(select(Account.name)) == "Acme"
        state = s.get(SyncState, "flaky")
        assert state is not None
        assert (state.cursor, state.last_status, state.last_success_at) == (
            "page-2",
            "failed",
            None,
        )


def test_dry_run_writes_nothing(db_url: str) -> None:
    cfg = PulseConfig()
    report = run_sync(
        db_url, cfg, "files", dry_run=True, connector=FilesConnector(cfg, path=FIXTURES / "valid")
    )
    assert report.status == "dry-run" and report.totals.inserted > 0
    assert _count(db_url, Account) == 0
    with session_factory(db_url)() as s:
        assert s.get(SyncState, "files") is None


# --- prefetching the connector ---------------------------------------------------------


def test_prefetched_keeps_order_and_raises_where_the_connector_failed() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("page 3 broke")

    got: list[int] = []
    with pytest.raises(RuntimeError, match="page 3 broke"):
        for page in prefetched(pages()):
            got.append(page)
    assert got == [1, 2]


def test_prefetched_stops_and_closes_the_connector_when_the_consumer_stops() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def pages() -> Iterator[int]:
        try:
            for n in range(1000):
                produced.append(n)
                yield n
        finally:
            closed.set()

    for page in prefetched(pages()):
        if page == 3:
            break
    assert closed.wait(2)
    assert len(produced) <= 6  # at most the queue's depth and one in hand beyond page 3


# --- usage slices are written in the background ----------------------------------------


def _usage(day: int, feature: str | None = "reports") -> pd.DataFrame:
    return pd.DataFrame({
        "account_external_id": ["a1"], "user_external_id": ["u1"], "feature": [feature],
        "day": [pd.Timestamp(2026, 11, day)], "events": [day], "minutes": [1.0],
    })


class _UsageSlices(Connector):
    """People first, then usage slices; the third slice breaks a NOT NULL column in the
    database (after it was prepared), and a fourth follows it."""

    name = "slices"

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        yield Batch("accounts", [{"external_id": "a1", "name": "Acme"}], cursor="people")
        yield Batch("contacts", [{"external_id": "u1", "account_external_id": "a1",
                                  "email": "u1@acme.example"}])
        yield Batch("usage", _usage(1), cursor="usage-1")
        yield Batch("usage", _usage(2), cursor="usage-2")
        yield Batch("usage", _usage(3, feature=None), cursor="usage-3")
        yield Batch("usage", _usage(4), cursor="usage-4")


def test_a_usage_slice_failing_in_the_database_keeps_the_slices_before_it(db_url: str) -> None:
    cfg = PulseConfig()
    report = run_sync(db_url, cfg, "slices", connector=_UsageSlices(cfg))

    assert report.status == "failed"
    assert len(report.errors) == 1 and "feature" in report.errors[0].lower()
    assert report.by_entity["usage"].inserted == 2
    assert report.cursor == "usage-2"
    with session_factory(db_url)() as s:
        assert sorted(d.day for d in s.scalars(select(UsageDaily.day))) == [1, 2]
        state = s.get(SyncState, "slices")
        assert state is not None and state.cursor == "usage-2"  # the next run resumes here


def test_sync_progress_moves_with_every_page(db_url: str) -> None:
    from rich.console import Console

    from pulse.cli.terminal import sync_with_progress

    console = Console(record=True, width=200, force_terminal=False)
    cfg = PulseConfig(database_url=db_url, sources=SourcesConfig(
        files=FilesSourceConfig(path=str(FIXTURES / "valid"))))
    [report] = sync_with_progress(console, cfg, ["files"], chunk_rows=3)
    usage = report.by_entity["usage"].fetched
    assert usage > 3
    # the line counts records and pages as they arrive, and keeps the totals when done
    text = console.export_text()
    assert f"usage: {usage:,} records ({-(-usage // 3)} pages)" in text
    assert "partial - owners: " in text or "ok - owners: " in text
