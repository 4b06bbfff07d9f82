"""The ``files`` connector loses nothing silently: unknown optional references are
reported per row and never unlink stored data (issue 18)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from file_drops import pull, records
from sqlalchemy import select

from connectors.files import FilesConnector
from pulse.kernel.config import PulseConfig
from pulse.kernel.records import Rejection
from pulse.services.sync import SyncReport, run_sync
from storage.db import session_factory
from storage.models import Account, Invoice, Owner

OWNERS = "external_id,name,manager_external_id\nO-1,Maya,\nO-2,Tom,O-1\n"


def _sync(db_url: str, drop: Path) -> SyncReport:
    cfg = PulseConfig()
    return run_sync(db_url, cfg, "files", full=True, connector=FilesConnector(cfg, path=drop))


def _owner_of(db_url: str, account: str) -> str | None:
    with session_factory(db_url)() as s:
        return s.scalar(
            select(Owner.external_id).join(Account, Account.owner_id == Owner.id)
            .where(Account.external_id == account)
        )


def _skipped(report: SyncReport) -> set[tuple[str, str]]:
    return {(r.where, r.reason) for r in report.skipped}


def test_a_reimport_with_a_mistyped_owner_keeps_the_owner_and_reports_the_row(
    db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "owners.csv").write_text(OWNERS)
    (tmp_path / "accounts.csv").write_text(
        "external_id,name,owner_external_id,arr\nA-1,Acme,O-2,100\nA-2,Beta,O-1,50\n"
    )
    first = _sync(db_url, tmp_path)
    assert first.status == "ok", first.as_dict()
    assert _owner_of(db_url, "A-1") == "O-2"

    (tmp_path / "owners.csv").unlink()
    (tmp_path / "accounts.csv").write_text(
        "external_id,name,owner_external_id,arr\nA-1,Acme,O-22,120\nA-2,Beta,,50\n"
    )
    again = _sync(db_url, tmp_path)

    assert again.status == "partial"
    assert _skipped(again) == {(
        "accounts.csv:2",
        "unknown owner 'O-22' (owner_external_id); row imported without this link "
        "(an existing record keeps its link)",
    )}
    assert _owner_of(db_url, "A-1") == "O-2"  # kept, though the row's other values loaded
    with session_factory(db_url)() as s:
        assert s.scalar(select(Account.arr).where(Account.external_id == "A-1")) == 120
    assert _owner_of(db_url, "A-2") is None  # an empty cell still clears the link


def test_a_new_row_with_unknown_optional_references_is_imported_and_reported(
    db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "owners.csv").write_text(OWNERS + "O-3,Ana,O-9\n")
    (tmp_path / "accounts.csv").write_text(
        "external_id,name,owner_external_id\nA-1,Acme,O-1\nA-2,Beta,nobody\n"
    )
    (tmp_path / "invoices.csv").write_text(
        "external_id,account_external_id,subscription_external_id,amount,status\n"
        "I-1,A-1,S-404,10,paid\n"
    )
    report = _sync(db_url, tmp_path)

    tail = "row imported without this link (an existing record keeps its link)"
    assert _skipped(report) == {
        ("owners.csv:4", f"unknown manager 'O-9' (manager_external_id); {tail}"),
        ("accounts.csv:3", f"unknown owner 'nobody' (owner_external_id); {tail}"),
        ("invoices.csv:2", f"unknown subscription 'S-404' (subscription_external_id); {tail}"),
    }
    assert report.status == "partial"
    assert (_owner_of(db_url, "A-1"), _owner_of(db_url, "A-2")) == ("O-1", None)
    with session_factory(db_url)() as s:
        invoice = s.scalar(select(Invoice).where(Invoice.external_id == "I-1"))
        assert invoice is not None and invoice.subscription_id is None


# --- strict dates ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2026-6-1", "2026-06-1", "20260601", "2026-06", "1/6/2026",
                                   "2026-06-01T00:00", "2026-02-30", "June 1 2026"])
def test_a_date_that_is_not_yyyy_mm_dd_rejects_its_row_naming_column_and_value(
    tmp_path: Path, value: str
) -> None:
    (tmp_path / "accounts.csv").write_text(
        f"external_id,name,renewal_date\nA-1,Acme,{value}\nA-2,Beta,2026-06-01\n"
    )
    (batch,) = pull(tmp_path)[0]
    assert batch.rejected == [
        Rejection("accounts.csv:2", f"renewal_date: '{value}' is not a date (YYYY-MM-DD)")
    ]
    assert [(r["external_id"], r["renewal_date"]) for r in records(batch)] == [
        ("A-2", date(2026, 6, 1))
    ]


@pytest.mark.parametrize("value", ["2026-6-1", "2026-06-01T1:2:3", "20260601T010203",
                                   "2026-06", "2026-06-01T01:02:03 UTC", "yesterday"])
def test_a_date_time_outside_the_documented_forms_rejects_its_row(tmp_path: Path,
                                                                   value: str) -> None:
    (tmp_path / "tickets.csv").write_text(
        f"external_id,account_external_id,created_at\nT-1,A-1,{value}\n"
    )
    (batch,) = pull(tmp_path)[0]
    assert batch.rejected == [Rejection("tickets.csv:2", f"created_at: '{value}' is not a "
                                        "date-time (YYYY-MM-DDTHH:MM:SS, optionally with Z "
                                        "or +HH:MM)")]


@pytest.mark.parametrize(("value", "stored"), [
    ("2026-06-01", datetime(2026, 6, 1)),
    ("2026-06-01T10:20", datetime(2026, 6, 1, 10, 20)),
    ("2026-06-01 10:20:30.5", datetime(2026, 6, 1, 10, 20, 30, 500000)),
    ("2026-06-01T10:20:30Z", datetime(2026, 6, 1, 10, 20, 30)),
    ("2026-06-01T10:20:30+02:00", datetime(2026, 6, 1, 8, 20, 30)),
    ("2026-06-01T10:20:30-0130", datetime(2026, 6, 1, 11, 50, 30)),
])
def test_documented_date_time_forms_are_accepted(tmp_path: Path, value: str,
                                                 stored: datetime) -> None:
    (tmp_path / "tickets.csv").write_text(
        f"external_id,account_external_id,created_at\nT-1,A-1,{value}\n"
    )
    (batch,) = pull(tmp_path)[0]
    assert not batch.rejected
    assert records(batch)[0]["created_at"] == stored
