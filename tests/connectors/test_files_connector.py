"""The ``files`` connector: CSV/Parquet drops become typed batches or precise rejections.

No database here: these tests pin what the connector hands to the loader (records, types,
``_where``) and what it tells the person who made the files (``file:line`` and reason).
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from file_drops import BROKEN, VALID, by_entity, copy_valid, pull, records, rejections

import connectors.files.connector as files_connector
import pulse.kernel.records as kernel_records
from connectors.base import get_connector
from connectors.files import FILE_SPECS, FilesConnector
from pulse.kernel.config import parse_config
from pulse.kernel.records import ENTITY_ORDER, Batch, Rejection

DOCS = Path(__file__).resolve().parents[2] / "docs" / "import-format.md"

pytestmark = pytest.mark.filterwarnings("error")  # pandas deprecations must not slip in


# --- the valid dataset -----------------------------------------------------------------


def test_valid_dataset_yields_every_entity_in_dependency_order() -> None:
    batches, connector = pull(VALID)

    assert [b.entity for b in batches] == list(ENTITY_ORDER)
    assert {b.entity: len(b) for b in batches} == {
        "owners": 3, "accounts": 5, "contacts": 12, "usage": 10, "integrations": 3,
        "subscriptions": 2, "invoices": 3, "tickets": 3, "surveys": 3, "opportunities": 2,
        "arr_history": 6,
    }
    assert rejections(batches) == set()
    assert connector.warnings == []


def test_valid_records_are_typed_and_normalised() -> None:
    got = by_entity(pull(VALID)[0])
    owners = {r["external_id"]: r for r in records(got["owners"])}
    accounts = {r["external_id"]: r for r in records(got["accounts"])}
    contacts = {r["external_id"]: r for r in records(got["contacts"])}

    assert owners["O-1"] == {
        "external_id": "O-1", "name": "Maya Lindqvist", "email": "maya@pulse.example",
        "crm_owner_id": "005A1", "slack_user_id": "U01MAYA", "team": "Enterprise",
        "is_manager": True, "manager_external_id": None, "_where": "owners.csv:2",
    }
    assert owners["O-3"]["crm_owner_id"] is None  # empty cell -> None
    assert owners["O-3"]["is_manager"] is False  # "no"

    a1 = accounts["A-1"]
    assert a1["arr"] == 120000.0 and isinstance(a1["arr"], float)
    assert a1["licensed_seats"] == 50 and type(a1["licensed_seats"]) is int
    assert a1["contract_start"] == date(2024, 1, 15)
    assert a1["custom"] == {"product_line": "Analytics", "csm_notes": "Expansion call booked"}
    assert accounts["A-2"]["custom"] == {"product_line": "Core"}  # empty custom cells left out
    assert accounts["A-3"]["arr"] is None and accounts["A-3"]["tier"] is None
    assert accounts["A-3"]["custom"] == {}
    assert accounts["A-4"]["domain"] == "dune.example"
    assert accounts["A-4"]["churned_on"] == date(2025, 3, 1)
    assert [accounts[k]["do_not_contact"] for k in sorted(accounts)] == [
        False, False, False, True, True
    ]
    assert accounts["A-5"]["name"] == "Evergreen Foods, Inc."  # quoted comma
    assert accounts["A-5"]["lifecycle"] == "paid"  # empty -> storage default
    assert accounts["A-5"]["owner_external_id"] is None

    # datetimes: Z, offsets and naive all end up naive UTC
    assert contacts["U-1"]["last_seen_at"] == datetime(2025, 5, 1, 9, 30)
    assert contacts["U-2"]["last_seen_at"] == datetime(2025, 5, 1, 8, 0)
    assert contacts["U-3"]["last_seen_at"] == datetime(2025, 4, 28, 16, 45)
    assert contacts["U-7"]["last_seen_at"] == datetime(2025, 4, 29, 23, 20)
    assert all(
        r["last_seen_at"] is None or r["last_seen_at"].tzinfo is None for r in contacts.values()
    )
    assert contacts["U-6"]["role"] == "member"  # "Member": enums are case-insensitive
    assert contacts["U-8"]["role"] == "member"  # empty -> default
    assert contacts["U-6"]["is_main_contact"] is False
    assert contacts["U-4"]["is_main_contact"] is True  # "yes"

    subs = {r["external_id"]: r for r in records(got["subscriptions"])}
    assert subs["S-2"]["status"] == "canceled"
    invoices = {r["external_id"]: r for r in records(got["invoices"])}
    assert [invoices[k]["currency"] for k in ("I-1", "I-2", "I-3")] == ["usd", "usd", "eur"]
    assert invoices["I-3"]["subscription_external_id"] is None

    tickets = {r["external_id"]: r for r in records(got["tickets"])}
    assert tickets["T-2"]["subject"] == "SSO login loop\nafter IdP change"
    assert tickets["T-2"]["priority"] == "urgent"
    assert tickets["T-2"]["created_at"] == datetime(2025, 4, 29, 12, 0)
    assert tickets["T-3"]["priority"] == "normal" and tickets["T-3"]["status"] == "open"
    # T-2's subject spans two physical lines, so T-3 starts on line 5, not 4
    assert tickets["T-3"]["_where"] == "tickets.csv:5"

    surveys = {r["external_id"]: r for r in records(got["surveys"])}
    assert surveys["R-3"]["score"] == 5 and surveys["R-3"]["contact_external_id"] is None


def test_usage_and_integrations_are_dataframes_with_full_columns() -> None:
    got = by_entity(pull(VALID)[0])
    usage = got["usage"].records
    assert isinstance(usage, pd.DataFrame)
    assert list(usage.columns) == [
        "account_external_id", "user_external_id", "feature", "day", "events", "minutes",
        "_where",
    ]
    assert usage["events"].dtype == "int64" and usage["minutes"].dtype == "float64"
    assert pd.api.types.is_datetime64_dtype(usage["day"])  # no Python object per row
    first = usage.iloc[0].to_dict()
    assert first == {
        "account_external_id": "A-1", "user_external_id": "U-1", "feature": "reports",
        "day": pd.Timestamp(2025, 4, 28), "events": 12, "minutes": 35.5, "_where": "usage.csv:2",
    }
    empty_cells = usage.set_index("_where")
    assert empty_cells.loc["usage.csv:7", "minutes"] == 0.0  # empty -> default 0
    assert empty_cells.loc["usage.csv:11", "events"] == 0

    integrations = got["integrations"].records
    assert isinstance(integrations, pd.DataFrame)
    assert integrations["failures"].tolist() == [0, 6, 1]


def test_every_dict_record_and_frame_row_carries_where() -> None:
    for batch in pull(VALID)[0]:
        wheres = [r["_where"] for r in records(batch)]
        assert all(re.fullmatch(rf"{batch.entity}\.csv:\d+", w) for w in wheres), batch.entity
        assert len(set(wheres)) == len(wheres)


def test_columns_absent_from_a_file_are_absent_from_its_records() -> None:
    """So an upsert leaves what the file does not mention untouched."""
    owners = by_entity(pull(BROKEN)[0])["owners"]
    assert set(records(owners)[0]) == {"external_id", "name", "email", "is_manager", "_where"}


# --- Parquet ---------------------------------------------------------------------------


def _csv_to_parquet(src: Path, dst: Path) -> None:
    dst.mkdir()
    for csv_file in src.glob("*.csv"):
        frame = pd.read_csv(csv_file, dtype=str, keep_default_na=False)
        frame.to_parquet(dst / f"{csv_file.stem}.parquet", index=False)


def _strip_where(batches: list[Batch]) -> dict[str, list[dict[str, Any]]]:
    return {
        b.entity: [{k: v for k, v in r.items() if k != "_where"} for r in records(b)]
        for b in batches
    }


def test_parquet_files_give_the_same_records_as_csv(tmp_path: Path) -> None:
    _csv_to_parquet(VALID, tmp_path / "pq")
    from_csv, _ = pull(VALID)
    from_parquet, connector = pull(tmp_path / "pq")

    assert rejections(from_parquet) == set()
    assert connector.warnings == []
    assert _strip_where(from_parquet) == _strip_where(from_csv)
    tickets = by_entity(from_parquet)["tickets"]
    assert [r["_where"] for r in records(tickets)] == [
        "tickets.parquet:1", "tickets.parquet:2", "tickets.parquet:3"  # Parquet: row numbers
    ]


def test_typed_parquet_columns_are_accepted(tmp_path: Path) -> None:
    table = pa.table({
        "account_external_id": ["A-1", "A-1"],
        "user_external_id": ["U-1", "U-2"],
        "feature": pa.array(["reports", "api"]).dictionary_encode(),
        "day": pa.array([date(2025, 4, 28), date(2025, 4, 29)], pa.date32()),
        "events": pa.array([12, None], pa.int64()),
        "minutes": pa.array([1.5, 2.0], pa.float64()),
    })
    pq.write_table(table, tmp_path / "usage.parquet")
    pq.write_table(pa.table({
        "external_id": ["T-1"],
        "account_external_id": ["A-1"],
        "created_at": pa.array([datetime(2025, 4, 20, 8, 15)], pa.timestamp("us", tz="UTC")),
        "solved_at": pa.array([None], pa.timestamp("ns")),
    }), tmp_path / "tickets.parquet")

    got = by_entity(pull(tmp_path)[0])
    usage = got["usage"].records
    assert usage["day"].dt.date.tolist() == [date(2025, 4, 28), date(2025, 4, 29)]
    assert usage["events"].tolist() == [12, 0]
    assert usage["feature"].tolist() == ["reports", "api"]
    assert records(got["tickets"]) == [{
        "external_id": "T-1", "account_external_id": "A-1",
        "created_at": datetime(2025, 4, 20, 8, 15), "solved_at": None,
        "_where": "tickets.parquet:1",
    }]


def test_typed_parquet_numbers_and_dates_are_still_checked(tmp_path: Path) -> None:
    pq.write_table(pa.table({
        "account_external_id": ["A-1", "A-1", "A-1", "A-1"],
        "user_external_id": ["U-1", "U-1", "U-1", "U-1"],
        "feature": ["reports", "api", "alerts", "search"],
        "day": pa.array([date(2025, 4, 28), None, date(2025, 4, 28), date(2025, 4, 28)]),
        "events": pa.array([-3, 1, 2, 4], pa.int64()),
        "minutes": pa.array([1.0, 1.0, float("nan"), 2.5], pa.float64()),
    }), tmp_path / "usage.parquet")

    usage = by_entity(pull(tmp_path)[0])["usage"]
    assert usage.records["feature"].tolist() == ["search"]
    assert [(r.where, r.reason) for r in usage.rejected] == [
        ("usage.parquet:1", "events: -3.0 is below 0"),
        ("usage.parquet:2", "day is empty (required)"),
        ("usage.parquet:3", "minutes: 'nan' is not a number"),
    ]


def test_csv_and_parquet_for_the_same_entity_is_an_error(tmp_path: Path) -> None:
    drop = copy_valid(tmp_path)
    pd.read_csv(drop / "owners.csv", dtype=str).to_parquet(drop / "owners.parquet")

    got = by_entity(pull(drop)[0])
    assert len(got["owners"]) == 0
    assert got["owners"].rejected == [Rejection(
        "owners.csv, owners.parquet", "both owners.csv and owners.parquet present; keep only one"
    )]
    assert len(got["accounts"]) == 5


def test_unreadable_parquet_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "usage.parquet").write_bytes(b"PAR1 but not really parquet")
    batches, _ = pull(tmp_path)
    assert [b.entity for b in batches] == ["usage"]
    (rejection,) = batches[0].rejected
    assert rejection.where == "usage.parquet"
    assert rejection.reason.startswith("not a readable Parquet file")


# --- cursor ----------------------------------------------------------------------------


def _set_mtime(path: Path, seconds: float) -> None:
    os.utime(path, (seconds, seconds))


def test_cursor_is_the_newest_mtime_and_only_on_the_last_batch(tmp_path: Path) -> None:
    drop = copy_valid(tmp_path)
    for i, p in enumerate(sorted(drop.iterdir())):
        _set_mtime(p, 1_700_000_000 + i)
    _set_mtime(drop / "owners.csv", 1_700_000_100.5)

    batches, _ = pull(drop)
    assert [b.cursor for b in batches[:-1]] == [None] * (len(batches) - 1)
    assert batches[-1].cursor == "2023-11-14T22:15:00.500000+00:00"


def test_cursor_skips_unchanged_files(tmp_path: Path) -> None:
    drop = copy_valid(tmp_path)
    for p in drop.iterdir():
        _set_mtime(p, 1_700_000_000)
    first, _ = pull(drop)
    cursor = first[-1].cursor
    assert cursor is not None

    assert pull(drop, cursor)[0] == []  # nothing changed

    _set_mtime(drop / "accounts.csv", 1_700_000_060)
    again, _ = pull(drop, cursor)
    assert [(b.entity, len(b)) for b in again] == [("accounts", 5)]
    assert again[-1].cursor is not None and again[-1].cursor > cursor

    assert [b.entity for b in pull(drop, cursor, full=True)[0]] == list(ENTITY_ORDER)


def test_unreadable_cursor_reads_everything_with_a_warning(tmp_path: Path) -> None:
    drop = copy_valid(tmp_path)
    batches, connector = pull(drop, "page-token-42")
    assert len(batches) == len(ENTITY_ORDER)
    assert connector.warnings == ["ignoring unreadable cursor 'page-token-42': reading every file"]


# --- large files -----------------------------------------------------------------------


def test_large_files_stream_in_chunks_and_duplicates_are_caught_across_chunks(
    tmp_path: Path,
) -> None:
    rows = [f"A-1,U-{i},reports,2025-04-{1 + i % 28:02d},{i},1.5" for i in range(9)]
    rows.append("A-1,U-2,reports,2025-04-03,99,0")  # same key as row 3 (line 4)
    (tmp_path / "usage.csv").write_text(
        "account_external_id,user_external_id,feature,day,events,minutes\n"
        + "\n".join(rows) + "\n"
    )
    batches, _ = pull(tmp_path, chunk_rows=4)

    assert [len(b) for b in batches] == [4, 4, 1]  # the last slice: 1 kept, 1 duplicate
    assert all(isinstance(b.records, pd.DataFrame) for b in batches)
    assert [b.cursor is not None for b in batches] == [False, False, True]
    assert batches[-1].rejected == [Rejection(
        "usage.csv:11", "duplicate row for the same account_external_id, user_external_id, "
        "feature, day (first on line 4)"
    )]
    assert pd.concat([b.records for b in batches])["_where"].tolist() == [
        f"usage.csv:{n}" for n in range(2, 11)
    ]


def test_rejections_per_file_are_capped_with_a_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files_connector, "MAX_LISTED_REJECTIONS", 3)
    (tmp_path / "usage.csv").write_text(
        "account_external_id,user_external_id,feature,day\n"
        + "".join(f"A-1,U-1,f{i},someday\n" for i in range(5))
    )
    batches, _ = pull(tmp_path, chunk_rows=2)
    listed = [r for b in batches for r in b.rejected]
    assert [r.where for r in listed] == ["usage.csv:2", "usage.csv:3", "usage.csv:4", "usage.csv"]
    assert listed[-1].reason == "2 more rejected row(s) not listed (only the first 3 are)"


# --- wiring and documentation ----------------------------------------------------------


def test_connector_is_registered_and_reads_the_configured_path(tmp_path: Path) -> None:
    shutil.copy(VALID / "owners.csv", tmp_path / "owners.csv")
    config = parse_config({"sources": {"files": {"path": str(tmp_path)}}})
    connector = get_connector("files")(config)
    assert isinstance(connector, FilesConnector)
    assert [b.entity for b in connector.pull(None)] == ["owners"]


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="sources.files.path"):
        pull(tmp_path / "nope")


def _contract_keys() -> dict[str, set[str]]:
    """Record keys per entity, read from the table in pulse/kernel/records.py's docstring."""
    doc = kernel_records.__doc__ or ""
    body = re.split(r"^=+ +=+$", doc, flags=re.MULTILINE)[2]  # between 2nd and 3rd rule
    keys: dict[str, set[str]] = {}
    current = ""
    for line in body.splitlines():
        match = re.match(r"``(\w+)``\s+(.*)", line)
        if match:
            current, line = match.group(1), match.group(2)
            keys[current] = set()
        if current and line.strip():
            keys[current] |= {k.strip() for k in line.split(",") if k.strip()}
    return keys


def test_file_columns_match_the_connector_contract() -> None:
    contract = _contract_keys()
    assert set(contract) == set(ENTITY_ORDER)
    for entity, spec in FILE_SPECS.items():
        expected = contract[entity] - {"custom"}
        assert {f.name for f in spec.fields} == expected, entity


def test_import_format_doc_covers_every_column() -> None:
    doc = DOCS.read_text()
    sections = re.split(r"^## ", doc, flags=re.MULTILINE)
    for entity, spec in FILE_SPECS.items():
        (section,) = [s for s in sections if s.startswith(f"`{entity}.csv`")]
        for f in spec.fields:
            assert f"`{f.name}`" in section, f"{entity}.{f.name} undocumented"
            if f.required:
                assert re.search(rf"`{f.name}`[^\n]*\*\*required\*\*", section), f.name
        for choice in (c for f in spec.fields for c in f.choices):
            assert f"`{choice}`" in section, f"{entity}: value {choice} undocumented"
