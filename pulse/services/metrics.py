"""Portfolio metrics for a period: loads what ``scoring.metrics`` needs, and nothing more.

The formulas live in :mod:`scoring.metrics` (pure pandas, tested on hand-computed
fixtures); this module only decides which rows to read so that a year of daily
snapshots or usage never has to come into memory whole: snapshots are read as each
account's latest on the two days that matter (plus the full history of accounts with
acknowledged alerts), usage as per-account aggregates computed by the database.

The population is every account except those of linked-only sources (Stripe customers,
Zendesk organisations), as for scoring. ``owner_ids`` narrows it to a team's portfolio
(the manager digest). Nothing here writes.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from scoring.metrics import (
    Forecast,
    Period,
    adoption,
    at_risk_arr,
    expansion_forecast,
    health_distribution,
    improvement_rate,
    renewal_pipeline,
    revenue_bridge,
    time_to_value,
    with_health,
)
from storage.models import (
    LINKED_ONLY_SOURCES,
    Account,
    Alert,
    ArrChange,
    Opportunity,
    Owner,
    ScoreSnapshot,
)
from storage.usage_engine import UsageEngine, usage_engine
from storage.usage_reads import as_day, distinct_active_days, first_use_since, usage_span

UNASSIGNED = "unassigned"
ACCOUNT_COLUMNS = ["account_id", "name", "segment", "region", "tier", "owner_id", "csm",
                   "lifecycle", "contract_start", "renewal_date"]
LEDGER_COLUMNS = ["account_id", "effective_on", "arr", "reason"]
SNAPSHOT_COLUMNS = ["account_id", "as_of", "tier", "renewal_risk"]
OPPORTUNITY_COLUMNS = ["account_id", "kind", "stage", "amount", "close_date", "is_closed"]


@dataclass(frozen=True)
class MetricsReport:
    """Every figure of ``pulse metrics`` for one period (frames from scoring.metrics)."""

    period: Period
    by: str | None
    revenue: pd.DataFrame
    nrr_by_csm: pd.DataFrame
    at_risk: pd.DataFrame
    distribution: pd.DataFrame
    adoption: pd.DataFrame
    time_to_value: pd.DataFrame
    improvement: pd.DataFrame
    renewals: pd.DataFrame
    forecast: Forecast
    settings: dict[str, int | float]
    ledger_rows: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RetentionFigures:
    """What the manager digest shows of retention: the period's bridge and the forecast."""

    period: Period
    revenue: pd.Series  # the TOTAL row of revenue_bridge
    forecast: Forecast
    ledger_rows: int


def add_months(day: date, months: int) -> date:
    years, month_index = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def default_end(session: Session, today: date) -> date:
    """The latest scoring day (on or before ``today``), else ``today``: figures that read
    health are only as recent as the last scoring run."""
    latest = session.scalar(
        select(func.max(ScoreSnapshot.as_of)).where(ScoreSnapshot.as_of <= today)
    )
    return latest or today


def trailing_period(end: date, months: int) -> Period:
    """The ``months`` months ending on ``end``: 2025-03-09 to 2026-03-08 for 12."""
    return Period(add_months(end, -months) + timedelta(days=1), end)


def _frame(
    session: Session, stmt: Select[*tuple[Any, ...]], columns: list[str]
) -> pd.DataFrame:
    return pd.DataFrame(session.execute(stmt).all(), columns=columns)


def _scope(owner_ids: set[int] | None) -> list[ColumnElement[bool]]:
    """The accounts metrics cover: not linked-only, not deleted in the CRM (a duplicate
    merged away would count its ARR twice), and of these owners when given."""
    where: list[ColumnElement[bool]] = [Account.source.not_in(LINKED_ONLY_SOURCES),
                                        Account.deleted_at.is_(None)]
    if owner_ids is not None:
        where.append(Account.owner_id.in_(sorted(owner_ids)))
    return where


def load_accounts(session: Session, owner_ids: set[int] | None = None) -> pd.DataFrame:
    stmt = (
        select(Account.id, Account.name, Account.segment, Account.region, Account.tier,
               Account.owner_id, Owner.name, Account.lifecycle, Account.contract_start,
               Account.renewal_date)
        .outerjoin(Owner, Owner.id == Account.owner_id)
        .where(*_scope(owner_ids))
        .order_by(Account.id)
    )
    accounts = _frame(session, stmt, ACCOUNT_COLUMNS)
    accounts["csm"] = accounts["csm"].astype(object).where(accounts["csm"].notna(), UNASSIGNED)
    return accounts


def load_ledger(session: Session, end: date, owner_ids: set[int] | None = None) -> pd.DataFrame:
    stmt = (
        select(ArrChange.account_id, ArrChange.effective_on, ArrChange.arr, ArrChange.reason)
        .join(Account, Account.id == ArrChange.account_id)
        .where(ArrChange.effective_on <= end, *_scope(owner_ids))
        .order_by(ArrChange.account_id, ArrChange.effective_on)
    )
    return _frame(session, stmt, LEDGER_COLUMNS)


def load_opportunities(session: Session, owner_ids: set[int] | None = None) -> pd.DataFrame:
    stmt = (
        select(Opportunity.account_id, Opportunity.kind, Opportunity.stage, Opportunity.amount,
               Opportunity.close_date, Opportunity.is_closed)
        .join(Account, Account.id == Opportunity.account_id)
        .where(Opportunity.kind.in_(["renewal", "expansion"]),
               Opportunity.is_closed.is_(False), Opportunity.deleted_at.is_(None),
               *_scope(owner_ids))
        .order_by(Opportunity.id)
    )
    return _frame(session, stmt, OPPORTUNITY_COLUMNS)


def _latest_snapshots(session: Session, day: date, owner_ids: set[int] | None) -> pd.DataFrame:
    """Each account's latest snapshot on or before ``day`` (one row per account)."""
    latest = (
        select(ScoreSnapshot.account_id, func.max(ScoreSnapshot.as_of).label("as_of"))
        .where(ScoreSnapshot.as_of <= day)
        .group_by(ScoreSnapshot.account_id)
        .subquery()
    )
    stmt = (
        select(ScoreSnapshot.account_id, ScoreSnapshot.as_of, ScoreSnapshot.tier,
               ScoreSnapshot.renewal_risk)
        .join(latest, (latest.c.account_id == ScoreSnapshot.account_id)
              & (latest.c.as_of == ScoreSnapshot.as_of))
        .join(Account, Account.id == ScoreSnapshot.account_id)
        .where(*_scope(owner_ids))
    )
    return _frame(session, stmt, SNAPSHOT_COLUMNS)


def _alerts(session: Session, period: Period, owner_ids: set[int] | None) -> pd.DataFrame:
    stmt = (
        select(Alert.id, Alert.account_id, Alert.acknowledged_at)
        .join(Account, Account.id == Alert.account_id)
        .where(Alert.acknowledged_at >= datetime.combine(period.start, time.min),
               Alert.acknowledged_at < datetime.combine(period.end + timedelta(days=1),
                                                        time.min),
               *_scope(owner_ids))
        .order_by(Alert.id)
    )
    alerts = _frame(session, stmt, ["alert_id", "account_id", "acknowledged_at"])
    alerts["acknowledged_on"] = pd.to_datetime(alerts["acknowledged_at"]).dt.normalize()
    return alerts.drop(columns="acknowledged_at")


def _history(session: Session, account_ids: list[int], end: date) -> pd.DataFrame:
    """Every snapshot up to ``end`` of a few accounts (those with acknowledged alerts)."""
    if not account_ids:
        return pd.DataFrame(columns=SNAPSHOT_COLUMNS)
    frames = []
    for start in range(0, len(account_ids), 500):
        chunk = account_ids[start:start + 500]
        stmt = (
            select(ScoreSnapshot.account_id, ScoreSnapshot.as_of, ScoreSnapshot.tier,
                   ScoreSnapshot.renewal_risk)
            .where(ScoreSnapshot.account_id.in_(chunk), ScoreSnapshot.as_of <= end)
        )
        frames.append(_frame(session, stmt, SNAPSHOT_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def _core_days(
    session: Session, config: PulseConfig, engine: UsageEngine, day: date
) -> pd.DataFrame:
    """Distinct days with any core-feature use per account, in the adoption window."""
    first = day - timedelta(days=config.metrics.adoption_window_days - 1)
    return distinct_active_days(session, engine, config.scoring.core_features, first, day)


def _first_core(
    session: Session, config: PulseConfig, engine: UsageEngine, period: Period
) -> pd.DataFrame:
    """First core-feature use on or after contract start, up to the period's end, of the
    accounts that started within the period."""
    started = session.execute(
        select(Account.id, Account.contract_start).where(
            Account.contract_start >= period.start, Account.contract_start <= period.end)
    ).all()
    days = {int(a): as_day(d) for a, d in started}
    starts = {a: d for a, d in days.items() if d is not None}
    first = first_use_since(session, engine, config.scoring.core_features, starts, period.end)
    return first.rename(columns={"first_day": "first_core_day"})


def _notes(ledger: pd.DataFrame, period: Period, opening_snapshots: pd.DataFrame) -> list[str]:
    """What a reader must know to trust the figures: gaps in the data they rest on."""
    notes: list[str] = []
    if ledger.empty:
        notes.append("The ARR ledger is empty: revenue figures are 0. `pulse sync` records "
                     "each account's ARR; import arr_history.csv for earlier history.")
        return notes
    first = pd.to_datetime(ledger["effective_on"]).min().date()
    if first > period.opening:
        notes.append(f"The ARR ledger starts on {first}, after the period's start: accounts "
                     "without earlier history count as new ARR, not in the starting cohort.")
    firsts = ledger.sort_values("effective_on").groupby("account_id").head(1)
    observed = firsts[(firsts["reason"] == "observed")
                      & (pd.to_datetime(firsts["effective_on"]) > pd.Timestamp(period.opening))]
    if len(observed):
        notes.append(f"{len(observed):,} account(s) have ARR only from the day Pulse first saw "
                     "it (no contract_start): they count as new ARR in this period.")
    if opening_snapshots.empty:
        notes.append(f"No health scores on or before {period.opening}: the start of the "
                     "health distribution is empty (all unscored).")
    return notes


def portfolio_metrics(
    session: Session,
    config: PulseConfig,
    period: Period,
    by: str | None = None,
    owner_ids: set[int] | None = None,
) -> MetricsReport:
    """Every metric of docs/metrics.md over ``period``, broken down ``by`` an attribute."""
    policy = config.metrics
    window = config.scoring.renewal_window_days
    accounts = load_accounts(session, owner_ids)
    ledger = load_ledger(session, period.end, owner_ids)
    opening = _latest_snapshots(session, period.opening, owner_ids)
    closing = _latest_snapshots(session, period.end, owner_ids)
    alerts = _alerts(session, period, owner_ids)
    history = _history(session, sorted({int(a) for a in alerts["account_id"]}), period.end)
    snapshots = (pd.concat([opening, closing, history], ignore_index=True)
                 .drop_duplicates(["account_id", "as_of"]))
    accounts = with_health(accounts, closing, period.end)
    opportunities = load_opportunities(session, owner_ids)
    engine = usage_engine(config.scoring.usage)
    core_days = _core_days(session, config, engine, period.end)
    first_core = _first_core(session, config, engine, period)
    usage_from = usage_span(session, engine)[0]
    return MetricsReport(
        period=period,
        by=by,
        revenue=revenue_bridge(accounts, ledger, period, by),
        nrr_by_csm=revenue_bridge(accounts, ledger, period, "csm"),
        at_risk=at_risk_arr(accounts, ledger, snapshots, period.end, window, by),
        distribution=health_distribution(accounts, ledger, snapshots, period, by),
        adoption=adoption(accounts, ledger, core_days, period.end, policy.adoption_days, by),
        time_to_value=time_to_value(accounts, first_core, period, by, usage_from),
        improvement=improvement_rate(accounts, alerts, snapshots, period, policy.improvement_days,
                                     by),
        renewals=renewal_pipeline(accounts, ledger, snapshots, opportunities, period.end,
                                  window, by),
        forecast=expansion_forecast(accounts, opportunities, policy.stage_probabilities,
                                    policy.default_stage_probability, by),
        settings={
            "renewal_window_days": window,
            "adoption_days": policy.adoption_days,
            "adoption_window_days": policy.adoption_window_days,
            "improvement_days": policy.improvement_days,
            "default_stage_probability": policy.default_stage_probability,
        },
        ledger_rows=len(ledger),
        notes=_notes(ledger, period, opening),
    )


def retention_figures(
    session: Session, config: PulseConfig, end: date, owner_ids: set[int] | None = None
) -> RetentionFigures:
    """The trailing ``metrics.period_months`` bridge and the expansion forecast only: the
    part of the metrics the manager digest shows, without reading usage or snapshots."""
    period = trailing_period(end, config.metrics.period_months)
    accounts = load_accounts(session, owner_ids)
    ledger = load_ledger(session, period.end, owner_ids)
    policy = config.metrics
    forecast = expansion_forecast(accounts, load_opportunities(session, owner_ids),
                                  policy.stage_probabilities, policy.default_stage_probability)
    revenue = revenue_bridge(accounts, ledger, period).iloc[0]
    return RetentionFigures(period, revenue, forecast, len(ledger))
