"""Forward-looking signals: expansion potential and renewal risk.

Health answers "how is the account now"; these answer "what should the CSM do next":
grow the account (expansion) or protect the renewal. Both are transparent sums of a few
named parts so every number can be explained, and both come with their own reasons.

Expansion score (0-100), the sum of:

* **seats** (up to 40): seat use against the licence cap; 70% of the part at
  ``expansion_seat_ratio`` (default 85% of seats active), full marks at the cap;
* **growth** (up to 20): more active users than in the previous window (10, full at
  +20%) and more departments active (10, full at two more);
* **stakeholders** (up to 20): owners, admins and power users active in the window, full
  marks at three;
* **momentum** (up to 20): health score position between the at-risk and healthy
  thresholds (10) and rising activity trend (10).

An account at risk has its expansion score halved: fix health before selling more.

Renewal risk score (0-100): ``0.7 x (100 - health)`` plus up to 20 for a falling trend and
up to 25 for flags (10 per critical, 5 per warning), scaled by renewal proximity (x1 within
``renewal_window_days`` or past the date, x0.75 within twice that or unknown, x0.5 later).
The level is rule-based so it reads plainly, and the score is clamped into the level's band
(low < 40 <= medium < 70 <= high):

* **high**: at-risk tier with renewal within the window, or risk score >= 70;
* **medium**: at-risk tier (renewal further out), or renewal within the window with a
  falling trend or a critical flag, or risk score >= 40;
* **low**: everything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pulse.kernel.config import ScoringConfig
from scoring.components import Combined, ComponentResult, as_number
from scoring.signals import Signals

EXPANSION_SEAT_POINTS = 40.0
"""The seats part: seat use against the licence cap."""
EXPANSION_USER_GROWTH_POINTS = 10.0
"""The user-growth half of the growth part."""
EXPANSION_USER_GROWTH_TARGET = 0.2
"""Active users up 20% on the previous window earns the whole user-growth part."""
EXPANSION_DEPARTMENT_POINTS = 10.0
"""The department half of the growth part."""
EXPANSION_DEPARTMENT_GROWTH_TARGET = 2.0
"""Two more departments active than in the previous window earns the department part."""
EXPANSION_STAKEHOLDER_POINTS = 20.0
"""The stakeholders part."""
EXPANSION_STAKEHOLDER_TARGET = 3.0
"""Owners, admins and power users active that earn the whole stakeholders part."""
EXPANSION_HEALTH_POINTS = 10.0
"""The health half of the momentum part (score between the at-risk and healthy lines)."""
EXPANSION_TREND_POINTS = 10.0
"""The trend half of the momentum part (trend value above stable)."""
EXPANSION_AT_RISK_FACTOR = 0.5
"""An account at risk has its expansion score halved."""
TREND_STABLE_VALUE = 0.8
"""The trend component's value for flat activity (``scoring.components.usage.TREND_POINTS``):
above it activity rises, below it falls."""
TREND_RISE_RANGE = 0.2
"""Trend value above stable that earns the whole trend half of the momentum part."""
USER_GROWTH_WORTH_SAYING = 0.05
"""User growth above 5% is named among the expansion reasons."""
STAKEHOLDERS_WORTH_SAYING = 2
"""Two or more stakeholders active are named among the expansion reasons."""

RISK_HEALTH_FACTOR = 0.7
"""Renewal risk from health: this share of the points the score is below 100."""
RISK_TREND_POINTS = 20.0
"""Renewal risk added by a falling trend, all of it when activity halved."""
RISK_CRITICAL_FLAG_POINTS = 10.0
"""Renewal risk added per critical flag."""
RISK_WARNING_FLAG_POINTS = 5.0
"""Renewal risk added per warning flag."""
RISK_FLAG_CAP = 25.0
"""At most this much renewal risk comes from flags."""
RISK_PROXIMITY = {"near": 1.0, "unknown": 0.75, "later": 0.75, "far": 0.5}
"""Renewal risk scaling: within the renewal window or past the date (near), within twice
the window (later), no date on file (unknown), further out (far)."""
TREND_FALLING_BELOW = 0.5
"""A trend value below this is a falling trend (activity down by a fifth or more)."""
RISK_BANDS = {"low": (0.0, 39.9), "medium": (40.0, 69.9), "high": (70.0, 100.0)}
"""Each level's score band; a level's lower bound is also the score that reaches it."""


def _seat_curve_points(r0: float) -> tuple[list[float], list[float]]:
    """Seat-use curve for expansion: 0 well below the cap, 0.7 at ``r0``, full at the cap."""
    return [max(r0 - 0.25, 0.0), r0, max(1.0, r0 + 0.05)], [0.0, 0.7, 1.0]


def expansion(
    signals: Signals,
    results: Mapping[str, ComponentResult],
    combined: Combined,
    cfg: ScoringConfig,
) -> pd.DataFrame:
    """``expansion_score`` (0-100, 1 decimal) and ``expansion_reasons`` per account."""
    frame = signals.frame
    seats = frame["licensed_seats"].where(frame["licensed_seats"] > 0)
    ratio = (frame["active_users"] / seats).astype("float64")
    r0 = cfg.expansion_seat_ratio
    seat_part = EXPANSION_SEAT_POINTS * np.interp(ratio.fillna(0.0), *_seat_curve_points(r0))
    if not signals.meta.has_usage:
        seat_part = np.zeros(len(frame))
    prev_users = frame["active_users_prev"].where(frame["active_users_prev"] > 0)
    user_growth = (frame["active_users"] / prev_users - 1.0).fillna(0.0)
    dept_growth = frame["departments_active"] - frame["departments_active_prev"]
    growth_part = EXPANSION_USER_GROWTH_POINTS * np.clip(
        user_growth / EXPANSION_USER_GROWTH_TARGET, 0, 1
    ) + EXPANSION_DEPARTMENT_POINTS * np.clip(
        dept_growth / EXPANSION_DEPARTMENT_GROWTH_TARGET, 0, 1
    )
    stake_part = EXPANSION_STAKEHOLDER_POINTS * np.clip(
        frame["stakeholders_active"] / EXPANSION_STAKEHOLDER_TARGET, 0, 1
    )
    score = combined.score
    tiers = cfg.tiers
    health_pos = np.clip((score - tiers.at_risk) / (tiers.healthy - tiers.at_risk), 0, 1)
    trend = results["trend"].value
    trend_up = np.clip((trend - TREND_STABLE_VALUE) / TREND_RISE_RANGE, 0, 1).fillna(0.0)
    momentum_part = (
        EXPANSION_HEALTH_POINTS * health_pos.fillna(0.0) + EXPANSION_TREND_POINTS * trend_up
    )
    total = seat_part + growth_part + stake_part + momentum_part
    at_risk = combined.tier == "at_risk"
    total = np.where(at_risk, total * EXPANSION_AT_RISK_FACTOR, total)
    total = np.where(score.isna(), 0.0, total)
    columns = [
        frame["active_users"].to_numpy(),
        seats.fillna(0).to_numpy(),
        ratio.fillna(0).to_numpy(),
        frame["active_users_prev"].to_numpy(),
        user_growth.to_numpy(),
        dept_growth.to_numpy(),
        frame["departments_active"].to_numpy(),
        frame["stakeholders_active"].to_numpy(),
        health_pos.fillna(0).to_numpy(),
        score.fillna(0).to_numpy(),
        np.asarray(trend_up),
        np.asarray(results["trend"].raw["change_pct"], dtype="float64"),
        np.asarray(at_risk),
    ]
    reasons = _expansion_reasons(columns, r0, signals.meta.windows.window_days)
    return pd.DataFrame(
        {
            "expansion_score": np.round(np.clip(total, 0, 100), 1),
            "expansion_reasons": pd.Series(reasons, index=frame.index, dtype=object),
        },
        index=frame.index,
    )


def _expansion_reasons(
    columns: Sequence[np.ndarray], r0: float, window_days: int
) -> list[list[str]]:
    """Per account, what speaks for expanding it (the columns of :func:`expansion`)."""
    reasons: list[list[str]] = []
    for a, n, r, pa, ug, dg, da, st, hp, sc, tu, ch, risk in zip(
        *(c.tolist() for c in columns), strict=True
    ):
        out: list[str] = []
        if n and r >= 1.0:
            out.append(f"{a:.0f} of {n:.0f} seats active ({r:.0%}): at or over the licence cap")
        elif n and r >= r0:
            out.append(f"{a:.0f} of {n:.0f} seats active ({r:.0%}): near the licence cap")
        if ug > USER_GROWTH_WORTH_SAYING and pa:
            out.append(f"active users up {ug:.0%} ({pa:.0f} -> {a:.0f})")
        if dg > 0:
            out.append(
                f"active in {da:.0f} departments (+{dg:.0f} vs previous {window_days} days)"
            )
        if st >= STAKEHOLDERS_WORTH_SAYING:
            out.append(f"{st:.0f} owners/admins/power users active")
        if tu > 0 and not np.isnan(ch):
            out.append(f"activity up {ch:.0f}%")
        if hp >= 1:
            out.append(f"healthy score ({sc:.1f}/100)")
        if risk:
            out.append("held back: health is at risk, fix that before expanding")
        reasons.append(out)
    return reasons


def renewal_risk(
    signals: Signals,
    results: Mapping[str, ComponentResult],
    combined: Combined,
    flags: pd.DataFrame,
    cfg: ScoringConfig,
) -> pd.DataFrame:
    """``renewal_risk`` (low|medium|high), ``renewal_risk_score`` and ``renewal_reasons``."""
    frame = signals.frame
    window = float(cfg.renewal_window_days)
    to_renewal = results["contract"].raw["days_to_renewal"].astype("float64")
    within = to_renewal <= window  # past renewal dates count as within: confirm renewal
    score = combined.score
    tier = combined.tier
    trend = results["trend"].value
    trend_pen = (
        RISK_TREND_POINTS * np.clip((TREND_STABLE_VALUE - trend) / TREND_STABLE_VALUE, 0, 1)
    ).fillna(0.0)
    pos = frame.index.get_indexer(flags["account_id"].to_numpy(dtype="int64"))
    is_crit = (flags["severity"] == "critical").to_numpy(dtype=bool)
    def per_account(rows: np.ndarray) -> pd.Series:
        counts = np.bincount(rows, minlength=len(frame)).astype("float64")
        return pd.Series(counts, index=frame.index)

    crit = per_account(pos[is_crit])
    warn = per_account(pos[~is_crit])
    flag_pen = np.minimum(
        RISK_FLAG_CAP, RISK_CRITICAL_FLAG_POINTS * crit + RISK_WARNING_FLAG_POINTS * warn
    )
    raw = RISK_HEALTH_FACTOR * (100.0 - score) + trend_pen + flag_pen
    proximity = np.where(
        within,
        RISK_PROXIMITY["near"],
        np.where(to_renewal <= 2 * window, RISK_PROXIMITY["later"], RISK_PROXIMITY["far"]),
    )
    proximity = np.where(to_renewal.isna(), RISK_PROXIMITY["unknown"], proximity)
    risk = np.clip(raw * proximity, 0, 100)
    falling = (trend < TREND_FALLING_BELOW).fillna(False)
    at_risk = tier == "at_risk"
    high = (at_risk & within) | (risk >= RISK_BANDS["high"][0])
    worrying = within & (falling | (crit > 0))
    medium = ~high & (at_risk | worrying | (risk >= RISK_BANDS["medium"][0]))
    level = pd.Series(np.where(high, "high", np.where(medium, "medium", "low")), index=frame.index)
    lo = level.map({k: v[0] for k, v in RISK_BANDS.items()})
    hi = level.map({k: v[1] for k, v in RISK_BANDS.items()})
    banded = np.round(np.clip(risk, lo, hi), 1)
    level = level.where(score.notna(), "unknown")
    banded = banded.where(score.notna())
    change = np.asarray(results["trend"].raw["change_pct"], dtype="float64")
    columns = [level, to_renewal, tier, score, falling, change, crit, warn]
    return pd.DataFrame(
        {
            "renewal_risk": level,
            "renewal_risk_score": banded,
            "renewal_reasons": pd.Series(
                _renewal_reasons(columns, window), index=frame.index, dtype=object
            ),
        },
        index=frame.index,
    )


def _renewal_reasons(columns: Sequence[Any], window: float) -> list[list[str]]:
    """Per account, why its renewal is at the risk it is (the columns of :func:`renewal_risk`)."""
    reasons: list[list[str]] = []
    for lv, d, t, sc, fal, ch, c, wn in zip(*(c.tolist() for c in columns), strict=True):
        out: list[str] = []
        if lv == "unknown":
            reasons.append(out)
            continue
        if np.isnan(d):
            out.append("no renewal date on file")
        elif d < 0:
            out.append(f"renewal date passed {-d:.0f} days ago: confirm the renewal")
        elif d <= window:
            out.append(f"renewal in {d:.0f} days")
        if t == "at_risk":
            out.append(f"health at risk ({sc:.1f}/100)")
        elif t == "healthy" and lv == "low":
            out.append(f"healthy score ({sc:.1f}/100)")
        if fal and not np.isnan(ch):
            out.append(f"activity down {-ch:.0f}%")
        if c:
            out.append(f"{c:.0f} critical flag{'s' if c != 1 else ''}")
        elif wn:
            out.append(f"{wn:.0f} warning flag{'s' if wn != 1 else ''}")
        reasons.append(out)
    return reasons


STRONG_COMPONENT_VALUE = 0.8
"""A component at this share of its full marks or more is named as a strength when an
expansion candidate has no seat or growth signal to show."""
STRONG_COMPONENTS_NAMED = 2
"""At most this many strong components are named as an expansion candidate's reason."""


def expansion_signals(components: Sequence[Mapping[str, Any]], seat_ratio: float) -> list[str]:
    """What speaks for expanding an account, read from its stored component entries
    (``ScoreSnapshot.components``): seats near or over the licence cap, rising activity,
    else its strongest components. Never the expansion score itself (that is the number
    these explain)."""
    by_key = {c.get("key"): c for c in components if c.get("has_data")}
    out: list[str] = []
    seats = by_key.get("seats") or {}
    ratio = as_number((seats.get("raw") or {}).get("ratio"))
    if ratio is not None and ratio >= seat_ratio:
        cap = "at or over the licence cap" if ratio >= 1.0 else "near the licence cap"
        out.append(f"{seats.get('detail')}: {cap}")
    trend = by_key.get("trend") or {}
    change = as_number((trend.get("raw") or {}).get("change_pct"))
    if change is not None and change > 0:
        out.append(f"activity up {change:.0f}% on the previous window")
    if out:
        return out
    def value(c: Mapping[str, Any]) -> float:
        return as_number(c.get("value")) or 0.0

    strong = sorted(
        (c for c in by_key.values() if value(c) >= STRONG_COMPONENT_VALUE), key=lambda c: -value(c)
    )[:STRONG_COMPONENTS_NAMED]
    return [
        f"strong {str(c.get('label', c.get('key'))).lower()}: {c.get('detail')}" for c in strong
    ]
