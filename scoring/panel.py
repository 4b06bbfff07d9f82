"""The backtest panel: one row per (as-of date, live account) with the numbers scoring made.

Why a panel: the backtest and the tuner both need the component values of every account on
every past date, and re-weighting them is only :func:`~scoring.components.combine` on
those values. Reading the database once per date and keeping just the numbers lets the
tuner try dozens of weight sets in memory, and keeps the backtest free of the per-account
explanations (component JSON, reasons) that a stored snapshot needs and a figure does not.

Rows are built from the same pure functions the scorer uses (``compute_components``,
``combine``, ``compute_flags``), so a panel score equals what ``pulse score --as-of`` would
have stored for that date from the same data. One deliberate difference: the score-drop
flag is computed from the backtest's *own* previous as-of scores (:func:`score_drop_severity`)
rather than from snapshots stored in the database. Stored snapshots may have been made
with other weights, may not exist for past dates at all (history imported later), and
would make the figures depend on what happened to be stored; the panel's own sequence is
reproducible from the raw data alone and follows the weights being evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from pulse.kernel.config import ScoringConfig, TierThresholds
from scoring.components import COMPONENT_KEYS, combine, compute_components
from scoring.flags import FLAG_SPECS, compute_flags
from scoring.signals import SNAPSHOT_LOOKBACK_DAYS, Signals

VALUE_COLUMNS: tuple[str, ...] = tuple(f"value_{k}" for k in COMPONENT_KEYS)
"""Component values in [0, 1]; NaN means "no data" (left out and renormalised by combine)."""
SCORE_DROP = "score_drop"
FLAG_CODES: tuple[str, ...] = tuple(FLAG_SPECS)
FLAG_COLUMNS: tuple[str, ...] = tuple(f"flag_{c}" for c in FLAG_CODES)
"""Per flag: 0 not raised, 1 warning, 2 critical (int8, so a million rows stay small)."""
SEVERITY: dict[str, int] = {"warning": 1, "critical": 2}
CRITICAL = 2
RENEWAL_CYCLE_MONTHS = 12
"""Contracts are assumed to renew yearly when a past renewal date is reconstructed."""


def build_rows(signals: Signals, cfg: ScoringConfig) -> pd.DataFrame:
    """One date's panel rows before weighting: ids, component values, score-free flags.

    Flags are computed with the stored previous scores blanked, so ``flag_score_drop`` is
    always 0 here; :func:`rescore` fills it in from the panel's own history. Columns:
    ``as_of``, ``account_id``, :data:`VALUE_COLUMNS`, :data:`FLAG_COLUMNS`, ``segment``,
    ``arr``.
    """
    frame = signals.frame
    results = compute_components(signals, cfg)
    values = pd.DataFrame({k: r.value for k, r in results.items()}, index=frame.index)
    combined = combine(values, cfg.weights.model_dump(), cfg.tiers)
    blank = Signals(
        frame=frame.assign(prev1_score=np.nan, prev2_score=np.nan), meta=signals.meta
    )
    flags = compute_flags(blank, combined.score, cfg)
    as_of = np.datetime64(signals.meta.windows.as_of, "us")
    out = pd.DataFrame(
        {
            "as_of": np.full(len(frame), as_of),
            "account_id": frame.index.to_numpy(dtype="int64"),
        }
    )
    for key, col in zip(COMPONENT_KEYS, VALUE_COLUMNS, strict=True):
        out[col] = values[key].to_numpy(dtype="float64")
    out = pd.concat([out, flag_matrix(flags, frame.index)], axis=1)
    out["segment"] = frame["segment"].to_numpy(dtype=object)
    out["arr"] = frame["arr"].to_numpy(dtype="float64")
    return out


def renewal_as_of(renewal: pd.Series, as_of: date) -> pd.Series:
    """The renewal date an account most likely had on ``as_of``, from today's value.

    A CRM keeps only the *current* renewal date: an account that renewed after ``as_of``
    now shows next year's date, while one that churned still shows the date it left. Read
    as-is on a past date, every survivor looks far from renewal and every churner close
    to it, which is the future leaking into the score (the tuner would pile weight on
    the contract component for it). So a date more than one cycle after ``as_of`` is
    stepped back a year at a time until it is the first renewal on or after ``as_of``.
    Dates within a cycle, in the past or unknown are kept. Multi-year contracts are not
    told apart; docs/backtest.md says so.
    """
    day = pd.Timestamp(as_of)
    out = renewal.copy()
    step = pd.DateOffset(months=RENEWAL_CYCLE_MONTHS)
    while True:
        earlier = out - step
        move = (earlier >= day).fillna(False).to_numpy(dtype=bool)
        if not move.any():
            return out
        out = out.where(~move, earlier)


def with_renewals_as_of(signals: Signals) -> Signals:
    """``signals`` with :func:`renewal_as_of` applied (the backtest's default)."""
    frame = signals.frame.assign(
        renewal_date=renewal_as_of(signals.frame["renewal_date"], signals.meta.windows.as_of)
    )
    return Signals(frame=frame, meta=signals.meta, timings=signals.timings)


def flag_matrix(flags: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Long-form flags (account, code, severity) as one int8 severity column per code."""
    out = pd.DataFrame(
        np.zeros((len(index), len(FLAG_CODES)), dtype="int8"), columns=list(FLAG_COLUMNS)
    )
    if flags.empty:
        return out
    position = pd.Series(np.arange(len(index)), index=index)
    rows = position.reindex(flags["account_id"].astype("int64")).to_numpy()
    severity = flags["severity"].map(SEVERITY).fillna(1).to_numpy(dtype="int8")
    codes = {c: i for i, c in enumerate(FLAG_CODES)}
    cols = flags["code"].map(codes).to_numpy()
    matrix = out.to_numpy()
    np.maximum.at(matrix, (rows, cols), severity)
    return pd.DataFrame(matrix, columns=list(FLAG_COLUMNS))


def component_values(panel: pd.DataFrame) -> pd.DataFrame:
    """The value columns renamed to component keys, as ``combine`` expects them."""
    return panel[list(VALUE_COLUMNS)].set_axis(list(COMPONENT_KEYS), axis=1)


def score_drop_severity(
    panel: pd.DataFrame, score: pd.Series, drop_points: float
) -> np.ndarray:
    """The score-drop flag from the panel's own sequence of as-of scores.

    Same rule as :mod:`scoring.flags`: the score fell on each of the two previous as-of
    dates (previous-but-one -> previous -> now, strictly) by at least ``drop_points`` in
    total, critical at twice that; only previous scores within
    :data:`~scoring.signals.SNAPSHOT_LOOKBACK_DAYS` of the date count, as in production.
    Unscored rows are skipped, as they would have left no snapshot.
    """
    out = np.zeros(len(panel), dtype="int8")
    scored = score.notna().to_numpy()
    if not scored.any():
        return out
    sub = pd.DataFrame(
        {
            "account_id": panel["account_id"].to_numpy()[scored],
            "as_of": panel["as_of"].to_numpy()[scored],
            "score": score.to_numpy(dtype="float64")[scored],
            "pos": np.flatnonzero(scored),
        }
    ).sort_values(["account_id", "as_of"], kind="stable")
    grouped = sub.groupby("account_id", sort=False)
    horizon = np.timedelta64(SNAPSHOT_LOOKBACK_DAYS, "D")
    prev = []
    for lag in (1, 2):
        s = grouped["score"].shift(lag).to_numpy()
        day = grouped["as_of"].shift(lag).to_numpy()
        recent = (sub["as_of"].to_numpy() - day) <= horizon
        prev.append(np.where(recent, s, np.nan))
    p1, p2 = prev
    now = sub["score"].to_numpy()
    total = p2 - now
    with np.errstate(invalid="ignore"):
        raised = (p2 > p1) & (p1 > now) & (total >= drop_points)
        critical = raised & (total >= 2 * drop_points)
    severity = np.where(critical, 2, np.where(raised, 1, 0)).astype("int8")
    out[sub["pos"].to_numpy()] = severity
    return out


def rescore(
    panel: pd.DataFrame,
    weights: Mapping[str, float],
    tiers: TierThresholds,
    drop_points: float,
) -> pd.DataFrame:
    """The panel scored with ``weights``: score, tier, score-drop flag and ``alert``.

    ``alert`` is what a CSM would have been told to act on that day: the at-risk tier or
    any critical flag. Nothing but the weighting is recomputed, so trying a weight set on
    a million rows takes about a second.
    """
    combined = combine(component_values(panel), weights, tiers)
    score = combined.score.set_axis(panel.index)
    out = panel.assign(score=score, tier=combined.tier.set_axis(panel.index).to_numpy())
    out["flag_" + SCORE_DROP] = score_drop_severity(out, score, drop_points)
    critical = (out[list(FLAG_COLUMNS)].to_numpy() >= CRITICAL).any(axis=1)
    out["alert"] = (out["tier"].to_numpy() == "at_risk") | (critical & score.notna().to_numpy())
    return out
