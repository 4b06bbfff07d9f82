"""Health components: raw signals -> normalised values in [0, 1] -> points -> score.

Every component is a pure, vectorised function of the per-account signal frame. Each
returns a value in ``[0, 1]`` or ``NaN`` when the account (or the workspace) has no data
for it, the raw figures behind the value, and a one-line human ``detail``. Curves are
deliberately simple (ramps and half-saturation) so that a CSM can be told exactly why a
number is what it is: "half marks at 60 value-weighted actions per active user a month".

Missing data is never a silent zero: :func:`combine` leaves components without data out
and renormalises the weights of the rest, and the detail text says what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pulse.kernel.config import ScoringConfig, TierThresholds
from scoring.signals import TICKET_LOOKBACK_DAYS, Signals, feature_weights

COMPONENT_KEYS: tuple[str, ...] = (
    "usage",
    "breadth",
    "seats",
    "engagement",
    "contract",
    "trend",
    "csm",
)
COMPONENT_LABELS: dict[str, str] = {
    "usage": "Usage",
    "breadth": "Feature breadth",
    "seats": "Seats",
    "engagement": "Engagement",
    "contract": "Contract",
    "trend": "Trend",
    "csm": "CSM",
}
DATA_COMPONENT_KEYS: tuple[str, ...] = tuple(k for k in COMPONENT_KEYS if k != "csm")
"""Components measured from data (what backtests and weight tuning fit)."""
OPTIONAL_COMPONENTS: frozenset[str] = frozenset({"csm"})
"""Shown only where present: "no CSM sentiment" is the normal case, not missing data."""
SENTIMENT_VALUES: dict[str, float] = {"green": 1.0, "yellow": 0.5, "red": 0.0}

# Usage: how often and how deeply active users use the product, against the workspace.
USAGE_FREQUENCY_SHARE = 0.4
USAGE_DEPTH_SHARE = 0.6
MIN_BASELINE_ACCOUNTS = 20
"""Below this many active accounts the workspace median is too noisy: use the defaults."""
DEFAULT_FREQUENCY_BASELINE = 0.4
"""Share of days an active user is active, when the workspace is too small for a median."""
DEFAULT_DEPTH_BASELINE = 300.0
"""Value-weighted actions per active user a month, when too few accounts for a median."""

BREADTH_TARGET_SHARE = 0.8
"""Value-weighted share of the feature catalogue that earns full breadth marks."""

# Engagement sub-signals and their relative weights (renormalised over what is on file).
ENGAGEMENT_PARTS: dict[str, float] = {"support": 0.4, "nps": 0.4, "csat": 0.2}
SUPPORT_PENALTY_OPEN_URGENT = 0.2
SUPPORT_PENALTY_BAD_SATISFACTION = 0.15
SUPPORT_PENALTY_NEGATIVE_SENTIMENT = 0.15
NPS_POINTS = ([0.0, 6.0, 7.0, 8.0, 9.0, 10.0], [0.0, 0.4, 0.7, 0.8, 1.0, 1.0])
"""Detractors (0-6) score 0-0.4, passives 0.7-0.8, promoters full marks."""

# Contract sub-signals.
CONTRACT_PARTS: dict[str, float] = {"invoices": 0.5, "renewal": 0.25, "lifecycle": 0.25}
INVOICE_ZERO_DAYS = 60.0
"""Days overdue at which the invoice sub-score reaches zero (half at 30)."""
RENEWAL_IMMINENT_VALUE = 0.6
"""Renewal sub-score on renewal day; rises linearly to 1 at ``renewal_window_days`` out."""
RENEWAL_PASSED_VALUE = 0.5
"""Renewal date in the past with no new date on file: renewal status needs confirming."""
LIFECYCLE_VALUES: dict[str, float] = {"paid": 1.0, "trial": 0.6, "churned": 1.0}
"""``churned`` only appears when scoring a date before the churn, when it was still paying."""

# Trend: relative change of daily value-weighted activity, current vs previous window.
TREND_POINTS = ([-0.5, 0.0, 0.25], [0.0, 0.8, 1.0])
"""A halving scores 0, flat 0.8 (stable is good), +25% or more full marks."""


Texts = tuple[Sequence[str], Sequence[str] | None]
"""Per account, in the frame's order: the detail line, and the shorter reason for the top
reasons (None: the detail serves as reason)."""


@dataclass
class ComponentResult:
    """One component for every account: value (NaN = no data), raw figures, texts.

    The texts are written on first use (``texts`` builds them): explaining an account
    reads them, while a backtest scoring 100,000 accounts on a dozen dates reads none, and
    writing them was most of the components' time there (docs/performance.md).
    """

    key: str
    value: pd.Series
    raw: pd.DataFrame
    texts: Callable[[], Texts]
    _written: tuple[pd.Series, pd.Series] | None = field(default=None, init=False, repr=False)

    @property
    def label(self) -> str:
        return COMPONENT_LABELS[self.key]

    @property
    def detail(self) -> pd.Series:
        return self._write()[0]

    @property
    def reason_text(self) -> pd.Series:
        """Shorter text for the top reasons (the detail when there is none)."""
        return self._write()[1]

    def _write(self) -> tuple[pd.Series, pd.Series]:
        if self._written is None:
            detail, reason = self.texts()
            index = self.value.index
            lines = pd.Series(list(detail), index=index, dtype=object)
            short = lines if reason is None else pd.Series(list(reason), index=index, dtype=object)
            self._written = (lines, short)
        return self._written


@dataclass
class Combined:
    """Weighted combination of the component values, rounded so points add up exactly."""

    values: pd.DataFrame
    has_data: pd.DataFrame
    effective_weights: pd.DataFrame
    points: pd.DataFrame
    score: pd.Series
    tier: pd.Series


# ---------------------------------------------------------------------------------------
# Small curves


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
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


def _weighted_mean(parts: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Mean of the available (non-NaN) parts, weights renormalised; NaN when none."""
    num = np.zeros(len(next(iter(parts.values()))))
    den = np.zeros_like(num)
    for name, arr in parts.items():
        ok = ~np.isnan(arr)
        num += np.where(ok, arr, 0.0) * weights[name]
        den += ok * weights[name]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _days_between(later: pd.Timestamp | pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.days.astype("float64")


def _fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def _plural(n: float, word: str, plural: str | None = None) -> str:
    return f"{n:,.0f} {word if n == 1 else (plural or word + 's')}"


# ---------------------------------------------------------------------------------------
# Components


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
    s = signals.frame
    meta = signals.meta
    w = meta.windows
    as_of = pd.Timestamp(w.as_of)
    window_start = pd.Timestamp(w.start)
    if meta.usage_first_day is not None:
        window_start = max(window_start, pd.Timestamp(meta.usage_first_day))
    starts = s["contract_start"].where(s["contract_start"] > window_start, window_start)
    covered = np.clip(_days_between(as_of, starts) + 1, 1, w.window_days)
    users = s["active_users"].where(s["active_users"] > 0)
    days_per_user = (s["user_days"] / users).fillna(0.0)
    frequency = (days_per_user / covered).clip(upper=1.0)
    per_user = (s["weighted_events"] / users * 30.0 / covered).fillna(0.0)
    freq_base = workspace_baseline(frequency, DEFAULT_FREQUENCY_BASELINE)
    depth_base = workspace_baseline(per_user, DEFAULT_DEPTH_BASELINE)
    freq_score = relative_curve(frequency, freq_base)
    depth_score = relative_curve(per_user, depth_base)
    value = USAGE_FREQUENCY_SHARE * freq_score + USAGE_DEPTH_SHARE * depth_score
    if not meta.has_usage:
        value = np.full(len(s), np.nan)
    raw = pd.DataFrame(
        {
            "active_users": s["active_users"],
            "days_covered": covered,
            "active_days_per_user": np.round(days_per_user, 1),
            "active_day_share_median": round(freq_base, 3),
            "weighted_events": np.round(s["weighted_events"], 1),
            "weighted_per_active_user_30d": np.round(per_user, 1),
            "weighted_per_active_user_median": round(depth_base, 1),
            "core_events": s["core_events"],
            "frequency_score": np.round(freq_score, 3),
            "depth_score": np.round(depth_score, 3),
        },
        index=s.index,
    )

    def texts() -> Texts:
        if not meta.has_usage:
            return ["no usage data"] * len(s), None
        detail = [
            (
                f"users active {dpu:.0f} of {c:.0f} days on average; {_fmt_int(pu)} value-weighted "
                f"actions per active user a month (workspace median {_fmt_int(depth_base)}), "
                f"{_plural(ce, 'core action')}"
            )
            if n > 0
            else f"no product activity in the last {w.window_days} days"
            for dpu, c, pu, ce, n in zip(
                days_per_user, covered, per_user, s["core_events"], s["active_users"], strict=True
            )
        ]
        reason = [
            f"users active {dpu:.0f} of {c:.0f} days, {_fmt_int(pu)} value-weighted actions "
            "each a month"
            if n > 0
            else text
            for dpu, c, pu, n, text in zip(
                days_per_user, covered, per_user, s["active_users"], detail, strict=True
            )
        ]
        return detail, reason

    return ComponentResult("usage", pd.Series(value, index=s.index), raw, texts)


def breadth_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """Value-weighted share of the feature catalogue used in the window.

    The catalogue is every feature anyone in the workspace used over both windows, so it
    adapts to the product without configuration. Features count with their value weight
    (core 3, login 0.2...), so trying every minor feature does not beat adopting the core
    ones; full marks at 80% of the catalogue's weight.
    """
    s = signals.frame
    meta = signals.meta
    weights = feature_weights(cfg)
    catalogue = meta.catalogue
    total_weight = sum(weights.get(f, 1.0) for f in catalogue)
    core_total = sum(1 for f in catalogue if f in set(cfg.core_features))
    has = meta.has_usage and total_weight > 0
    share = s["weighted_features_used"] / total_weight if has else s["features_used"] * np.nan
    value = ramp(share.fillna(0.0), BREADTH_TARGET_SHARE) if has else np.full(len(s), np.nan)
    raw = pd.DataFrame(
        {
            "features_used": s["features_used"],
            "core_features_used": s["core_features_used"],
            "weighted_share": np.round(share, 3),
        },
        index=s.index,
    )

    def texts() -> Texts:
        if not has:
            return ["no usage data"] * len(s), None
        detail = [
            f"{n:.0f} of {len(catalogue)} features used, {k:.0f} of {core_total} core "
            f"(value-weighted {sh:.0%})"
            for n, k, sh in zip(
                s["features_used"], s["core_features_used"], share.fillna(0.0), strict=True
            )
        ]
        return detail, [d.split(" (value-weighted")[0] for d in detail]

    return ComponentResult("breadth", pd.Series(value, index=s.index), raw, texts)


def seats_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """Active users / licensed seats through the risk/healthy thresholds of the config."""
    s = signals.frame
    seats = s["licensed_seats"]
    known = seats.notna() & (seats > 0)
    ratio = (s["active_users"] / seats.where(known)).astype("float64")
    value = seat_curve(ratio.fillna(0.0), cfg.seat_risk_below, cfg.seat_healthy_above)
    has = known & signals.meta.has_usage
    value = np.where(has, value, np.nan)
    raw = pd.DataFrame(
        {
            "active_users": s["active_users"],
            "licensed_seats": seats,
            "ratio": np.round(ratio, 3),
        },
        index=s.index,
    )

    def texts() -> Texts:
        if not signals.meta.has_usage:
            return ["no usage data"] * len(s), None
        return [
            (
                f"{a:.0f} of {n:.0f} seats active ({r:.0%})"
                if h
                else ("no usage data" if k else "no licensed seat count on file")
            )
            for a, n, r, h, k in zip(
                s["active_users"], seats.fillna(0), ratio.fillna(0), has, known, strict=True
            )
        ], None

    return ComponentResult("seats", pd.Series(value, index=s.index), raw, texts)


def engagement_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """Support health, latest NPS and CSAT, renormalised over what is on file.

    Definition for accounts with no tickets and no surveys: "no tickets" is a real,
    fine signal (support part = 1) when the workspace has a support source at all, but
    NPS and CSAT are left out and the detail says "no NPS on file" / "no CSAT on file".
    Without any support or survey source the component has no data.
    """
    s = signals.frame
    meta = signals.meta
    penalty = (
        SUPPORT_PENALTY_OPEN_URGENT * s["open_urgent_high"]
        + SUPPORT_PENALTY_BAD_SATISFACTION * s["bad_satisfaction_90d"]
        + SUPPORT_PENALTY_NEGATIVE_SENTIMENT * s["negative_sentiment_90d"]
    )
    support = np.clip(1.0 - penalty.to_numpy(dtype="float64"), 0.0, 1.0)
    if not meta.has_tickets:
        support = np.full(len(s), np.nan)
    nps = nps_value(s["nps_latest"])
    csat = ((s["csat_avg"] - 1.0) / 4.0).clip(0.0, 1.0).to_numpy(dtype="float64")
    value = _weighted_mean({"support": support, "nps": nps, "csat": csat}, ENGAGEMENT_PARTS)
    raw = pd.DataFrame(
        {
            "tickets_90d": s["tickets_90d"],
            "open_urgent_high": s["open_urgent_high"],
            "new_urgent_high": s["new_urgent_high"],
            "bad_satisfaction_90d": s["bad_satisfaction_90d"],
            "negative_sentiment_90d": s["negative_sentiment_90d"],
            "nps_latest": s["nps_latest"],
            "nps_latest_on": s["nps_latest_at"].dt.strftime("%Y-%m-%d"),
            "csat_avg": np.round(s["csat_avg"], 2),
            "csat_responses": s["csat_responses"],
            "support_score": np.round(support, 3),
            "nps_score": np.round(nps, 3),
            "csat_score": np.round(csat, 3),
        },
        index=s.index,
    )

    def support_text(t: float, o: float, b: float, n: float) -> str:
        if not meta.has_tickets:
            return "no support data"
        if t == 0 and o == 0:
            return f"no tickets in {TICKET_LOOKBACK_DAYS} days"
        bits = [_plural(t, "ticket") + f" in {TICKET_LOOKBACK_DAYS} days"]
        if o:
            bits.append(f"{o:.0f} open urgent/high")
        if b:
            bits.append(f"{b:.0f} rated bad")
        if n:
            bits.append(f"{n:.0f} with negative sentiment")
        return ", ".join(bits)

    def texts() -> Texts:
        detail = []
        reason = []
        for t, o, b, n, score, csat_avg, csat_n in zip(
            s["tickets_90d"],
            s["open_urgent_high"],
            s["bad_satisfaction_90d"],
            s["negative_sentiment_90d"],
            s["nps_latest"],
            s["csat_avg"],
            s["csat_responses"],
            strict=True,
        ):
            nps_text = (
                "no NPS on file"
                if np.isnan(score)
                else f"latest NPS {score:.0f} ({nps_category(score)})"
            )
            csat_text = (
                "no CSAT on file"
                if np.isnan(csat_avg)
                else f"CSAT {csat_avg:.1f}/5 ({_plural(csat_n, 'response')})"
            )
            detail.append("; ".join((support_text(t, o, b, n), nps_text, csat_text)))
            problems = [
                f"{o:.0f} open urgent/high ticket{'s' if o != 1 else ''}" if o else "",
                f"{b:.0f} ticket{'s' if b != 1 else ''} rated bad" if b else "",
                f"{n:.0f} negative-sentiment ticket{'s' if n != 1 else ''}" if n else "",
                nps_text if not np.isnan(score) else "",
                f"CSAT {csat_avg:.1f}/5" if not np.isnan(csat_avg) else "",
            ]
            short = ", ".join(p for p in problems if p)
            reason.append(short or support_text(t, o, b, n))
        return detail, reason

    return ComponentResult("engagement", pd.Series(value, index=s.index), raw, texts)


def contract_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """Overdue invoices, renewal proximity and lifecycle (trial scores below paid).

    Renewal proximity is a mild factor (0.6 on renewal day) because less time to fix
    problems is a risk in itself; the lifecycle is always known, so the component always
    has data, with a missing renewal date renormalised away and said in the detail.
    """
    s = signals.frame
    as_of = pd.Timestamp(signals.meta.windows.as_of)
    days_overdue = _days_between(as_of, s["oldest_overdue_due_on"]).fillna(0.0).clip(lower=0)
    invoice = np.clip(1.0 - days_overdue.to_numpy() / INVOICE_ZERO_DAYS, 0.0, 1.0)
    to_renewal = _days_between(s["renewal_date"], pd.Series(as_of, index=s.index))
    renewal = np.interp(
        to_renewal.fillna(0.0).clip(lower=0),
        [0.0, float(cfg.renewal_window_days)],
        [RENEWAL_IMMINENT_VALUE, 1.0],
    )
    renewal = np.where(to_renewal < 0, RENEWAL_PASSED_VALUE, renewal)
    renewal = np.where(to_renewal.isna(), np.nan, renewal)
    lifecycle = s["lifecycle"].map(LIFECYCLE_VALUES).fillna(1.0).to_numpy(dtype="float64")
    value = _weighted_mean(
        {"invoices": invoice, "renewal": renewal, "lifecycle": lifecycle}, CONTRACT_PARTS
    )
    raw = pd.DataFrame(
        {
            "days_to_renewal": to_renewal,
            "overdue_invoices": s["overdue_invoices"],
            "max_days_overdue": days_overdue,
            "overdue_amount": np.round(s["overdue_amount"], 2),
            "lifecycle": s["lifecycle"],
            "invoice_score": np.round(invoice, 3),
            "renewal_score": np.round(renewal, 3),
            "lifecycle_score": np.round(lifecycle, 3),
        },
        index=s.index,
    )
    window = cfg.renewal_window_days

    def texts() -> Texts:
        detail = []
        reason = []
        for r, n, d, amt, life in zip(
            to_renewal,
            s["overdue_invoices"],
            days_overdue,
            s["overdue_amount"],
            s["lifecycle"],
            strict=True,
        ):
            if np.isnan(r):
                renewal_text = "no renewal date on file"
            elif r < 0:
                renewal_text = f"renewal date passed {-r:.0f} days ago"
            else:
                renewal_text = f"renewal in {r:.0f} days"
            if n > 0:
                invoice_text = (
                    f"{_plural(n, 'invoice')} overdue, oldest {d:.0f} days (${amt:,.0f})"
                )
            else:
                invoice_text = "no overdue invoices"
            detail.append(f"{renewal_text}; {invoice_text}; {life}")
            notable = [
                invoice_text if n > 0 else "",
                renewal_text if np.isnan(r) or r <= window else "",
                "still in trial" if life == "trial" else "",
            ]
            reason.append(
                ", ".join(x for x in notable if x) or f"{invoice_text}, {renewal_text}"
            )
        return detail, reason

    return ComponentResult("contract", pd.Series(value, index=s.index), raw, texts)


def trend_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """Change of value-weighted activity: current window vs the previous one (same length).

    ``value = interp(change, [-50%, 0, +25%], [0, 0.8, 1])``: a stable account keeps most
    of the points, a halving loses them all. No data (rather than a zero) when there is
    nothing to compare: usage history or the account is younger than the two windows, or
    there was no activity in either window.
    """
    s = signals.frame
    meta = signals.meta
    w = meta.windows
    curr = s["weighted_events"]
    prev = s["weighted_events_prev"]
    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.where(prev > 0, curr / prev.where(prev > 0, 1.0) - 1.0, np.inf)
    value = np.interp(np.clip(change, -1.0, 10.0), *TREND_POINTS)
    old_enough = s["contract_start"].isna() | (
        s["contract_start"] <= pd.Timestamp(w.prev_start) + pd.Timedelta(days=7)
    )
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
        index=s.index,
    )
    def texts() -> Texts:
        detail = []
        for c, p, ch, old, act in zip(curr, prev, change, old_enough, active, strict=True):
            if not meta.has_usage:
                detail.append("no usage data")
            elif not has:
                detail.append(f"usage history shorter than {2 * w.window_days} days, no trend yet")
            elif not old:
                detail.append(f"account younger than {2 * w.window_days} days, no trend yet")
            elif not act:
                detail.append(f"no activity in either of the last two {w.window_days}-day windows")
            elif not np.isfinite(ch):
                detail.append(
                    f"activity started this window ({_fmt_int(c)} value-weighted actions)"
                )
            else:
                direction = "flat" if abs(ch) < 0.005 else ("up" if ch > 0 else "down")
                amount = "" if direction == "flat" else f" {abs(ch):.0%}"
                detail.append(
                    f"value-weighted activity {direction}{amount} vs previous {w.window_days} days "
                    f"({_fmt_int(p)} -> {_fmt_int(c)})"
                )
        return detail, None

    return ComponentResult("trend", pd.Series(value, index=s.index), raw, texts)


def csm_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """The CSM's recorded sentiment as a component: green 1, yellow 0.5, red 0.

    A score override is not a weighted value (it pins the score): its value stays NaN
    here and :func:`apply_score_overrides` adds the difference as this component's points.
    """
    del cfg
    s = signals.frame
    kind = s["csm_kind"]
    sentiment = s["csm_sentiment"].map(SENTIMENT_VALUES)
    value = sentiment.where(kind == "sentiment").astype("float64")
    raw = pd.DataFrame(
        {
            "kind": kind,
            "sentiment": s["csm_sentiment"],
            "score": s["csm_score"],
            "reason": s["csm_reason"],
            "author": s["csm_author"],
            "until": pd.Series(
                [
                    d.date().isoformat() if isinstance(d, pd.Timestamp) else None
                    for d in s["csm_until"]
                ],
                index=s.index,
                dtype=object,
            ),
        },
        index=s.index,
    )

    def texts() -> Texts:
        return [
            _csm_text(k, sen, sc, why, who, until)
            for k, sen, sc, why, who, until in zip(
                kind,
                s["csm_sentiment"],
                s["csm_score"],
                s["csm_reason"],
                s["csm_author"],
                s["csm_until"],
                strict=True,
            )
        ], None

    return ComponentResult("csm", value, raw, texts)


def _csm_text(kind: Any, sentiment: Any, score: Any, reason: Any, author: Any, until: Any) -> str:
    """ "red, champion left, until 31 Jan 2027, by Dana Scully" (or "score set to 45, ...")."""
    if kind is None:
        return "no CSM sentiment recorded"
    head = f"score set to {float(score):.0f}" if kind == "score" else str(sentiment)
    ends = f", until {until:%-d %b %Y}" if isinstance(until, pd.Timestamp) else ""
    return f"{head}, {reason}{ends}, by {author}"


def apply_score_overrides(combined: Combined, signals: Signals, tiers: TierThresholds) -> None:
    """Pin the score of accounts with a CSM score override, in place.

    The data's points stay as computed and the ``csm`` component gets the difference
    (override minus data score), so "the points add up to the score" still holds and the
    explanation shows both: "CSM: score set to 45 ... (-27.4)".
    """
    pinned = signals.frame["csm_score"].where(signals.frame["csm_kind"] == "score")
    mask = pinned.notna() & combined.score.notna()
    if not mask.any():
        return
    target = pinned[mask].round(1)
    adjust = (target - combined.score[mask]).round(1)
    combined.points.loc[mask, "csm"] = adjust
    combined.has_data.loc[mask, "csm"] = True
    combined.score.loc[mask] = target
    combined.tier.loc[mask] = assign_tier(target, tiers)


COMPONENT_FUNCTIONS = {
    "usage": usage_component,
    "breadth": breadth_component,
    "seats": seats_component,
    "engagement": engagement_component,
    "contract": contract_component,
    "trend": trend_component,
    "csm": csm_component,
}


def compute_components(signals: Signals, cfg: ScoringConfig) -> dict[str, ComponentResult]:
    """Every component for every account, keyed like the configured weights."""
    return {key: fn(signals, cfg) for key, fn in COMPONENT_FUNCTIONS.items()}


# ---------------------------------------------------------------------------------------
# Combination


def round_points(raw_points: np.ndarray) -> np.ndarray:
    """Round each row to tenths so the rounded points sum to the rounded total (largest
    remainder), so "points add up to the score" holds exactly in every explanation."""
    tenths = np.asarray(raw_points, dtype="float64") * 10.0
    floors = np.floor(tenths + 1e-9)
    remainders = tenths - floors
    target = np.floor(tenths.sum(axis=1) + 0.5 + 1e-9)
    extra = (target - floors.sum(axis=1)).astype(int)
    order = np.argsort(-remainders, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(order.shape[0])[:, None]
    ranks[rows, order] = np.arange(order.shape[1])[None, :]
    floors += ranks < extra[:, None]
    return floors / 10.0


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
    return Combined(
        values=vals,
        has_data=pd.DataFrame(has, index=vals.index, columns=keys),
        effective_weights=pd.DataFrame(eff, index=vals.index, columns=keys),
        points=pd.DataFrame(points, index=vals.index, columns=keys),
        score=score,
        tier=assign_tier(score, tiers),
    )


def component_entries(
    results: Mapping[str, ComponentResult],
    combined: Combined,
    weights: Mapping[str, float],
) -> list[list[dict[str, Any]]]:
    """The JSON list stored in ``ScoreSnapshot.components``, one list per account.

    Built column-wise (numpy rounding, ``tolist``) and zipped into dicts, because this is
    the one place that creates Python objects per account and it must stay cheap.
    """
    per_key: list[list[dict[str, Any]]] = []
    for key, res in results.items():
        raw_records = json_records(res.raw)
        label = res.label
        weight = float(weights.get(key, 0.0))
        has = combined.has_data[key].to_numpy().tolist()
        values = _py_list(np.round(combined.values[key].to_numpy(dtype="float64"), 3))
        eff = np.round(combined.effective_weights[key].to_numpy(dtype="float64"), 4).tolist()
        pts = np.round(combined.points[key].to_numpy(dtype="float64"), 1).tolist()
        details = res.detail.tolist()
        per_key.append(
            [
                {
                    "key": key,
                    "label": label,
                    "weight": weight,
                    "effective_weight": e,
                    "value": v if h else None,
                    "points": p,
                    "has_data": h,
                    "raw": r,
                    "detail": d if h else f"{d}; weight renormalised",
                }
                for v, e, p, h, r, d in zip(
                    values, eff, pts, has, raw_records, details, strict=True
                )
            ]
        )
    return [
        [e for e in row if e["has_data"] or e["key"] not in OPTIONAL_COMPONENTS]
        for row in zip(*per_key, strict=True)
    ]


def _py_list(arr: np.ndarray) -> list[Any]:
    """Floats as Python values; NaN/inf -> None; all-whole columns -> int (JSON-friendly)."""
    finite = np.isfinite(arr)
    whole = bool(np.all(arr[finite] == np.floor(arr[finite]))) and bool(
        np.all(np.abs(arr[finite]) < 2**53)
    )
    out: list[Any] = np.where(finite, arr, 0).astype(np.int64).tolist() if whole else arr.tolist()
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            out[i] = None
    return out


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dicts (None for missing, ints for whole columns)."""
    keys = [str(k) for k in frame.columns]
    columns: list[list[Any]] = []
    for _, col in frame.items():
        if pd.api.types.is_float_dtype(col.dtype) or pd.api.types.is_integer_dtype(col.dtype):
            columns.append(_py_list(col.to_numpy(dtype="float64")))
        elif pd.api.types.is_bool_dtype(col.dtype):
            columns.append(col.to_numpy().tolist())
        else:
            vals = col.to_numpy(dtype=object)
            missing = pd.isna(vals)
            out = vals.tolist()
            for i in np.flatnonzero(missing).tolist():
                out[i] = None
            columns.append(out)
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
