"""The ``files`` connector loses nothing silently: unknown optional references are
reported per row and never unlink stored data (issue 18)."""

from __future__ import annotations

import gzip
import tracemalloc
from datetime import date, datetime
from pathlib import Path

import pytest
from file_drops import pull, records, rejections
from rich.console import Console
from sqlalchemy import select

from connectors.files import FilesConnector
from connectors.files.sources import MAX_FIELD_CHARS, MAX_LINE_CHARS
from pulse.cli.terminal import print_sync_report
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
    assert [r.imported for r in again.skipped] == [True]
    console = Console(record=True, width=300)
    print_sync_report(console, again)
    shown = console.export_text()
    assert "skipped 0, stored without a link 1" in shown
    assert "stored without a link accounts.csv:2: unknown owner 'O-22'" in shown


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


# --- compressed and unknown files --------------------------------------------------------


def test_gzipped_csv_files_are_read_like_plain_ones(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "accounts.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write("\ufeffexternal_id,name,renewal_date\nA-1,Acme,2026-06-01\nA-2,Beta,2026-6-1\n")
    (batch,) = pull(tmp_path)[0]
    assert [r["external_id"] for r in records(batch)] == ["A-1"]
    assert batch.rejected == [Rejection("accounts.csv.gz:3",
                                        "renewal_date: '2026-6-1' is not a date (YYYY-MM-DD)")]


def test_a_damaged_gzip_file_is_rejected_whole(tmp_path: Path) -> None:
    data = gzip.compress(b"external_id,name\n" + b"A-1,Acme\n" * 1000)
    (tmp_path / "accounts.csv.gz").write_bytes(data[: len(data) // 2])
    (batch,) = pull(tmp_path)[0]
    (rejection,) = batch.rejected
    assert rejection.where == "accounts.csv.gz"
    assert rejection.reason.startswith("not a readable gzip file: ")
    assert len(batch) == 0


def test_gzip_and_plain_csv_of_one_entity_clash(tmp_path: Path) -> None:
    (tmp_path / "owners.csv").write_text("external_id,name\nO-1,Maya\n")
    (tmp_path / "owners.csv.gz").write_bytes(gzip.compress(b"external_id,name\nO-1,Maya\n"))
    (batch,) = pull(tmp_path)[0]
    assert batch.rejected == [Rejection("owners.csv, owners.csv.gz",
                                        "both owners.csv and owners.csv.gz present; keep only one")]


def test_files_of_an_entity_in_another_form_are_rejected_and_other_files_warned(
    tmp_path: Path,
) -> None:
    (tmp_path / "owners.csv").write_text("external_id,name\nO-1,Maya\n")
    (tmp_path / "accounts.csv.zip").write_bytes(b"PK\x03\x04")
    (tmp_path / "Owners.xlsx").write_bytes(b"PK\x03\x04")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    batches, connector = pull(tmp_path)
    forms = "save it as one of {0}.csv, {0}.csv.gz, {0}.parquet"
    assert rejections(batches) == {
        ("Owners.xlsx", "not a form Pulse reads, not imported; " + forms.format("owners")),
        ("accounts.csv.zip", "not a form Pulse reads, not imported; " + forms.format("accounts")),
    }
    assert [records(b) for b in batches if b.entity == "owners" and len(b)] == [
        [{"external_id": "O-1", "name": "Maya", "_where": "owners.csv:2"}]
    ]
    assert [w.split(":")[0] for w in connector.warnings] == ["notes.txt"]


def test_a_sync_with_an_unread_file_is_not_ok(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "accounts.csv.bz2").write_bytes(b"BZh9")
    report = _sync(db_url, tmp_path)
    assert report.status == "partial"
    assert [r.where for r in report.skipped] == ["accounts.csv.bz2"]


# --- line and value size limits ----------------------------------------------------------


def _peak_bytes(action: object) -> int:
    tracemalloc.start()
    try:
        assert callable(action)
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_huge_single_line_file_is_rejected_without_reading_it_into_memory(
    tmp_path: Path,
) -> None:
    size = 40 * 1024 * 1024
    with (tmp_path / "usage.csv").open("w") as fh:
        for _ in range(size // (1024 * 1024)):
            fh.write("x," * (512 * 1024))
    got: list[object] = []
    peak = _peak_bytes(lambda: got.extend(pull(tmp_path)[0]))
    assert got and got[0].rejected == [Rejection(  # type: ignore[attr-defined]
        "usage.csv", f"line 1 is longer than {MAX_LINE_CHARS:,} characters (the most a line "
        "may hold); is it really a CSV file?")]
    assert peak < 12 * 1024 * 1024, peak


def test_a_long_line_deep_in_a_file_names_its_line(tmp_path: Path) -> None:
    body = "".join(f"O-{i},Name {i}\n" for i in range(5))
    (tmp_path / "owners.csv").write_text(
        "external_id,name\n" + body + "O-9," + "y" * (MAX_LINE_CHARS + 1) + "\nO-10,Ten\n"
    )
    (batch,) = pull(tmp_path)[0]
    assert batch.rejected == [Rejection("owners.csv", f"line 7 is longer than "
                                        f"{MAX_LINE_CHARS:,} characters (the most a line may "
                                        "hold); is it really a CSV file?; no row of the file "
                                        "was imported")]


def test_a_line_of_exactly_the_limit_is_fine(tmp_path: Path) -> None:
    names = [f"custom.c{i}" for i in range(11)]
    cells = ["O-1", "Maya"] + ["v" * 100_000] * 10
    cells.append("w" * (MAX_LINE_CHARS - len(",".join(cells)) - 1))
    assert len(",".join(cells)) == MAX_LINE_CHARS
    (tmp_path / "accounts.csv").write_text(
        ",".join(["external_id", "name", *names]) + "\r\n" + ",".join(cells) + "\r\n"
    )
    (batch,) = pull(tmp_path)[0]
    assert not batch.rejected
    assert len(records(batch)[0]["custom"]["c10"]) == len(cells[-1])


def test_a_10_mb_value_spanning_lines_is_rejected_naming_the_row_line(tmp_path: Path) -> None:
    comment = "a long comment line\n" * (10 * 1024 * 1024 // 20)
    (tmp_path / "surveys.csv").write_text(
        "external_id,account_external_id,kind,score,responded_at,comment\n"
        "R-1,A-1,nps,9,2026-01-01T00:00:00Z,fine\n"
        f'R-2,A-1,nps,3,2026-01-01T00:00:00Z,"{comment}"\n'
    )
    (batch,) = pull(tmp_path)[0]
    assert batch.rejected == [Rejection(
        "surveys.csv", f"malformed CSV at line 3: a value is longer than {MAX_FIELD_CHARS:,} "
        "characters (the most a value may hold); no row of the file was imported")]


def test_a_row_of_many_multi_line_values_is_bounded_too(tmp_path: Path) -> None:
    value = '"' + ("a line of a long note\n" * 5_000) + '"'  # 110,000 characters each
    names = ",".join(f"custom.c{i}" for i in range(10))
    (tmp_path / "accounts.csv").write_text(
        f"external_id,name,{names}\nA-1,Acme{',x' * 10}\nA-2,Beta," + ",".join([value] * 10)
        + "\n"
    )
    (batch,) = pull(tmp_path)[0]
    (rejection,) = batch.rejected
    assert rejection.where == "accounts.csv"
    assert rejection.reason.startswith("line ")
    assert rejection.reason.endswith(
        f": a row spread over several lines by quoted line breaks is longer than "
        f"{MAX_LINE_CHARS:,} characters (the most a row may hold); is a quote left open?; "
        "no row of the file was imported")
    assert int(rejection.reason.split()[1].rstrip(":")) > 3
