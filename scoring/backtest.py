"""Backtest figures: how well past scores foretold the churn that followed.

Pure functions over a scored panel (see :mod:`scoring.panel`; one row per as-of date and
live account, with ``score``, ``tier``, ``alert`` and the account's ``churned_on``), so
every formula is tested on hand-built frames; the database work is in
:mod:`pulse.services.backtest`.

Definitions (per as-of date, and pooled over all dates):

* **outcome**: the account churned within ``(as_of, as_of + horizon]`` (``churned_on`` of
  an account whose lifecycle is churned). An as-of date whose horizon ends after the last
  day the data covers is *censored*: its "did not churn" is not yet known, so it is left
  out (:func:`split_censored`) rather than silently counted as "stayed".
* **ROC AUC**: the probability that a churner scored lower than a non-churner (ties count
  half), i.e. the AUC of ``100 - score``; computed from average ranks (Mann-Whitney U), so
  ties are exact and no threshold is chosen.
* **precision / recall of the at-risk tier**: of the accounts at risk, the share that
  churned; of the churners, the share that were at risk.
* **bottom-decile lift**: churn rate among the lowest-scoring tenth of observations
  divided by the overall churn rate. Observations tied at the decile's edge count in
  proportion (a tie group straddling the edge contributes its churn rate to the part
  inside), so the figure does not depend on row order.
* **lead time**: for each account that churned within the horizon of some evaluated date,
  the days from the first such date on which it was alerted (at-risk tier or a critical
  flag) to its churn; the median over those accounts, and how many were never alerted.
  Dates are the backtest's as-of dates, so lead time is as coarse as ``--every``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from scoring.periods import Span

DECILES = 10


class BacktestError(ValueError):
    """The backtest cannot say anything for these dates; the message says why."""


@dataclass(frozen=True)
class Figures:
    """The figures of one as-of date, or of all dates pooled (``as_of`` None)."""

    as_of: date | None
    observations: int
    churners: int
    churn_rate: float | None
    auc: float | None
    at_risk: int
    precision: float | None
    recall: float | None
    bottom_decile_churn_rate: float | None
    bottom_decile_lift: float | None
    unscored: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat() if self.as_of else None
        return out


@dataclass(frozen=True)
class LeadTimes:
    """How early churners were alerted (see the module docstring)."""

    churned_accounts: int
    alerted: int
    never_alerted: int
    median_days: float | None
    days: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("days")
        return out


@dataclass(frozen=True)
class Decile:
    """One tenth of the pooled observations, lowest scores first (``decile`` 1)."""

    decile: int
    observations: float
    min_score: float
    max_score: float
    churn_rate: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BacktestResult:
    """Everything ``pulse backtest`` reports."""

    per_date: tuple[Figures, ...]
    pooled: Figures
    lead: LeadTimes
    deciles: tuple[Decile, ...]

    @property
    def dates(self) -> tuple[date, ...]:
        return tuple(f.as_of for f in self.per_date if f.as_of is not None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pooled": self.pooled.as_dict() | {"as_of_dates": len(self.per_date)},
            "lead_time": self.lead.as_dict(),
            "per_date": [f.as_dict() for f in self.per_date],
            "deciles": [d.as_dict() for d in self.deciles],
        }


# ---------------------------------------------------------------------------------------
# Outcomes and censoring


def horizon_ends(as_of: pd.Series, horizon: Span) -> np.ndarray:
    """``as_of + horizon`` per row (computed once per distinct date: months vary)."""
    days = pd.to_datetime(as_of)
    ends = {d: np.datetime64(horizon.after(d.date()), "us") for d in days.unique()}
    return days.map(ends).to_numpy(dtype="datetime64[us]")


def churn_labels(panel: pd.DataFrame, horizon: Span) -> np.ndarray:
    """True where the account churned in ``(as_of, as_of + horizon]``."""
    churned_on = pd.to_datetime(panel["churned_on"]).to_numpy(dtype="datetime64[us]")
    as_of = pd.to_datetime(panel["as_of"]).to_numpy(dtype="datetime64[us]")
    ends = horizon_ends(panel["as_of"], horizon)
    known = ~np.isnat(churned_on)
    with np.errstate(invalid="ignore"):
        return known & (churned_on > as_of) & (churned_on <= ends)


def split_censored(
    dates: Sequence[date], horizon: Span, observed_until: date
) -> tuple[list[date], list[date]]:
    """``(observed, censored)``: dates whose whole horizon ends on or before the data's end."""
    observed = [d for d in dates if horizon.after(d) <= observed_until]
    censored = [d for d in dates if horizon.after(d) > observed_until]
    return observed, censored


# ---------------------------------------------------------------------------------------
# Figures


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the average of the ranks they span."""
    x = np.asarray(x, dtype="float64")
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype="float64")
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends, averaged
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def roc_auc(risk: np.ndarray, positive: np.ndarray) -> float | None:
    """ROC AUC of ``risk`` for ``positive`` (Mann-Whitney U); None without both classes."""
    risk = np.asarray(risk, dtype="float64")
    positive = np.asarray(positive, dtype=bool)
    n1 = int(positive.sum())
    n0 = len(positive) - n1
    if n1 == 0 or n0 == 0:
        return None
    ranks = average_ranks(risk)
    u = ranks[positive].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n1 * n0))


def precision_recall(
    flagged: np.ndarray, positive: np.ndarray
) -> tuple[float | None, float | None]:
    """Precision and recall of ``flagged`` (None when nothing flagged / no positives)."""
    flagged = np.asarray(flagged, dtype=bool)
    positive = np.asarray(positive, dtype=bool)
    hits = int((flagged & positive).sum())
    n_flagged = int(flagged.sum())
    n_pos = int(positive.sum())
    precision = hits / n_flagged if n_flagged else None
    recall = hits / n_pos if n_pos else None
    return precision, recall


def _cumulative_positives(score: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, Any]:
    """Scores sorted ascending, and C(x): expected positives among the x lowest-scoring.

    Within a group of tied scores positives are spread evenly, so C is piecewise linear
    and any fractional cut (a decile edge) is independent of row order.
    """
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    p = positive[order].astype("float64")
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    group_pos = np.add.reduceat(p, starts) if len(s) else np.zeros(0)
    before = np.r_[0.0, np.cumsum(group_pos)]

    def cum(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype="float64")
        g = np.clip(np.searchsorted(starts, x, side="right") - 1, 0, max(len(starts) - 1, 0))
        size = (ends - starts)[g]
        inside = np.clip(x - starts[g], 0, size)
        return before[g] + group_pos[g] * inside / size

    return s, cum


def decile_table(score: np.ndarray, positive: np.ndarray, bins: int = DECILES) -> list[Decile]:
    """Churn rate per score decile, lowest scores first (ties split in proportion)."""
    score = np.asarray(score, dtype="float64")
    positive = np.asarray(positive, dtype=bool)
    n = len(score)
    if n == 0:
        return []
    s, cum = _cumulative_positives(score, positive)
    edges = np.linspace(0.0, float(n), bins + 1)
    churned = np.diff(cum(edges))
    out: list[Decile] = []
    for j in range(bins):
        lo, hi = edges[j], edges[j + 1]
        size = hi - lo
        first = min(int(np.floor(lo)), n - 1)
        last = min(max(int(np.ceil(hi)) - 1, first), n - 1)
        out.append(
            Decile(
                decile=j + 1,
                observations=round(size, 1),
                min_score=float(s[first]),
                max_score=float(s[last]),
                churn_rate=float(churned[j] / size) if size > 0 else 0.0,
            )
        )
    return out


def bottom_decile(score: np.ndarray, positive: np.ndarray) -> tuple[float | None, float | None]:
    """``(churn rate, lift)`` of the lowest-scoring tenth; None when undefined."""
    score = np.asarray(score, dtype="float64")
    positive = np.asarray(positive, dtype=bool)
    n = len(score)
    if n == 0:
        return None, None
    _, cum = _cumulative_positives(score, positive)
    rate = float(cum(np.array([n / DECILES]))[0] / (n / DECILES))
    overall = positive.mean()
    return rate, (rate / overall if overall > 0 else None)


def lead_times(panel: pd.DataFrame, positive: np.ndarray) -> LeadTimes:
    """Days from the first alert to churn, per churner alerted in its horizon."""
    rows = panel.loc[positive, ["account_id", "as_of", "churned_on", "alert"]]
    churned_accounts = int(rows["account_id"].nunique())
    alerted = rows[rows["alert"].to_numpy(dtype=bool)]
    if alerted.empty:
        return LeadTimes(churned_accounts, 0, churned_accounts, None)
    first = alerted.groupby("account_id").agg(
        first=("as_of", "min"), churned_on=("churned_on", "first")
    )
    days = (pd.to_datetime(first["churned_on"]) - pd.to_datetime(first["first"])).dt.days
    days = days.to_numpy()
    return LeadTimes(
        churned_accounts=churned_accounts,
        alerted=len(first),
        never_alerted=churned_accounts - len(first),
        median_days=float(np.median(days)),
        days=tuple(int(d) for d in np.sort(days)),
    )


def figures(
    as_of: date | None, score: np.ndarray, tier: np.ndarray, positive: np.ndarray, unscored: int
) -> Figures:
    """Every per-date (or pooled) figure over scored observations."""
    n = len(score)
    churners = int(positive.sum())
    at_risk = np.asarray(tier) == "at_risk"
    precision, recall = precision_recall(at_risk, positive)
    rate, lift = bottom_decile(score, positive)
    return Figures(
        as_of=as_of,
        observations=n,
        churners=churners,
        churn_rate=churners / n if n else None,
        auc=roc_auc(100.0 - score, positive),
        at_risk=int(at_risk.sum()),
        precision=precision,
        recall=recall,
        bottom_decile_churn_rate=rate,
        bottom_decile_lift=lift,
        unscored=unscored,
    )


def evaluate(panel: pd.DataFrame, horizon: Span) -> BacktestResult:
    """Per-date and pooled figures, lead times and deciles of a scored panel.

    ``panel`` holds only observed (uncensored) dates and at least the columns
    ``as_of``, ``account_id``, ``score``, ``tier``, ``alert`` and ``churned_on``. Rows
    without a score (no component had data) are counted as unscored and left out, as the
    scorer leaves them out of every list.
    """
    scored_mask = panel["score"].notna().to_numpy()
    labels = churn_labels(panel, horizon)
    scored = panel[scored_mask]
    positive = labels[scored_mask]
    if scored.empty:
        raise BacktestError("no account was scored on any of the as-of dates")
    score = scored["score"].to_numpy(dtype="float64")
    tier = scored["tier"].to_numpy(dtype=object)
    as_of_all = pd.to_datetime(panel["as_of"])
    unscored_by_date = (~pd.Series(scored_mask)).groupby(as_of_all.to_numpy()).sum()
    per_date: list[Figures] = []
    dates = pd.to_datetime(scored["as_of"]).to_numpy()
    for day in np.unique(as_of_all.to_numpy()):
        m = dates == day
        per_date.append(
            figures(
                pd.Timestamp(day).date(),
                score[m],
                tier[m],
                positive[m],
                int(unscored_by_date.get(day, 0)),
            )
        )
    pooled = figures(None, score, tier, positive, int((~scored_mask).sum()))
    return BacktestResult(
        per_date=tuple(per_date),
        pooled=pooled,
        lead=lead_times(scored, positive),
        deciles=tuple(decile_table(score, positive)),
    )
