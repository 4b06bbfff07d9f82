"""The warehouse source: a SQLite file stands in for the warehouse's product_usage_daily."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.base import get_connector
from connectors.warehouse import WarehouseConnector
from pulse.kernel.config import PulseConfig, SourcesConfig, WarehouseSourceConfig
from pulse.kernel.records import Batch
from pulse.services.sync import run_sync
from storage.db import session_factory
from storage.loader import load_batch
from storage.models import Account, Contact, SyncState, UsageDaily


def _config(**settings: str) -> PulseConfig:
    return PulseConfig(sources=SourcesConfig(warehouse=WarehouseSourceConfig(**settings)))


def _warehouse(path: Path, rows: list[tuple[object, ...]]) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS product_usage_daily (account_external_id TEXT, "
            "user_external_id TEXT, feature TEXT, day TEXT, events INTEGER, minutes REAL)"
        )
        conn.executemany("INSERT INTO product_usage_daily VALUES (?, ?, ?, ?, ?, ?)", rows)
    return f"sqlite:///{path}"


def _crm(db_url: str) -> None:
    """Salesforce accounts and contacts the warehouse rows refer to."""
    with session_factory(db_url)() as s:
        load_batch(s, "salesforce", Batch("accounts", [
            {"external_id": "001A", "name": "Acme", "domain": "acme.example"},
            {"external_id": "001B", "name": "Globex", "domain": "globex.example"},
        ]))
        load_batch(s, "salesforce", Batch("contacts", [
            {"external_id": "003a", "account_external_id": "001A", "email": "a@acme.example"},
            {"external_id": "003b", "account_external_id": "001B", "email": "b@globex.example"},
        ]))
        s.commit()


DAY1 = [
    ("001A", "003a", "reports", "2026-06-01", 5, 2.5),
    ("001A", "003a", "api", "2026-06-01", 9, 0.0),
    ("001B", "003b", "reports", "2026-06-01", 1, 1.0),
    ("001A", "003a", "reports", "2026-06-02", 3, 1.5),
]


def _usage(db_url: str) -> list[tuple[str, str, date, int, str, str]]:
    with session_factory(db_url)() as s:
        rows = s.execute(
            select(Account.external_id, UsageDaily.feature, UsageDaily.day, UsageDaily.events,
                   UsageDaily.source, Contact.source)
            .join(Account, Account.id == UsageDaily.account_id)
            .join(Contact, Contact.id == UsageDaily.user_id)
            .order_by(UsageDaily.day, Account.external_id, UsageDaily.feature)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_usage_resolves_against_crm_accounts_and_second_run_loads_only_new_days(
    db_url: str, tmp_path: Path
) -> None:
    _crm(db_url)
    wh_path = tmp_path / "warehouse.db"
    wh = _warehouse(wh_path, DAY1)
    cfg = _config()
    first = run_sync(db_url, cfg, "warehouse",
                     connector=WarehouseConnector(cfg, url=wh, chunk_rows=2))
    assert first.status == "ok", first.as_dict()
    assert (first.totals.fetched, first.totals.inserted) == (4, 4)
    assert first.cursor == "2026-06-02"
    usage = _usage(db_url)
    assert len(usage) == 4
    # stored as warehouse usage, pointing at the Salesforce account and contact
    assert {(r[4], r[5]) for r in usage} == {("warehouse", "salesforce")}
    with session_factory(db_url)() as s:
        assert s.get(SyncState, "warehouse").cursor == "2026-06-02"  # type: ignore[union-attr]
        assert s.scalar(select(func.count()).select_from(Account)) == 2  # nothing duplicated

    _warehouse(wh_path, [
        ("001A", "003a", "reports", "2026-06-03", 7, 3.0),
        ("001B", "003b", "api", "2026-06-04", 2, 0.5),
    ])
    second = run_sync(db_url, cfg, "warehouse", connector=WarehouseConnector(cfg, url=wh))
    assert second.status == "ok", second.as_dict()
    # the cursor day (06-02) is read again and found unchanged; only new days are inserted
    assert (second.totals.fetched, second.totals.inserted, second.totals.unchanged) == (3, 2, 1)
    assert second.cursor == "2026-06-04"
    assert len(_usage(db_url)) == 6

    again = run_sync(db_url, cfg, "warehouse", full=True,
                     connector=WarehouseConnector(cfg, url=wh))
    assert (again.totals.inserted, again.totals.updated, again.totals.unchanged) == (0, 0, 6)


def test_bad_rows_and_unknown_accounts_are_skipped_with_their_row(
    db_url: str, tmp_path: Path
) -> None:
    _crm(db_url)
    wh = _warehouse(tmp_path / "wh.db", [
        ("001A", "003a", "reports", "2026-06-01", 5, 2.5),
        ("001Z", "003a", "reports", "2026-06-01", 5, 2.5),  # not a Salesforce account
        ("001A", "003a", "reports", "not a day", 1, 1.0),
        ("001A", "", "reports", "2026-06-01", 1, 1.0),
        ("001B", "003b", "api", "2026-06-01", -3, 1.0),
    ])
    cfg = _config()
    report = run_sync(db_url, cfg, "warehouse", connector=WarehouseConnector(cfg, url=wh))
    assert report.status == "partial"
    assert report.totals.inserted == 1
    skipped = {(r.where, r.reason) for r in report.skipped}
    assert ("warehouse row 2", "unknown account '001Z'") in skipped
    assert ("warehouse row 3", "day: not a date") in skipped
    assert ("warehouse row 4", "missing user_external_id") in skipped
    assert ("warehouse row 5", "events: below 0") in skipped


def test_bad_query_fails_with_a_clear_error(db_url: str, tmp_path: Path) -> None:
    wh = _warehouse(tmp_path / "wh.db", DAY1)
    cfg = _config(query="SELECT * FROM product_usage WHERE day >= :since")
    report = run_sync(db_url, cfg, "warehouse", connector=WarehouseConnector(cfg, url=wh))
    assert report.status == "failed"
    assert len(report.errors) == 1
    assert "warehouse query failed: no such table: product_usage" in report.errors[0]

    cfg = _config(query="SELECT account_external_id, day FROM product_usage_daily")
    report = run_sync(db_url, cfg, "warehouse", connector=WarehouseConnector(cfg, url=wh))
    assert report.status == "failed"
    assert "missing: user_external_id, feature" in report.errors[0]


def test_missing_url_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_WAREHOUSE", raising=False)
    connector = get_connector("warehouse")(_config(url_env="MY_WAREHOUSE"))
    with pytest.raises(RuntimeError, match="environment variable MY_WAREHOUSE is not set"):
        list(connector.pull(None))


def test_url_from_env_and_since_bound_from_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", _warehouse(tmp_path / "wh.db", DAY1))
    connector = WarehouseConnector(_config())
    batches = list(connector.pull("2026-06-02"))
    assert len(batches) == 1
    assert batches[0].ref_source == "salesforce"
    assert batches[0].cursor == "2026-06-02"
    frame = batches[0].records
    assert list(frame["day"]) == [date(2026, 6, 2)]  # type: ignore[index]
    assert list(frame["_where"]) == ["warehouse row 1"]  # type: ignore[index]
    assert len(list(connector.pull("2026-06-02", full=True))[0]) == 4
