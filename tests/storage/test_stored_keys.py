"""The loader's existence check finds exactly a slice's stored keys, whatever the order of
the file: a usage file in no day order re-imports like the same file sorted by day."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select

from connectors.files import FilesConnector
from pulse.kernel.config import PulseConfig
from pulse.services.sync import run_sync
from storage.db import get_engine, session_factory
from storage.models import Account, Base, Contact, UsageDaily

SLICE = 7
"""Rows per slice: the file spans many slices, each holding days from all over the range."""
ACCOUNTS = ("a1", "a2", "a3")
FIRST_DAY = date(2026, 10, 1)


def _usage(days: int, first: int = 0) -> pd.DataFrame:
    """Two users per account, two features, ``days`` days from FIRST_DAY + ``first``."""
    rows = [
        {"account_external_id": a, "user_external_id": f"{a}-u{u}", "feature": f,
         "day": (FIRST_DAY + timedelta(days=first + d)).isoformat(),
         "events": 1 + (d + u) % 5, "minutes": 0.5 * d}
        for a in ACCOUNTS for u in (1, 2) for f in ("login", "reports") for d in range(days)
    ]
    return pd.DataFrame(rows)


def _write(drop: Path, usage: pd.DataFrame, shuffled: bool) -> None:
    drop.mkdir(exist_ok=True)
    pd.DataFrame({"external_id": ACCOUNTS, "name": [f"Account {a}" for a in ACCOUNTS]}
                 ).to_csv(drop / "accounts.csv", index=False)
    users = sorted(set(zip(usage["account_external_id"], usage["user_external_id"],
                           strict=True)))
    pd.DataFrame({"external_id": [u for _, u in users],
                  "account_external_id": [a for a, _ in users],
                  "email": [f"{u}@example.com" for _, u in users]}
                 ).to_csv(drop / "contacts.csv", index=False)
    order = (np.random.default_rng(7).permutation(len(usage)) if shuffled
             else np.argsort(usage["day"].to_numpy(), kind="stable"))
    usage.iloc[order].to_csv(drop / "usage.csv", index=False)


def _import(url: str, drop: Path) -> tuple[int, int, int]:
    report = run_sync(url, PulseConfig(), "files", full=True,
                      connector=FilesConnector(PulseConfig(), path=drop, chunk_rows=SLICE))
    assert report.status == "ok", report.errors
    usage = report.by_entity["usage"]
    return usage.inserted, usage.updated, usage.unchanged


def _stored(url: str) -> list[tuple[object, ...]]:
    with session_factory(url)() as s:
        return sorted(s.execute(
            select(Account.external_id, Contact.external_id, UsageDaily.feature,
                   UsageDaily.day, UsageDaily.events, UsageDaily.minutes)
            .join(Account, Account.id == UsageDaily.account_id)
            .join(Contact, Contact.id == UsageDaily.user_id)
        ).all())


def _empty(url: str) -> None:
    with get_engine(url).begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def _scenario(url: str, drop: Path, shuffled: bool) -> tuple[object, ...]:
    """Import 30 days, then re-import them with 12 rows changed and 5 more days."""
    _empty(url)
    usage = _usage(30)
    _write(drop, usage, shuffled)
    first = _import(url, drop)
    changed = usage.copy()
    changed.loc[changed.index[::30], "events"] += 10  # 12 rows, spread over the days
    _write(drop, pd.concat([changed, _usage(5, first=30)], ignore_index=True), shuffled)
    again = _import(url, drop)
    return first, again, _stored(url)


def test_an_unsorted_usage_file_reimports_like_the_same_file_sorted_by_day(
    db_url: str, tmp_path: Path
) -> None:
    in_order = _scenario(db_url, tmp_path / "sorted", shuffled=False)
    shuffled = _scenario(db_url, tmp_path / "shuffled", shuffled=True)

    per_day = len(ACCOUNTS) * 2 * 2
    assert in_order[:2] == ((30 * per_day, 0, 0), (5 * per_day, 12, 30 * per_day - 12))
    assert shuffled[:2] == in_order[:2]
    assert shuffled[2] == in_order[2]
    assert len(in_order[2]) == 35 * per_day
    assert sum(events for *_, events, _minutes in in_order[2]) == (
        _usage(30)["events"].sum() + 12 * 10 + _usage(5, first=30)["events"].sum()
    )
