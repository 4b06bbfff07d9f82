"""Backtest orchestration: recompute past scores from the database, then judge them.

For each as-of date the scorer's own aggregation (:func:`scoring.signals.load_signals`)
reads only data dated on or before that date, and :func:`scoring.panel.build_rows` keeps
the numbers; nothing is written (no snapshots, no audit rows), so a backtest can run
against a production database at any time. Outcomes come from the accounts table:
``churned_on`` of accounts whose lifecycle is ``churned``.

What the figures mean is in :mod:`scoring.backtest`; how tuning uses the panel is in
:mod:`scoring.tune`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from time import perf_counter

import pandas as pd
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from pulse.kernel.clock import utcnow
from pulse.kernel.config import ScoringConfig
from scoring.backtest import BacktestError, BacktestResult, evaluate, split_censored
from scoring.learn.live import with_learning_inputs
from scoring.panel import build_rows, rescore, with_renewals_as_of
from scoring.periods import Span, as_of_dates
from scoring.signals import (
    UsageCalendar,
    Windows,
    account_roster,
    engine_contacts,
    load_signals,
    usage_calendar,
    usage_engine_default,
)
from storage.models import Account
from storage.tuning import parallel_safe, query_frame
from storage.usage_engine import UsageEngine, usage_engine
from storage.usage_reads import usage_span

Progress = Callable[[date, int, float], None]
"""Called after each as-of date with the date, rows scored and seconds taken."""
DATE_WORKERS = 2
"""As-of dates scored at once (the benchmark target is a 2-core machine)."""


@dataclass
class BacktestRun:
    """The panel the figures came from, and the figures."""

    start: date
    end: date
    every: Span
    horizon: Span
    observed_until: date
    stored_renewals: bool
    dates: list[date]
    censored: list[date]
    panel: pd.DataFrame
    result: BacktestResult
    seconds: dict[str, float] = field(default_factory=dict)


def data_end(
    session: Session,
    today: date | None = None,
    calendar: UsageCalendar | None = None,
    engine: UsageEngine | None = None,
) -> date:
    """The last day the data covers: the latest usage day or churn date, never after today.

    Churn "within the horizon" is only known up to this day; see
    :func:`scoring.backtest.split_censored`. An open-ended ``calendar`` already knows the
    latest usage day, which spares a scan of the usage; otherwise ``engine`` (Pulse's
    ``usage_daily`` by default) is asked.
    """
    today = today or utcnow().date()
    last_usage = calendar.last_day if calendar is not None else None
    if last_usage is None:
        last_usage = usage_span(session, engine or usage_engine_default())[1]
    last_churn = session.scalar(
        select(func.max(Account.churned_on)).where(Account.lifecycle == "churned")
    )
    known = [_as_date(d) for d in (last_usage, last_churn) if d is not None]
    return min(max(known), today) if known else today


def _as_date(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def account_outcomes(session: Session) -> pd.DataFrame:
    """``account_id``, ``churned_on`` (lifecycle churned only) and the CRM ``account_tier``.

    Both are *current* values: the tier is an attribute for slicing results, never an
    input to a score.
    """
    frame = query_frame(
        session,
        select(
            Account.id.label("account_id"),
            Account.lifecycle.label("lifecycle"),
            Account.churned_on.label("churned_on"),
            Account.tier.label("account_tier"),
        ),
    )
    churned = frame["lifecycle"] == "churned"
    frame["churned_on"] = pd.to_datetime(frame["churned_on"].where(churned)).astype(
        "datetime64[us]"
    )
    frame["account_id"] = frame["account_id"].astype("int64")
    return frame.drop(columns="lifecycle")


def build_panel(
    session: Session,
    cfg: ScoringConfig,
    dates: Sequence[date],
    progress: Progress | None = None,
    *,
    stored_renewals: bool = False,
    workers: int | None = None,
    calendar: UsageCalendar | None = None,
    with_inputs: bool = False,
) -> pd.DataFrame:
    """Unweighted panel rows for every date, with outcomes and CRM tier joined on.

    Renewal dates are reconstructed for each date (:func:`scoring.panel.renewal_as_of`)
    unless ``stored_renewals`` asks for the CRM's current values as they are. Which
    features were used on which days is read once for the whole range
    (:func:`scoring.signals.usage_calendar`, or ``calendar`` if it covers the dates)
    instead of twice per date, the accounts once (:func:`scoring.signals.account_roster`)
    and the contacts an outside usage engine is handed once
    (:func:`scoring.signals.engine_contacts`).

    Dates are scored :data:`DATE_WORKERS` at a time, each on a session of its own, when
    other connections see what ``session`` sees (no uncommitted writes, not a private
    in-memory SQLite); ``workers`` forces a number. One date's pandas work then overlaps
    the next date's aggregation in the database.

    ``with_inputs`` adds what a learned model reads (:mod:`scoring.learn.inputs`): each
    signal input as an ``in_<name>`` column and the account's ``tenure_days`` on the date.
    """
    if not dates:
        raise BacktestError("no as-of dates to score")
    first = Windows.build(min(dates), cfg).prev_start
    if calendar is None or not calendar.covers(first, max(dates)):
        calendar = usage_calendar(session, first, max(dates), usage_engine(cfg.usage))
    roster = account_roster(session)
    contacts = engine_contacts(session, cfg)

    def one(on: Session, day: date, parallel: bool | None = None) -> pd.DataFrame:
        t0 = perf_counter()
        signals = load_signals(
            on, cfg, day, calendar=calendar, roster=roster, parallel=parallel,
            contacts=contacts,
        )
        if not stored_renewals:
            signals = with_renewals_as_of(signals)
        rows = build_rows(signals, cfg)
        if with_inputs:
            rows = with_learning_inputs(rows, signals.frame, day)
        if progress is not None:
            progress(day, len(rows), perf_counter() - t0)
        return rows

    threads = workers if workers is not None else (DATE_WORKERS if parallel_safe(session) else 1)
    if threads <= 1 or len(dates) == 1:
        parts = [one(session, day) for day in dates]
    else:
        make = sessionmaker(bind=session.get_bind())
        postgres = session.get_bind().dialect.name == "postgresql"

        def on_own_session(day: date) -> pd.DataFrame:
            # The dates are the parallelism now: each date's aggregation runs on its own
            # connection, not split (SQLite) or fanned out to parallel workers
            # (PostgreSQL), which for a per-user grouping only duplicates work. Two
            # dates at once that way took 12.8 s against 16.7 s with workers (100,000
            # accounts, docs/performance.md).
            with make() as own:
                if postgres:
                    own.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
                return one(own, day, parallel=False)

        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(on_own_session, dates))
    panel = pd.concat(parts, ignore_index=True)
    outcomes = account_outcomes(session)
    return panel.merge(outcomes, on="account_id", how="left", validate="many_to_one")


def run_backtest(
    session: Session,
    cfg: ScoringConfig,
    start: date,
    end: date,
    *,
    every: Span,
    horizon: Span,
    observed_until: date | None = None,
    progress: Progress | None = None,
    stored_renewals: bool = False,
    workers: int | None = None,
    today: date | None = None,
    with_inputs: bool = False,
) -> BacktestRun:
    """Score every as-of date whose horizon is observed, and compute the figures.

    Dates whose horizon ends after ``observed_until`` (default :func:`data_end`) are not
    scored at all; they come back in ``censored`` for the caller to name.
    """
    t0 = perf_counter()
    dates = as_of_dates(start, end, every)
    # One scan of usage from the first date's windows on: the workspace facts of every
    # date and (open-ended) the data's last day.
    engine = usage_engine(cfg.usage)
    calendar = usage_calendar(session, Windows.build(dates[0], cfg).prev_start, engine=engine)
    until = observed_until or data_end(session, today, calendar=calendar, engine=engine)
    observed, censored = split_censored(dates, horizon, until)
    if not observed:
        raise BacktestError(
            f"every as-of date from {start} to {end} has a {horizon.words} horizon ending "
            f"after {until}, the last day the data covers, so no churn outcome is known "
            "yet: choose earlier dates or a shorter --horizon"
        )
    t_panel = perf_counter()
    raw = build_panel(
        session,
        cfg,
        observed,
        progress,
        stored_renewals=stored_renewals,
        workers=workers,
        calendar=calendar,
        with_inputs=with_inputs,
    )
    seconds = {"panel": perf_counter() - t_panel}
    t_eval = perf_counter()
    panel = rescore(raw, cfg.weights.model_dump(), cfg.tiers, cfg.flags.score_drop_points)
    result = evaluate(panel, horizon)
    if result.pooled.auc is None:
        raise BacktestError(
            "AUC needs at least one churner and one non-churner: "
            f"{result.pooled.observations:,} scored observations on {len(observed)} as-of "
            f"date(s) from {observed[0]} to {observed[-1]} hold {result.pooled.churners} "
            f"churn(s) within {horizon.words}"
        )
    seconds["evaluate"] = perf_counter() - t_eval
    seconds["total"] = perf_counter() - t0
    return BacktestRun(
        start=start,
        end=end,
        every=every,
        horizon=horizon,
        observed_until=until,
        stored_renewals=stored_renewals,
        dates=observed,
        censored=censored,
        panel=panel,
        result=result,
        seconds=seconds,
    )
