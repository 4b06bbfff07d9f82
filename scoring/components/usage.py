"""Components measured from product usage: usage, feature breadth, seats and trend."""

from __future__ import annotations

from math import isfinite

import numpy as np
import pandas as pd

from pulse.kernel.config import ScoringConfig
from scoring.components.base import ComponentResult, Texts, plural, whole
from scoring.components.curves import (
    days_between,
    ramp,
    relative_curve,
    seat_curve,
    workspace_baseline,
)
from scoring.signals import (
    DEFAULT_FEATURE_WEIGHT,
    PREVIOUS_WINDOW_SLACK_DAYS,
    Signals,
    WorkspaceMeta,
    feature_weights,
)

# Usage: how often and how deeply active users use the product, against the workspace.
USAGE_FREQUENCY_SHARE = 0.4
"""Share of the usage value that comes from how often active users are active."""
USAGE_DEPTH_SHARE = 0.6
"""Share of the usage value that comes from how much they do when active."""
DEFAULT_FREQUENCY_BASELINE = 0.4
"""Share of days an active user is active, when the workspace is too small for a median."""
DEFAULT_DEPTH_BASELINE = 300.0
"""Value-weighted actions per active user a month, when too few accounts for a median."""
DEPTH_PERIOD_DAYS = 30.0
"""Depth is stated per active user per this many days ("a month")."""

BREADTH_TARGET_SHARE = 0.8
"""Value-weighted share of the feature catalogue that earns full breadth marks."""

# Trend: relative change of daily value-weighted activity, current vs previous window.
TREND_POINTS = ([-0.5, 0.0, 0.25], [0.0, 0.8, 1.0])
"""A halving scores 0, flat 0.8 (stable is good), +25% or more full marks."""


def usage_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """Frequency and depth of use by the account's active users, against the workspace.

    * frequency: average share of days each active user was active;
    * depth: value-weighted actions per active user, scaled to 30 days. Value weights make
      a login worth 0.2 and a core action 3, so 100 logins count less than 30 core actions.

    Each goes through :func:`relative_curve` against the workspace median (75% of the
    marks at the median), and ``usage = 0.4 x frequency + 0.6 x depth``. Both are measured
    only over the part of the window after contract start, so young accounts are not
    punished for days before they were customers. No activity at all is a real zero.
    """
    frame = signals.frame
    meta = signals.meta
    figures = _usage_figures(signals)
    covered, days_per_user, frequency, per_user = figures
    freq_base, depth_base = usage_baselines(signals, figures)
    freq_score = relative_curve(frequency, freq_base)
    depth_score = relative_curve(per_user, depth_base)
    value = USAGE_FREQUENCY_SHARE * freq_score + USAGE_DEPTH_SHARE * depth_score
    if not meta.has_usage:
        value = np.full(len(frame), np.nan)
    raw = pd.DataFrame(
        {
            "active_users": frame["active_users"],
            "days_covered": covered,
            "active_days_per_user": np.round(days_per_user, 1),
            "active_day_share_median": round(freq_base, 3),
            "weighted_events": np.round(frame["weighted_events"], 1),
            "weighted_per_active_user_30d": np.round(per_user, 1),
            "weighted_per_active_user_median": round(depth_base, 1),
            "core_events": frame["core_events"],
            "frequency_score": np.round(freq_score, 3),
            "depth_score": np.round(depth_score, 3),
        },
        index=frame.index,
    )

    return ComponentResult(
        "usage",
        pd.Series(value, index=frame.index),
        raw,
        lambda: _usage_texts(frame, signals.meta, days_per_user, covered, per_user, depth_base),
    )


_UsageFigures = tuple[pd.Series, pd.Series, pd.Series, pd.Series]


def _usage_figures(signals: Signals) -> _UsageFigures:
    """Per account: days of the window covered, active days per active user, frequency
    (share of covered days) and depth (value-weighted actions per active user a month)."""
    frame = signals.frame
    meta = signals.meta
    windows = meta.windows
    as_of = pd.Timestamp(windows.as_of)
    window_start = pd.Timestamp(windows.start)
    if meta.usage_first_day is not None:
        window_start = max(window_start, pd.Timestamp(meta.usage_first_day))
    starts = frame["contract_start"].where(frame["contract_start"] > window_start, window_start)
    covered = np.clip(days_between(as_of, starts) + 1, 1, windows.window_days)
    users = frame["active_users"].where(frame["active_users"] > 0)
    days_per_user = (frame["user_days"] / users).fillna(0.0)
    frequency = (days_per_user / covered).clip(upper=1.0)
    per_user = (frame["weighted_events"] / users * DEPTH_PERIOD_DAYS / covered).fillna(0.0)
    return covered, days_per_user, frequency, per_user


def usage_baselines(
    signals: Signals, figures: _UsageFigures | None = None
) -> tuple[float, float]:
    """The frequency and depth baselines the usage component measures against: those
    fixed in the workspace facts (cached by the daily run, for live rescoring), else the
    medians of the accounts of ``signals`` (:func:`workspace_baseline`)."""
    if signals.meta.usage_baselines is not None:
        return signals.meta.usage_baselines
    _, _, frequency, per_user = figures or _usage_figures(signals)
    return (
        workspace_baseline(frequency, DEFAULT_FREQUENCY_BASELINE),
        workspace_baseline(per_user, DEFAULT_DEPTH_BASELINE),
    )


def _usage_texts(
    frame: pd.DataFrame,
    meta: WorkspaceMeta,
    days_per_user: pd.Series,
    covered: pd.Series,
    per_user: pd.Series,
    depth_base: float,
) -> Texts:
    if not meta.has_usage:
        return ["no usage data"] * len(frame), None
    detail = [
        (
            f"users active {dpu:.0f} of {c:.0f} days on average; {whole(pu)} value-weighted "
            f"actions per active user a month (workspace median {whole(depth_base)}), "
            f"{plural(ce, 'core action')}"
        )
        if n > 0
        else f"no product activity in the last {meta.windows.window_days} days"
        for dpu, c, pu, ce, n in zip(
            days_per_user.tolist(),
            covered.tolist(),
            per_user.tolist(),
            frame["core_events"].tolist(),
            frame["active_users"].tolist(),
            strict=True,
        )
    ]
    reason = [
        f"users active {dpu:.0f} of {c:.0f} days, {whole(pu)} value-weighted actions "
        "each a month"
        if n > 0
        else text
        for dpu, c, pu, n, text in zip(
            days_per_user.tolist(),
            covered.tolist(),
            per_user.tolist(),
            frame["active_users"].tolist(),
            detail,
            strict=True,
        )
    ]
    return detail, reason


def breadth_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """Value-weighted share of the feature catalogue used in the window.

    The catalogue is every feature anyone in the workspace used over both windows, so it
    adapts to the product without configuration. Features count with their value weight
    (core 3, login 0.2...), so trying every minor feature does not beat adopting the core
    ones; full marks at 80% of the catalogue's weight.
    """
    frame = signals.frame
    meta = signals.meta
    weights = feature_weights(cfg)
    catalogue = meta.catalogue
    total_weight = sum(weights.get(f, DEFAULT_FEATURE_WEIGHT) for f in catalogue)
    core_total = sum(1 for f in catalogue if f in set(cfg.core_features))
    has = meta.has_usage and total_weight > 0
    used = frame["weighted_features_used"]
    share = used / total_weight if has else frame["features_used"] * np.nan
    value = ramp(share.fillna(0.0), BREADTH_TARGET_SHARE) if has else np.full(len(frame), np.nan)
    raw = pd.DataFrame(
        {
            "features_used": frame["features_used"],
            "core_features_used": frame["core_features_used"],
            "weighted_share": np.round(share, 3),
        },
        index=frame.index,
    )

    def texts() -> Texts:
        if not has:
            return ["no usage data"] * len(frame), None
        detail = [
            f"{n:.0f} of {len(catalogue)} features used, {k:.0f} of {core_total} core "
            f"(value-weighted {sh:.0%})"
            for n, k, sh in zip(
                frame["features_used"].tolist(),
                frame["core_features_used"].tolist(),
                share.fillna(0.0).tolist(),
                strict=True,
            )
        ]
        return detail, [d.split(" (value-weighted")[0] for d in detail]

    return ComponentResult("breadth", pd.Series(value, index=frame.index), raw, texts)


def seats_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """Active users / licensed seats through the risk/healthy thresholds of the config."""
    frame = signals.frame
    seats = frame["licensed_seats"]
    known = seats.notna() & (seats > 0)
    ratio = (frame["active_users"] / seats.where(known)).astype("float64")
    value = seat_curve(ratio.fillna(0.0), cfg.seat_risk_below, cfg.seat_healthy_above)
    has = known & signals.meta.has_usage
    value = np.where(has, value, np.nan)
    raw = pd.DataFrame(
        {
            "active_users": frame["active_users"],
            "licensed_seats": seats,
            "ratio": np.round(ratio, 3),
        },
        index=frame.index,
    )

    def texts() -> Texts:
        if not signals.meta.has_usage:
            return ["no usage data"] * len(frame), None
        return [
            (
                f"{a:.0f} of {n:.0f} seats active ({r:.0%})"
                if h
                else ("no usage data" if k else "no licensed seat count on file")
            )
            for a, n, r, h, k in zip(
                frame["active_users"].tolist(),
                seats.fillna(0).tolist(),
                ratio.fillna(0).tolist(),
                has.tolist(),
                known.tolist(),
                strict=True,
            )
        ], None

    return ComponentResult("seats", pd.Series(value, index=frame.index), raw, texts)


def trend_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """Change of value-weighted activity: current window vs the previous one (same length).

    ``value = interp(change, [-50%, 0, +25%], [0, 0.8, 1])``: a stable account keeps most
    of the points, a halving loses them all. No data (rather than a zero) when there is
    nothing to compare: usage history or the account is younger than the two windows, or
    there was no activity in either window.
    """
    frame = signals.frame
    meta = signals.meta
    windows = meta.windows
    curr = frame["weighted_events"]
    prev = frame["weighted_events_prev"]
    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.where(prev > 0, curr / prev.where(prev > 0, 1.0) - 1.0, np.inf)
    value = np.interp(np.clip(change, -1.0, 10.0), *TREND_POINTS)
    oldest_start = pd.Timestamp(windows.prev_start) + pd.Timedelta(days=PREVIOUS_WINDOW_SLACK_DAYS)
    old_enough = frame["contract_start"].isna() | (frame["contract_start"] <= oldest_start)
    active = (curr + prev) > 0
    has = meta.has_usage and meta.usage_covers_previous_window
    has_mask = old_enough & active & has
    value = np.where(has_mask, value, np.nan)
    change_pct = np.where(np.isfinite(change), np.round(change * 100, 1), np.nan)
    raw = pd.DataFrame(
        {
            "weighted_events_prev": np.round(prev, 1),
            "change_pct": change_pct,
        },
        index=frame.index,
    )
    days = windows.window_days

    def texts() -> Texts:
        detail = []
        for c, p, ch, old, act in zip(
            curr.tolist(),
            prev.tolist(),
            change.tolist(),
            old_enough.tolist(),
            active.tolist(),
            strict=True,
        ):
            if not meta.has_usage:
                detail.append("no usage data")
            elif not has:
                detail.append(f"usage history shorter than {2 * days} days, no trend yet")
            elif not old:
                detail.append(f"account younger than {2 * days} days, no trend yet")
            elif not act:
                detail.append(f"no activity in either of the last two {days}-day windows")
            elif not isfinite(ch):
                detail.append(
                    f"activity started this window ({whole(c)} value-weighted actions)"
                )
            else:
                direction = "flat" if abs(ch) < 0.005 else ("up" if ch > 0 else "down")
                amount = "" if direction == "flat" else f" {abs(ch):.0%}"
                detail.append(
                    f"value-weighted activity {direction}{amount} vs previous {days} days "
                    f"({whole(p)} -> {whole(c)})"
                )
        return detail, None

    return ComponentResult("trend", pd.Series(value, index=frame.index), raw, texts)
