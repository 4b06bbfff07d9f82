"""`pulse tune`'s learning: the labelled panel from the database, and what dates can work.

The panel is the backtest's (:func:`pulse.services.backtest.run_backtest`, every input
bounded by its as-of date) with the learning inputs added; labels are churn within the
horizon after each date. The account fields named in ``scoring.learn`` are read once
from the accounts table (their current values; see docs/backtest.md). When learning
cannot run, :func:`usable_range` says what the data covers and which dates could work.
:func:`learned_points` applies a stored model to the accounts of one date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.kernel.config import LearnConfig, ScoringConfig
from pulse.services.backtest import data_end
from scoring.backtest import churn_labels
from scoring.learn.document import fields_from_document, scorecard_from_document
from scoring.learn.fit import LearningData
from scoring.learn.folds import MIN_CHURNERS
from scoring.learn.live import account_attributes, input_frame, with_learning_inputs
from scoring.panel import build_rows, with_renewals_as_of
from scoring.periods import Span
from scoring.signals import load_signals, usage_engine_default
from storage.models import Account
from storage.usage_engine import UsageEngine
from storage.usage_reads import usage_span


def learning_data(
    panel: pd.DataFrame, attributes: pd.DataFrame, learn: LearnConfig, horizon: Span
) -> LearningData:
    """The inputs, labels and rules score of every panel row (built ``with_inputs``)."""
    inputs, categorical = input_frame(panel, attributes, learn)
    return LearningData(
        inputs=inputs,
        categorical=categorical,
        y=churn_labels(panel, horizon).astype("int64"),
        as_of=pd.to_datetime(panel["as_of"]).to_numpy(dtype="datetime64[D]"),
        account_id=panel["account_id"].to_numpy(dtype="int64"),
        current_score=panel["score"].to_numpy(dtype="float64"),
        churned_on=pd.to_datetime(panel["churned_on"]).to_numpy(dtype="datetime64[D]"),
    )


@dataclass(frozen=True)
class LearnedPoints:
    """A stored model applied to the accounts of one date (index: account id)."""

    points: pd.DataFrame
    """Each input's points; rows add up to ``health``."""
    bins: pd.DataFrame
    """The bin each account's value fell in, per input."""
    health: pd.Series
    most: dict[str, float]
    """The most points each input can give."""


def learned_points(
    session: Session, cfg: ScoringConfig, doc: dict[str, Any], as_of: date
) -> LearnedPoints:
    """Every account alive on ``as_of`` under the stored model: points, bins, health.

    The inputs are built exactly as for learning (the scorer's aggregation as of the
    date, renewal dates reconstructed for it, the account fields the model was learned
    from), so an account's points are what the model would have given it that day.
    """
    model = scorecard_from_document(doc)
    signals = with_renewals_as_of(load_signals(session, cfg, as_of))
    rows = with_learning_inputs(build_rows(signals, cfg), signals.frame, as_of)
    inputs, _ = input_frame(rows, account_attributes(session), fields_from_document(doc))
    inputs.index = pd.Index(rows["account_id"].to_numpy(dtype="int64"), name="account_id")
    points = model.points(inputs)
    return LearnedPoints(
        points=points,
        bins=model.bins(inputs),
        health=points.sum(axis=1),
        most={i.name: model.max_points(i) for i in model.inputs},
    )


@dataclass(frozen=True)
class DataRange:
    """What the data covers, and an as-of date that could be learned from."""

    first_usage: date | None
    last_usage: date | None
    churns: int
    first_churn: date | None
    last_churn: date | None
    data_end: date
    suggested: date | None
    """The as-of date with the most churns within the horizon after it (latest on ties)."""
    suggested_churns: int
    earliest: date | None
    latest: date | None
    """The span of as-of dates with usage history behind them (without any usage: with
    accounts on them and churn within the horizon after them) and a known horizon."""

    def lines(self, horizon: Span) -> list[str]:
        usage = (f"usage from {self.first_usage} to {self.last_usage}"
                 if self.first_usage else "no usage")
        churn = (f"{self.churns:,} churn(s) dated {self.first_churn} to {self.last_churn}"
                 if self.churns else "no churn dates")
        out = [f"The data holds {usage} and {churn}; outcomes are known to {self.data_end}."]
        if self.first_usage is None:
            out.append("Without usage data, learning reads the account fields named in "
                       "scoring.learn and the contract (tenure, renewal date).")
        if self.suggested is None or self.earliest is None:
            behind = "usage history behind it" if self.first_usage else "accounts on it"
            out.append(
                f"No as-of date has {behind} and a whole {horizon.words} "
                "horizon after it: import more history, or try a shorter --horizon."
            )
            return out
        out.append(
            f"Usable as-of dates: {self.earliest} to {self.latest}. Try --as-of "
            f"{self.suggested} ({self.suggested_churns:,} churn(s) in the {horizon.words} "
            f"after it) or --from {self.earliest} --to {self.latest}."
        )
        if self.suggested_churns < MIN_CHURNERS:
            out.append(
                f"That is fewer than the {MIN_CHURNERS} churns learning needs: a longer "
                "--horizon, several dates, or more churn history would help."
            )
        return out


def usable_range(
    session: Session,
    horizon: Span,
    window_days: int,
    today: date | None = None,
    observed_until: date | None = None,
    engine: UsageEngine | None = None,
) -> DataRange:
    """First and last usage day (asked of ``engine``, Pulse's ``usage_daily`` by
    default), churn dates, and the as-of dates that could work.

    An as-of date can work when it has a scoring window of usage behind it (``window_days``
    after the first usage day), is not after the last usage day (later dates would see
    every account idle), and its whole horizon is known by ``observed_until`` (default
    :func:`data_end`). A workspace without any usage (accounts and their churn dates
    only, as one CRM snapshot gives) is learned from its account fields: there a date can
    work from the first contract start on, and from one horizon before the first churn
    (earlier dates have no churn after them).
    """
    engine = engine or usage_engine_default()
    first_usage, last_usage = usage_span(session, engine)
    churned = session.scalars(
        select(Account.churned_on).where(
            Account.lifecycle == "churned", Account.churned_on.is_not(None)
        )
    )
    churn_days = sorted(d for d in churned if d is not None)
    end = observed_until or data_end(session, today, engine=engine)
    earliest = (first_usage + timedelta(days=window_days) if first_usage
                else _first_account_day(session, churn_days, horizon))
    latest = _latest_observed(end, horizon)
    if latest is not None and last_usage is not None:
        latest = min(latest, last_usage)
    suggested, best = None, 0
    if earliest is not None and latest is not None and earliest <= latest:
        churns = np.array(churn_days, dtype="datetime64[D]")
        day = latest
        while day >= earliest:
            stop = np.datetime64(horizon.after(day), "D")
            count = int(((churns > np.datetime64(day, "D")) & (churns <= stop)).sum())
            if count > best or suggested is None:
                suggested, best = day, count
            day -= timedelta(days=1)
    else:
        earliest = latest = None
    return DataRange(
        first_usage=first_usage,
        last_usage=last_usage,
        churns=len(churn_days),
        first_churn=churn_days[0] if churn_days else None,
        last_churn=churn_days[-1] if churn_days else None,
        data_end=end,
        suggested=suggested,
        suggested_churns=best,
        earliest=earliest,
        latest=latest,
    )


def _first_account_day(session: Session, churn_days: list[date], horizon: Span) -> date | None:
    """Without usage: the later of the first contract start and one horizon before the
    first churn (either alone when the other is unknown)."""
    start = _day(session.scalar(select(func.min(Account.contract_start))))
    before_churn = horizon.after(churn_days[0], -1) if churn_days else None
    known = [d for d in (start, before_churn) if d is not None]
    return max(known) if known else None


def _day(value: date | str | None) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _latest_observed(end: date, horizon: Span) -> date | None:
    """The latest as-of date whose horizon ends by ``end``."""
    day = end
    for _ in range(3700):  # horizons are days, weeks or months; ten years is plenty
        if horizon.after(day) <= end:
            return day
        day -= timedelta(days=1)
    return None
