"""The small curves that turn raw figures into values in [0, 1]."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

MIN_BASELINE_ACCOUNTS = 20
"""Below this many active accounts the workspace median is too noisy: use the defaults."""
NPS_POINTS = ([0.0, 6.0, 7.0, 8.0, 9.0, 10.0], [0.0, 0.4, 0.7, 0.8, 1.0, 1.0])
"""Detractors (0-6) score 0-0.4, passives 0.7-0.8, promoters full marks."""
NPS_PROMOTER_FROM = 9
"""NPS answers from 9 up are promoters."""
NPS_PASSIVE_FROM = 7
"""NPS answers of 7 and 8 are passives; below, detractors."""


def ramp(x: pd.Series | np.ndarray, target: float) -> np.ndarray:
    """Linear from 0 to 1 at ``target``, flat after: "full marks at target"."""
    return np.clip(np.asarray(x, dtype="float64") / target, 0.0, 1.0)


def seat_curve(
    ratio: pd.Series | np.ndarray, risk_below: float, healthy_above: float
) -> np.ndarray:
    """Piecewise linear: 0 seats -> 0, ``risk_below`` -> 0.5, ``healthy_above`` and up -> 1."""
    arr = np.asarray(ratio, dtype="float64")
    return np.interp(arr, [0.0, risk_below, healthy_above], [0.0, 0.5, 1.0])


def nps_value(score: pd.Series | np.ndarray) -> np.ndarray:
    arr = np.asarray(score, dtype="float64")
    out = np.interp(np.nan_to_num(arr), *NPS_POINTS)
    return np.where(np.isnan(arr), np.nan, out)


def nps_category(score: float) -> str:
    if score >= NPS_PROMOTER_FROM:
        return "promoter"
    if score >= NPS_PASSIVE_FROM:
        return "passive"
    return "detractor"


def weighted_mean(parts: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Mean of the available (non-NaN) parts, weights renormalised; NaN when none."""
    num = np.zeros(len(next(iter(parts.values()))))
    den = np.zeros_like(num)
    for name, arr in parts.items():
        ok = ~np.isnan(arr)
        num += np.where(ok, arr, 0.0) * weights[name]
        den += ok * weights[name]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def days_between(later: pd.Timestamp | pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.days.astype("float64")


def workspace_baseline(values: pd.Series, default: float) -> float:
    """Median over accounts with activity; ``default`` when too few accounts to say.

    Usage is judged against the workspace's own typical account because what "a lot of
    use" means differs by orders of magnitude between products; a fixed constant would be
    right for one product and wrong for the rest.
    """
    values = values[np.isfinite(values) & (values > 0)]
    if len(values) < MIN_BASELINE_ACCOUNTS:
        return default
    return float(values.median())


def relative_curve(x: pd.Series | np.ndarray, baseline: float) -> np.ndarray:
    """``1 - 4**(-x / baseline)``: half marks at half the baseline, 75% at it, 94% at twice."""
    arr = np.clip(np.asarray(x, dtype="float64"), 0.0, None)
    return 1.0 - np.power(4.0, -arr / max(baseline, 1e-9))
