"""The small questions asked of usage outside the scoring aggregation, wherever it lives.

A card's last active day, `pulse metrics`' adoption and time to value, the date range
`pulse tune` and `pulse backtest` can use, and the sync's check for configured core
features each read usage. Where the usage is Pulse's own ``usage_daily`` the rows carry
their account; in an outside engine (:mod:`storage.usage_engine`: DuckDB, Parquet or CSV
files, a warehouse) they carry only the user's external id, so each question is asked
per user there, only narrow grouped rows come back, and the users are mapped to
accounts through the contacts of the engine's ``user_source``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from storage.models import Contact
from storage.usage_engine import UsageEngine

USER_LIST_MAX = 1000
"""Up to this many users, an outside engine is asked about those users only (an IN
list); beyond, about every user (one grouped row each), mapped afterwards."""


def as_day(value: Any) -> date | None:
    """A day as drivers and files hand it back: date, datetime, ISO text or None."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, datetime):  # pandas' Timestamp too
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def usage_span(session: Session, engine: UsageEngine) -> tuple[date | None, date | None]:
    """The first and last day of usage on file (None, None without any)."""
    usage = engine.usage
    stmt = select(func.min(usage.day), func.max(usage.day)).select_from(usage.source)
    rows = engine.rows(session, stmt)
    first, last = rows[0] if rows else (None, None)
    return as_day(first), as_day(last)


def features_present(session: Session, engine: UsageEngine, features: Sequence[str]) -> set[str]:
    """Which of ``features`` appear in the usage at all."""
    if not features:
        return set()
    usage = engine.usage
    stmt = (
        select(usage.feature)
        .select_from(usage.source)
        .where(usage.feature.in_(list(features)))
        .distinct()
    )
    return {str(r[0]) for r in engine.rows(session, stmt)}


def _users(session: Session, source: str, accounts: Collection[int] | None) -> pd.DataFrame:
    """``user`` (external id) -> ``account_id`` of the contacts of ``source``."""
    stmt = select(Contact.external_id, Contact.account_id).where(Contact.source == source)
    if accounts is not None:
        stmt = stmt.where(Contact.account_id.in_(sorted({int(a) for a in accounts})))
    rows = session.execute(stmt).all()
    return pd.DataFrame(rows, columns=["user", "account_id"]).dropna()


def _per_user(
    session: Session,
    engine: UsageEngine,
    columns: Sequence[ColumnElement[Any]],
    where: Sequence[ColumnElement[bool]],
    accounts: Collection[int] | None,
    distinct: bool = False,
) -> pd.DataFrame:
    """Rows ``(user, *columns)`` of an outside engine, grouped by user unless
    ``distinct``, joined to the users' accounts (column ``account_id``)."""
    usage = engine.usage
    users = _users(session, engine.user_source, accounts)
    if accounts is not None and users.empty:
        return pd.DataFrame(columns=["account_id", *(f"c{i}" for i in range(len(columns)))])
    stmt = select(usage.user, *columns).select_from(usage.source).where(*where)
    if accounts is not None and len(users) <= USER_LIST_MAX:
        stmt = stmt.where(usage.user.in_(users["user"].astype(str).tolist()))
    stmt = stmt.distinct() if distinct else stmt.group_by(usage.user)
    rows = engine.rows(session, stmt)
    names = ["user", *(f"c{i}" for i in range(len(columns)))]
    found = pd.DataFrame(rows, columns=names)
    found["user"] = found["user"].astype(str)
    users["user"] = users["user"].astype(str)
    return found.merge(users, on="user", how="inner").drop(columns="user")


def last_active_days(
    session: Session, engine: UsageEngine, account_ids: Collection[int], as_of: date
) -> dict[int, date]:
    """Each account's last usage day on or before ``as_of`` (accounts without usage left
    out)."""
    if not account_ids:
        return {}
    usage = engine.usage
    if engine.local:
        assert usage.account is not None
        stmt = select(usage.account, func.max(usage.day)).where(usage.day <= as_of)
        if len(account_ids) <= USER_LIST_MAX:
            stmt = stmt.where(usage.account.in_(sorted({int(a) for a in account_ids})))
        rows = engine.rows(session, stmt.group_by(usage.account))
        days = {int(a): as_day(v) for a, v in rows}
        return {a: d for a, d in days.items() if d is not None}
    found = _per_user(session, engine, [func.max(usage.day)], [usage.day <= as_of], account_ids)
    found["c0"] = found["c0"].map(as_day)
    latest = found.dropna(subset=["c0"]).groupby("account_id")["c0"].max()
    return {int(a): d for a, d in latest.items()}


def distinct_active_days(
    session: Session, engine: UsageEngine, features: Sequence[str], first: date, last: date
) -> pd.DataFrame:
    """``account_id``, ``days``: distinct days between ``first`` and ``last`` (inclusive)
    with any use of ``features``, per account that has one."""
    usage = engine.usage
    where = [usage.feature.in_(list(features)), usage.day >= first, usage.day <= last]
    if engine.local:
        assert usage.account is not None
        stmt = select(usage.account, func.count(usage.day.distinct())).where(*where)
        rows = engine.rows(session, stmt.group_by(usage.account))
        return pd.DataFrame(rows, columns=["account_id", "days"])
    found = _per_user(session, engine, [usage.day], where, None, distinct=True)
    found["c0"] = found["c0"].map(as_day)
    days = found.groupby("account_id")["c0"].nunique()
    return days.rename("days").reset_index()


def first_use_since(
    session: Session,
    engine: UsageEngine,
    features: Sequence[str],
    starts: Mapping[int, date],
    until: date,
) -> pd.DataFrame:
    """``account_id``, ``first_day``: each account's first use of ``features`` on or after
    its start day (``starts``) and up to ``until``, for the accounts of ``starts``."""
    columns = ["account_id", "first_day"]
    if not starts:
        return pd.DataFrame(columns=columns)
    usage = engine.usage
    where = [
        usage.feature.in_(list(features)),
        usage.day >= min(starts.values()),
        usage.day <= until,
    ]
    if engine.local:
        assert usage.account is not None
        stmt = select(usage.account, usage.day).where(*where)
        if len(starts) <= USER_LIST_MAX:
            stmt = stmt.where(usage.account.in_(sorted(starts)))
        found = pd.DataFrame(engine.rows(session, stmt.distinct()), columns=["account_id", "c0"])
        found = found[found["account_id"].isin(list(starts))]
    else:
        found = _per_user(session, engine, [usage.day], where, starts, distinct=True)
    found["c0"] = found["c0"].map(as_day)
    start = found["account_id"].map(lambda a: starts.get(int(a)))
    found = found[found["c0"].notna() & (found["c0"] >= start)]
    first = found.groupby("account_id")["c0"].min()
    return first.rename("first_day").reset_index().astype({"account_id": "int64"})[columns]
