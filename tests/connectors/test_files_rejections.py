"""The ``files`` connector's rejections: bad rows, bad columns and unreadable files, each
named to the person who made them (``file:line`` and reason), while every good row loads.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from file_drops import BROKEN, VALID, by_entity, copy_valid, pull, records, rejections

from pulse.kernel.records import Rejection

pytestmark = pytest.mark.filterwarnings("error")  # pandas deprecations must not slip in


# --- the broken dataset ----------------------------------------------------------------


def test_broken_dataset_gives_exactly_the_expected_rejections() -> None:
    batches, _ = pull(BROKEN)
    assert rejections(batches) == {
        ("accounts.csv:3", "renewal_date: '2025-13-01' is not a date (YYYY-MM-DD)"),
        ("accounts.csv:4", "lifecycle: 'active' is not one of trial, paid, churned"),
        ("accounts.csv:5", "duplicate external_id 'A-1' (first on line 2)"),
        # line 6 is blank: skipped, but still counted
        ("accounts.csv:7", "licensed_seats: 'ten' is not a whole number"),
        ("accounts.csv:8", "name is empty (required)"),
        ("contacts.csv", "missing required column(s): email"),
        ("usage.csv:3", "day: '28/04/2025' is not a date (YYYY-MM-DD)"),
        ("usage.csv:4", "duplicate row for the same account_external_id, user_external_id, "
                        "feature, day (first on line 2)"),
        ("usage.csv:5", "events: -4 is below 0"),
        # T-1's subject spans lines 2-4
        ("tickets.csv:5", "priority: 'critical' is not one of low, normal, high, urgent"),
        ("tickets.csv:6", "created_at: 'yesterday' is not a date-time "
                          "(YYYY-MM-DDTHH:MM:SS, optionally with Z or +HH:MM)"),
        ("surveys.csv:2", "score: 11 is outside 0-10 for nps"),
    }


def test_broken_dataset_still_yields_its_valid_rows() -> None:
    got = by_entity(pull(BROKEN)[0])
    kept = {e: [r.get("external_id", r["_where"]) for r in records(b)] for e, b in got.items()}
    assert kept == {
        "owners": ["O-1", "O-2"],
        "accounts": ["A-1", "A-6"],
        "contacts": [],
        "usage": ["usage.csv:2", "usage.csv:6"],
        "tickets": ["T-1"],
        "surveys": ["R-2"],
    }
    assert records(got["accounts"])[1]["lifecycle"] == "trial"  # "TRIAL"
    assert records(got["accounts"])[1]["_where"] == "accounts.csv:9"


def test_a_row_with_several_problems_is_rejected_once_with_all_reasons(tmp_path: Path) -> None:
    (tmp_path / "accounts.csv").write_text(
        "external_id,name,arr,lifecycle,do_not_contact\nA-1,,lots,gone,maybe\n"
    )
    (batch,) = pull(tmp_path)[0]
    assert len(batch) == 0
    assert batch.rejected == [Rejection("accounts.csv:2", "; ".join([
        "name is empty (required)",
        "arr: 'lots' is not a number",
        "lifecycle: 'gone' is not one of trial, paid, churned",
        "do_not_contact: 'maybe' is not true/false, 1/0 or yes/no",
    ]))]


@pytest.mark.parametrize(
    ("entity", "header", "row", "reason"),
    [
        ("contacts", "external_id,account_external_id,email", "U-1,A-1,not-an-email",
         "email: 'not-an-email' is not an email address"),
        ("invoices", "external_id,account_external_id,amount,status,currency",
         "I-1,A-1,10,paid,dollars", "currency: 'dollars' is not a 3-letter currency code"),
        ("integrations", "account_external_id,integration,day,runs,failures",
         "A-1,slack,2025-01-01,2,3", "failures (3) exceed runs (2)"),
        ("surveys", "external_id,account_external_id,kind,score,responded_at",
         "R-1,A-1,csat,0,2025-01-01T00:00:00Z", "score: 0 is outside 1-5 for csat"),
        ("accounts", "external_id,name,licensed_seats", "A-1,Acme,2.5",
         "licensed_seats: '2.5' is not a whole number"),
        ("accounts", "external_id,name,licensed_seats", "A-1,Acme,99999999999",
         "licensed_seats: 99999999999 is too large"),
        ("accounts", "external_id,name,tier", "A-1,Acme," + "x" * 41,
         "tier is longer than 40 characters"),
        ("owners", "external_id,name", "O-1,Maya,extra",
         "has 3 values but the header has 2 columns"),
    ],
)
def test_row_level_checks(tmp_path: Path, entity: str, header: str, row: str,
                          reason: str) -> None:
    (tmp_path / f"{entity}.csv").write_text(f"{header}\n{row}\n")
    (batch,) = pull(tmp_path)[0]
    assert len(batch) == 0
    assert batch.rejected == [Rejection(f"{entity}.csv:2", reason)]


def test_short_rows_and_trailing_empty_values_are_tolerated(tmp_path: Path) -> None:
    """Spreadsheet exports trim or pad trailing empties; neither shifts any column."""
    (tmp_path / "owners.csv").write_text("external_id,name,team\nO-1,Maya\nO-2,Tom,CS,,\n")
    (batch,) = pull(tmp_path)[0]
    assert batch.rejected == []
    assert [(r["external_id"], r["team"]) for r in records(batch)] == [("O-1", None),
                                                                       ("O-2", "CS")]


# --- columns and warnings --------------------------------------------------------------


def test_unknown_columns_are_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "owners.csv").write_text(
        "External_ID, name ,favourite_colour,,custom.x\nO-1,Maya,teal,,1\n"
    )
    with caplog.at_level(logging.WARNING, logger="pulse.connectors.files"):
        (batch,), connector = pull(tmp_path)

    message = ("owners.csv: ignoring unknown column(s): favourite_colour, (unnamed column 4), "
               "custom.x")
    assert connector.warnings == [message]
    assert [r.getMessage() for r in caplog.records if r.name == "pulse.connectors.files"] == [
        message
    ]
    assert records(batch) == [{"external_id": "O-1", "name": "Maya", "_where": "owners.csv:2"}]


def test_duplicate_column_names_reject_the_file(tmp_path: Path) -> None:
    (tmp_path / "owners.csv").write_text("external_id,name,Name\nO-1,Maya,Maya L\n")
    (batch,) = pull(tmp_path)[0]
    assert batch.rejected == [Rejection("owners.csv", "duplicate column(s): name")]


def test_stray_import_like_files_are_warned_about(tmp_path: Path) -> None:
    (tmp_path / "account.csv").write_text("external_id,name\nA-1,Acme\n")
    (tmp_path / "README.txt").write_text("not data")
    batches, connector = pull(tmp_path)
    assert batches == []
    assert sorted(w.split(":")[0] for w in connector.warnings) == ["README.txt", "account.csv"]
    assert any(w.startswith("account.csv: not an import file name, ignored")
               for w in connector.warnings)


def test_semicolon_separated_files_are_detected(tmp_path: Path) -> None:
    (tmp_path / "owners.csv").write_text("external_id;name;team\nO-1;Maya;CS, EMEA\n")
    (batch,) = pull(tmp_path)[0]
    assert records(batch)[0]["team"] == "CS, EMEA"


def test_a_usage_only_drop_is_legal(tmp_path: Path) -> None:
    shutil.copy(VALID / "usage.csv", tmp_path / "usage.csv")
    batches, _ = pull(tmp_path)
    assert [(b.entity, len(b)) for b in batches] == [("usage", 10)]


# --- unreadable files ------------------------------------------------------------------


def test_garbage_binary_named_accounts_csv_is_rejected_and_the_rest_loads(
    tmp_path: Path,
) -> None:
    drop = copy_valid(tmp_path)
    (drop / "accounts.csv").write_bytes(bytes(range(256)) * 8)

    got = by_entity(pull(drop)[0])
    assert len(got["accounts"]) == 0
    assert got["accounts"].rejected == [Rejection(
        "accounts.csv", "not a CSV text file: binary data (NUL byte) on line 1"
    )]
    assert len(got["owners"]) == 3 and len(got["contacts"]) == 12


def test_non_utf8_text_is_rejected_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "accounts.csv").write_bytes(
        "external_id,name\nA-1,Acme\nA-2,Caf\u00e9 Noir\n".encode("latin-1")
    )
    (batch,) = pull(tmp_path)[0]
    (rejection,) = batch.rejected
    assert rejection.where == "accounts.csv"
    assert rejection.reason.startswith("not valid UTF-8 text on line 3 (invalid continuation")
    assert len(batch) == 0  # nothing half-imported


def test_spreadsheet_saved_as_csv_is_named(tmp_path: Path) -> None:
    (tmp_path / "accounts.csv").write_bytes(b"PK\x03\x04" + b"\x14\x00" * 50)
    (batch,) = pull(tmp_path)[0]
    assert batch.rejected == [Rejection(
        "accounts.csv", "not a CSV text file: it looks like a ZIP archive or Excel .xlsx "
        "workbook; export it as 'CSV UTF-8' (comma delimited)"
    )]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "owners.csv").write_bytes("\ufeffexternal_id,name\nO-1,Zoë\n".encode())
    (batch,) = pull(tmp_path)[0]
    assert records(batch)[0]["name"] == "Zoë"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('external_id,name\nO-1,"Maya\nO-2,Tom\n',
         "malformed CSV at line 2: unexpected end of data; no row of the file was imported"),
        ('external_id,name\nO-1,Maya\nO-2,"Tom"my\n',
         "malformed CSV at line 3: ',' expected after '\"'; no row of the file was imported"),
        ("", "file is empty: the first line must name the columns"),
    ],
)
def test_malformed_csv_rejects_the_whole_file(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / "owners.csv").write_text(text)
    shutil.copy(VALID / "accounts.csv", tmp_path / "accounts.csv")
    got = by_entity(pull(tmp_path)[0])
    assert got["owners"].rejected == [Rejection("owners.csv", reason)]
    assert len(got["owners"]) == 0
    assert len(got["accounts"]) == 5


def test_header_only_file_gives_an_empty_batch(tmp_path: Path) -> None:
    (tmp_path / "owners.csv").write_text("external_id,name\n")
    (batch,) = pull(tmp_path)[0]
    assert len(batch) == 0 and batch.rejected == []
