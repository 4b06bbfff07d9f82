"""Combining component values into points, a score and a tier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pulse.kernel.config import TierThresholds
from scoring.components.base import COMPONENT_KEYS
from scoring.signals import Signals


@dataclass
class Combined:
    """Weighted combination of the component values, rounded so points add up exactly."""

    values: pd.DataFrame
    has_data: pd.DataFrame
    effective_weights: pd.DataFrame
    points: pd.DataFrame
    score: pd.Series
    tier: pd.Series
    thresholds: TierThresholds
    """The cut-offs the tiers were assigned with (:func:`portfolio_thresholds`)."""


def pinned_scores(frame: pd.DataFrame) -> pd.Series:
    """Each account's score as a CSM's score override pins it, to a tenth (NaN: none)."""
    return frame["csm_score"].where(frame["csm_kind"] == "score").round(1)


def apply_score_overrides(combined: Combined, signals: Signals) -> None:
    """Pin the score of accounts with a CSM score override, in place (tiered with the
    run's cut-offs).

    The data's points stay as computed and the ``csm`` component gets the difference
    (override minus data score), so "the points add up to the score" still holds and the
    explanation shows both: "CSM: score set to 45 ... (-27.4)".
    """
    pinned = pinned_scores(signals.frame)
    mask = pinned.notna() & combined.score.notna()
    if not mask.any():
        return
    target = pinned[mask]
    adjust = (target - combined.score[mask]).round(1)
    combined.points.loc[mask, "csm"] = adjust
    combined.has_data.loc[mask, "csm"] = True
    combined.score.loc[mask] = target
    combined.tier.loc[mask] = assign_tier(target, combined.thresholds)


def round_points(raw_points: np.ndarray) -> np.ndarray:
    """Round each row to tenths so the rounded points sum to the rounded total (largest
    remainder), so "points add up to the score" holds exactly in every explanation."""
    tenths = np.asarray(raw_points, dtype="float64") * 10.0
    floors = np.floor(tenths + 1e-9)
    remainders = tenths - floors
    target = np.floor(tenths.sum(axis=1) + 0.5 + 1e-9)
    extra = (target - floors.sum(axis=1)).astype(int)
    floors += remainder_ranks(remainders) < extra[:, None]
    return floors / 10.0


def remainder_ranks(remainders: np.ndarray) -> np.ndarray:
    """Each entry's place in its row, largest remainder first, ties in column order: the
    ranks a stable row-wise ``argsort`` of ``-remainders`` gives, counted column against
    column. Rows have a few columns (the components) and a backtest panel a million rows:
    the argsort and the scatter of its ranks took 0.5-1.2 s CPU there, this 0.26 s
    (docs/performance.md)."""
    columns = np.ascontiguousarray(remainders.T)
    ranks = np.zeros(columns.shape, dtype=np.int64)
    for j, mine in enumerate(columns):
        for k, theirs in enumerate(columns):
            if k != j:  # an equal remainder in an earlier column ranks ahead
                ranks[j] += (theirs >= mine) if k < j else (theirs > mine)
    return ranks.T


def portfolio_thresholds(score: pd.Series, tiers: TierThresholds) -> TierThresholds:
    """The cut-offs of a run: ``tiers`` as configured, or in ``shares`` mode the scores
    that put the lowest ``at_risk_share`` of the scored accounts at risk and the highest
    ``healthy_share`` healthy. Accounts with equal scores share a tier, so a tie at a
    cut-off can make a tier a little smaller (at risk) or larger (healthy) than its share.
    """
    if tiers.mode != "shares":
        return tiers
    ranked = np.sort(score.dropna().to_numpy(dtype="float64"))
    n = len(ranked)
    if n == 0:
        return tiers
    at_risk_n = int(np.floor(tiers.at_risk_share * n + 1e-9))
    healthy_n = int(np.floor(tiers.healthy_share * n + 1e-9))
    at_risk = float(ranked[at_risk_n]) if at_risk_n < n else np.inf
    healthy = float(ranked[n - healthy_n]) if healthy_n > 0 else np.inf
    # built without validation: the cut-offs of one run may coincide or lie past 100
    return TierThresholds.model_construct(
        mode="thresholds", healthy=max(healthy, at_risk), at_risk=at_risk,
        at_risk_share=tiers.at_risk_share, healthy_share=tiers.healthy_share,
    )


def assign_tier(score: pd.Series, tiers: TierThresholds) -> pd.Series:
    """healthy >= tiers.healthy, fine >= tiers.at_risk, else at_risk; no score -> no_data."""
    out = np.select(
        [score.isna(), score >= tiers.healthy, score >= tiers.at_risk],
        ["no_data", "healthy", "fine"],
        default="at_risk",
    )
    return pd.Series(out, index=score.index, dtype=object)


def combine(values: pd.DataFrame, weights: Mapping[str, float], tiers: TierThresholds) -> Combined:
    """Points = value x weight / (sum of weights of components with data) x 100.

    Components without data get no points and no weight, so the score stays on a 0-100
    scale measured over what is known. The score is the sum of the rounded points.
    """
    keys = [k for k in COMPONENT_KEYS if k in values.columns]
    vals = values[keys].astype("float64")
    w = np.array([float(weights.get(k, 0.0)) for k in keys])
    has = vals.notna().to_numpy()
    avail = has * w[None, :]
    total = avail.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        eff = np.where(total[:, None] > 0, avail / np.where(total > 0, total, 1.0)[:, None], 0.0)
    raw_points = np.nan_to_num(vals.to_numpy()) * eff * 100.0
    points = round_points(raw_points)
    score = pd.Series(points.sum(axis=1), index=vals.index).round(1)
    score = score.where(total > 0)
    cutoffs = portfolio_thresholds(score, tiers)
    return Combined(
        values=vals,
        has_data=pd.DataFrame(has, index=vals.index, columns=keys),
        effective_weights=pd.DataFrame(eff, index=vals.index, columns=keys),
        points=pd.DataFrame(points, index=vals.index, columns=keys),
        score=score,
        tier=assign_tier(score, cutoffs),
        thresholds=cutoffs,
    )
