"""A first usage load into an empty PostgreSQL table runs without the table's indexes and
always ends with them built again (PostgreSQL only: SQLite loads keep their indexes)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import select, text

from connectors.base import Connector
from pulse.kernel.config import PulseConfig
from pulse.kernel.records import Batch
from pulse.services.sync import run_sync
from storage.bulk import BRIN_INDEX, PRIMARY_KEY, drop_usage_indexes, missing_usage_indexes
from storage.db import get_engine, session_factory
from storage.models import Base, SyncState, UsageDaily


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url: str = request.getfixturevalue("pg_database")
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield url
    with get_engine(url).begin() as conn:  # the shared database keeps its indexes
        assert missing_usage_indexes(conn) == []


def _usage(days: range, events: int = 1, feature: str | None = "reports") -> pd.DataFrame:
    """Two users' rows on ``days`` of November 2026 (calls with disjoint day ranges give
    distinct keys)."""
    rows = [
        {"account_external_id": "a1", "user_external_id": user, "feature": feature,
         "day": pd.Timestamp(2026, 11, day), "events": events, "minutes": 1.0}
        for day in days for user in ("u1", "u2")
    ]
    return pd.DataFrame(rows)


class _Slices(Connector):
    """People, then the usage slices it was given, vouched distinct across the pull."""

    name = "slices"

    def __init__(self, config: PulseConfig, slices: list[pd.DataFrame]) -> None:
        super().__init__(config)
        self.slices = slices

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        yield Batch("accounts", [{"external_id": "a1", "name": "Acme"}], cursor="people")
        yield Batch("contacts", [
            {"external_id": u, "account_external_id": "a1", "email": f"{u}@acme.example"}
            for u in ("u1", "u2")
        ])
        for n, frame in enumerate(self.slices, start=1):
            yield Batch("usage", frame, cursor=f"usage-{n}", distinct_keys=True)


def _missing(url: str) -> list[str]:
    with get_engine(url).connect() as conn:
        return missing_usage_indexes(conn)


def _rows(url: str) -> list[tuple[int, int]]:
    """(day of month, events) of every stored usage row, in key order."""
    with session_factory(url)() as s:
        return [(r.day.day, r.events) for r in s.execute(
            select(UsageDaily.day, UsageDaily.events)
            .order_by(UsageDaily.day, UsageDaily.user_id)
        )]


def test_a_first_large_usage_load_stores_every_row_and_ends_with_the_indexes_built(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = PulseConfig()
    slices = [_usage(range(1, 6)), _usage(range(6, 11)), _usage(range(11, 16))]
    with caplog.at_level(logging.INFO, logger="pulse.services.sync"):
        report = run_sync(pg_url, cfg, "slices", connector=_Slices(cfg, slices),
                          bulk_min_rows=10)

    assert report.status == "ok", report.as_dict()
    assert "usage table empty: loading without its indexes" in caplog.text
    assert report.by_entity["usage"].inserted == 30
    assert len(_rows(pg_url)) == 30
    assert _missing(pg_url) == []
    # with the key back, a second run finds every row stored and changes nothing
    again = run_sync(pg_url, cfg, "slices", full=True, connector=_Slices(cfg, slices),
                     bulk_min_rows=10)
    assert again.status == "ok"
    assert (again.by_entity["usage"].inserted, again.by_entity["usage"].unchanged) == (0, 30)


def test_a_load_into_a_table_holding_usage_keeps_its_indexes_and_updates_rows(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = PulseConfig()
    run_sync(pg_url, cfg, "slices", connector=_Slices(cfg, [_usage(range(1, 3))]),
             bulk_min_rows=1_000)
    with caplog.at_level(logging.INFO, logger="pulse.services.sync"):
        report = run_sync(pg_url, cfg, "slices", full=True, bulk_min_rows=10,
                          connector=_Slices(cfg, [_usage(range(1, 11), events=7)]))

    assert "loading without its indexes" not in caplog.text
    usage = report.by_entity["usage"]
    assert (usage.inserted, usage.updated) == (16, 4)  # the stored days were compared
    assert {events for _, events in _rows(pg_url)} == {7}


def test_a_bulk_load_failing_midway_keeps_the_slices_before_it_and_builds_the_indexes(
    pg_url: str,
) -> None:
    cfg = PulseConfig()
    slices = [_usage(range(1, 6)), _usage(range(6, 11)), _usage(range(11, 16), feature=None),
              _usage(range(16, 21))]
    report = run_sync(pg_url, cfg, "slices", connector=_Slices(cfg, slices), bulk_min_rows=10)

    assert report.status == "failed"
    assert "feature" in report.errors[0].lower()
    assert report.cursor == "usage-2"
    assert [day for day, _ in _rows(pg_url)] == [d for d in range(1, 11) for _ in (1, 2)]
    assert _missing(pg_url) == []
    with session_factory(pg_url)() as s:
        state = s.get(SyncState, "slices")
        assert state is not None and state.cursor == "usage-2"


def test_the_sync_after_a_killed_bulk_load_builds_the_missing_indexes_before_writing(
    pg_url: str,
) -> None:
    cfg = PulseConfig()
    run_sync(pg_url, cfg, "slices", connector=_Slices(cfg, [_usage(range(1, 3))]))
    with get_engine(pg_url).begin() as conn:
        # what a bulk load killed mid-way leaves, plus a second writer's copy of two rows
        drop_usage_indexes(conn)
        conn.execute(text(
            "INSERT INTO usage_daily (account_id, day, user_id, feature, source, events, "
            "minutes) SELECT account_id, day, user_id, feature, source, 9, minutes "
            "FROM usage_daily WHERE day = '2026-11-01'"
        ))
    assert set(_missing(pg_url)) == {PRIMARY_KEY, BRIN_INDEX}

    report = run_sync(pg_url, cfg, "slices", full=True,
                      connector=_Slices(cfg, [_usage(range(3, 5))]))

    assert report.status == "ok", report.as_dict()
    assert _missing(pg_url) == []
    assert any("2 row(s) shared a key with a newer row" in w for w in report.warnings)
    rows = _rows(pg_url)
    assert len(rows) == 8  # one row per key, the newer copy of each duplicate kept
    assert [events for day, events in rows if day == 1] == [9, 9]
