"""Churn flags: specific, actionable warnings that sit next to the score.

A score says "how healthy"; a flag says "this happened, do this". Each flag is computed as
a vectorised boolean mask over the signal frame with a per-account detail sentence, and
carries a recommended action so a CSM knows the next step without interpretation.
Thresholds come from ``config.scoring.flags``.

Flag definitions (all use data dated on or before ``as_of`` only):

``main_contact_silent``
    The main contact has had no product activity (usage rows, or ``last_seen_at`` on or
    before ``as_of``) for ``main_contact_silent_days``; silence is counted from the contact's
    creation date when they were never active. Critical at three times the threshold.
``owner_silent``
    No owner-role contact active for ``owner_silent_days``; critical at twice the threshold.
``power_user_deactivated``
    A power user was deactivated within ``power_user_deactivated_days``; critical when no
    active power user is left.
``score_drop``
    The score fell on each of the last two runs (previous-but-one -> previous -> now, each
    strictly lower) and by at least ``score_drop_points`` in total. One bad run is noise; two
    consecutive declines are a direction. Critical at twice the threshold.
``integration_failing``
    More than ``integration_failure_rate`` of integration runs failed over the window (at
    least ``MIN_INTEGRATION_RUNS`` runs), or over the last ``INTEGRATION_RECENT_DAYS`` (7)
    days, so a fresh breakage is not diluted by a good month. Critical at 50%.
``negative_sentiment``
    At least ``negative_sentiment_count`` negative-sentiment tickets in
    ``negative_sentiment_days``; critical at twice the count.
``onboarding_stuck``
    An account ``onboarding_days`` to ``ONBOARDING_MAX_AGE_DAYS`` days after contract start
    with no core-feature use in its first ``onboarding_days`` days (warning when it had
    other activity, critical when it had none at all). Usage is read back at least
    ``ONBOARDING_MAX_AGE_DAYS`` days, so "first core action" covers the whole onboarding.
    Off when none of the configured core features appears in the workspace's usage
    (:func:`absent_core_features`): the configuration then does not fit the data, and
    every new account would be flagged; the run warns instead (:func:`core_feature_warning`).
``invoice_overdue``
    The oldest unpaid invoice is at least ``invoice_overdue_days`` past due; critical at
    twice that (or 60 days when the threshold is 0).
``insufficient_data``
    The account's score rests on contract data alone (CRM fields: renewal date,
    lifecycle): no usage data in the workspace's windows, no support source, no survey
    answer and no invoice on file. Always a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pulse.kernel.config import FlagSettings, ScoringConfig
from scoring.signals import (
    INTEGRATION_RECENT_DAYS,
    ONBOARDING_MAX_AGE_DAYS,
    Signals,
    WorkspaceMeta,
)

MIN_INTEGRATION_RUNS = 5
"""Fewer runs than this are too few for a failure rate to mean anything."""
INTEGRATION_CRITICAL_RATE = 0.5
"""An integration failure rate from which the flag is critical."""
MAIN_CONTACT_CRITICAL_FACTOR = 3
"""Main contact silent this many times the threshold: critical."""
OWNER_CRITICAL_FACTOR = 2
"""Owner-role contact silent this many times the threshold: critical."""
SCORE_DROP_CRITICAL_FACTOR = 2
"""A drop of this many times ``score_drop_points``: critical."""
NEGATIVE_SENTIMENT_CRITICAL_FACTOR = 2
"""This many times ``negative_sentiment_count`` negative tickets: critical."""
INVOICE_CRITICAL_FACTOR = 2
"""Oldest invoice this many times ``invoice_overdue_days`` past due: critical."""
INVOICE_CRITICAL_DAYS_WITHOUT_THRESHOLD = 60
"""Days past due from which the invoice flag is critical when its threshold is 0."""
FLAG_COLUMNS = ["account_id", "code", "label", "severity", "action", "detail"]
INSUFFICIENT_DATA = "insufficient_data"
"""The flag of an account scored on contract data alone: the scorer never calls it
healthy (:func:`scoring.engine.score_signals` keeps it at ``fine`` at best)."""
NOT_ALERTED = frozenset({INSUFFICIENT_DATA})
"""Flags about Pulse's data rather than the customer: shown with the score (cards,
``pulse explain``), never raised as alerts, or a workspace with only CRM data would page
every CSM about every account on its first morning."""


@dataclass(frozen=True)
class FlagSpec:
    code: str
    label: str
    action: str


FLAG_SPECS: dict[str, FlagSpec] = {
    spec.code: spec
    for spec in (
        FlagSpec(
            "main_contact_silent",
            "Main contact silent",
            "Call or email the main contact this week; if they have moved on, find and "
            "confirm a new main contact.",
        ),
        FlagSpec(
            "owner_silent",
            "Customer admin silent",
            "Book a check-in with the customer's admin (their owner-role contact) to reconfirm "
            "goals and sponsorship.",
        ),
        FlagSpec(
            "power_user_deactivated",
            "Power user deactivated",
            "Find out why the power user left and identify and train a replacement champion.",
        ),
        FlagSpec(
            "score_drop",
            "Health score dropping",
            "Review what changed since the last runs and contact the account before the "
            "decline continues.",
        ),
        FlagSpec(
            "integration_failing",
            "Integration failing",
            "Open a ticket with support for the failing integration and tell the customer "
            "you are on it.",
        ),
        FlagSpec(
            "negative_sentiment",
            "Negative support sentiment",
            "Read the recent tickets, escalate what is unresolved and follow up personally.",
        ),
        FlagSpec(
            "onboarding_stuck",
            "Onboarding stuck",
            "Run a hands-on onboarding session on the core features and agree a first "
            "success milestone.",
        ),
        FlagSpec(
            "invoice_overdue",
            "Invoice overdue",
            "Check with finance, then raise the overdue invoice with the billing contact.",
        ),
        FlagSpec(
            INSUFFICIENT_DATA,
            "Insufficient data",
            "Import or connect usage data (and support or billing data) before relying on "
            "this score; until then, hear from the customer directly.",
        ),
    )
}


def _emit(
    mask: pd.Series,
    code: str,
    critical: pd.Series,
    columns: dict[str, pd.Series],
    describe: Callable[..., str],
) -> pd.DataFrame:
    """Long-form rows for the accounts where ``mask`` holds.

    ``describe`` is called with the values of ``columns`` only for flagged accounts, so
    detail sentences are built for the few accounts that need them, not for all.
    """
    mask = mask.fillna(False).astype(bool)
    if not mask.any():
        return pd.DataFrame(columns=FLAG_COLUMNS)
    spec = FLAG_SPECS[code]
    sub = {k: v[mask].tolist() for k, v in columns.items()}
    details = [
        describe(**dict(zip(sub, vals, strict=True))) for vals in zip(*sub.values(), strict=True)
    ]
    return pd.DataFrame(
        {
            "account_id": mask.index[mask.to_numpy()].to_numpy(),
            "code": code,
            "label": spec.label,
            "severity": np.where(critical[mask].fillna(False).to_numpy(), "critical", "warning"),
            "action": spec.action,
            "detail": details,
        }
    )


def _silence(
    frame: pd.DataFrame,
    prefix: str,
    as_of: pd.Timestamp,
    lookback_days: int,
) -> tuple[pd.Series, pd.Series]:
    """Days since a contact group's last activity, and whether that is a lower bound.

    Last activity is the later of the last usage day and ``last_seen_at`` (both on or
    before ``as_of``). Never active: counted from the contact's creation date if known
    and inside the lookback, else the lookback itself is a lower bound ("over N days").
    """
    last = pd.concat(
        [frame[f"{prefix}_last_day"], frame[f"{prefix}_last_seen_at"].dt.normalize()], axis=1
    ).max(axis=1)
    created = frame[f"{prefix}_created_on"]
    days = (as_of - last).dt.days.astype("float64")
    since_created = (as_of - created).dt.days.astype("float64")
    never = last.isna()
    bounded = never & (since_created.isna() | (since_created > lookback_days))
    days = days.where(~never, since_created.clip(upper=lookback_days))
    days = days.where(~bounded, float(lookback_days))
    return days, bounded


def _silent_text(who: str, days: float, bounded: bool) -> str:
    span = f"in the last {days:.0f} days" if bounded else f"for {days:.0f} days"
    return f"{who} has had no activity {span}"


@dataclass(frozen=True)
class _Run:
    """What every flag rule reads: the signal frame, the workspace facts, the thresholds."""

    frame: pd.DataFrame
    meta: WorkspaceMeta
    limits: FlagSettings
    as_of: pd.Timestamp
    lookback: int
    score: pd.Series
    core_features: tuple[str, ...] = ()


def absent_core_features(meta: WorkspaceMeta, core_features: Sequence[str]) -> list[str]:
    """Configured core features nobody used over the run's two windows (none when the
    workspace has no usage data at all: nothing to compare with)."""
    if not meta.has_usage or not meta.catalogue:
        return []
    seen = set(meta.catalogue)
    return [f for f in core_features if f not in seen]


def core_feature_warning(absent: Sequence[str], core_features: Sequence[str]) -> str | None:
    """One line when configured core features are ``absent`` from the usage data, or None
    (said by `pulse score`, the daily run and `pulse sync`)."""
    if not absent:
        return None
    names = ", ".join(absent)
    if len(absent) == len(core_features):
        return (
            f"None of the configured core features ({names}) appears in the usage data: "
            "the onboarding flag is off and breadth counts no core use. Set "
            "scoring.core_features to feature names your usage data holds."
        )
    return (
        f"Configured core features absent from the usage data: {names}. Check "
        "scoring.core_features against the feature names your usage data holds."
    )


def _main_contact_silent(run: _Run) -> pd.DataFrame:
    frame, limits = run.frame, run.limits
    days, bounded = _silence(frame, "main", run.as_of, run.lookback)
    seen = frame["main_last_seen_at"].notna() | frame["main_last_day"].notna()
    mask = (frame["main_contacts"] > 0) & (seen | run.meta.has_usage)
    mask &= days >= limits.main_contact_silent_days
    return _emit(
        mask,
        "main_contact_silent",
        days >= MAIN_CONTACT_CRITICAL_FACTOR * limits.main_contact_silent_days,
        {
            "name": frame["main_contact_name"],
            "days": days,
            "bounded": bounded,
            "deact": frame["main_deactivated"],
        },
        lambda name, days, bounded, deact: (
            _silent_text(name or "The main contact", days, bounded)
            + (" (deactivated)" if deact else "")
        ),
    )


def _owner_silent(run: _Run) -> pd.DataFrame:
    frame, limits = run.frame, run.limits
    days, bounded = _silence(frame, "owner", run.as_of, run.lookback)
    seen = frame["owner_last_seen_at"].notna() | frame["owner_last_day"].notna()
    mask = (frame["owner_contacts"] > 0) & (seen | run.meta.has_usage)
    mask &= days >= limits.owner_silent_days
    return _emit(
        mask,
        "owner_silent",
        days >= OWNER_CRITICAL_FACTOR * limits.owner_silent_days,
        {"name": frame["owner_contact_name"], "days": days, "bounded": bounded},
        lambda name, days, bounded: _silent_text(
            name or "The customer's admin (owner-role contact)", days, bounded
        ),
    )


def _power_user_deactivated(run: _Run) -> pd.DataFrame:
    frame, limits = run.frame, run.limits

    def power_text(n: float, name: str | None, at: pd.Timestamp, left: float) -> str:
        text = (
            f"{name or 'a power user'} deactivated on {at:%Y-%m-%d}"
            if n == 1
            else f"{n:.0f} power users deactivated in the last "
            f"{limits.power_user_deactivated_days} days (latest: {name})"
        )
        return text + ("; no active power user left" if left == 0 else "")

    return _emit(
        frame["power_users_deactivated"] > 0,
        "power_user_deactivated",
        frame["power_users_active"] == 0,
        {
            "n": frame["power_users_deactivated"],
            "name": frame["power_user_deactivated_name"],
            "at": frame["power_user_deactivated_at"],
            "left": frame["power_users_active"],
        },
        power_text,
    )


def _score_drop(run: _Run) -> pd.DataFrame:
    """Score dropping across two consecutive runs."""
    frame, limits, score = run.frame, run.limits, run.score
    previous, before_previous = frame["prev1_score"], frame["prev2_score"]
    total_drop = before_previous - score
    return _emit(
        (before_previous > previous)
        & (previous > score)
        & (total_drop >= limits.score_drop_points),
        "score_drop",
        total_drop >= SCORE_DROP_CRITICAL_FACTOR * limits.score_drop_points,
        {"a": before_previous, "b": previous, "c": score},
        lambda a, b, c: (
            f"score {a:.1f} -> {b:.1f} -> {c:.1f} over the last two runs ({c - a:+.1f})"
        ),
    )


def _integration_failing(run: _Run) -> pd.DataFrame:
    """Integration failure rate, over the window or the recent days."""
    frame, limits = run.frame, run.limits
    runs, fails = frame["integration_runs"], frame["integration_failures"]
    runs7, fails7 = frame["integration_runs_7d"], frame["integration_failures_7d"]
    rate = (fails / runs.where(runs > 0)).fillna(0.0)
    rate7 = (fails7 / runs7.where(runs7 > 0)).fillna(0.0)
    window_bad = (runs >= MIN_INTEGRATION_RUNS) & (rate > limits.integration_failure_rate)
    week_bad = (runs7 >= MIN_INTEGRATION_RUNS) & (rate7 > limits.integration_failure_rate)
    worst = np.maximum(rate.where(window_bad, 0.0), rate7.where(week_bad, 0.0))
    window_days = run.meta.windows.window_days

    def integration_text(
        r: float, n: float, r7: float, n7: float, wb: bool, name: str | None, k: float
    ) -> str:
        text = (
            f"{r:.0%} of {n:,.0f} integration runs failed in the last {window_days} days"
            if wb
            else f"{r7:.0%} of {n7:,.0f} integration runs failed in the last "
            f"{INTEGRATION_RECENT_DAYS} days"
        )
        if name:
            text += f" ({name}" + (f" and {k - 1:.0f} more" if k > 1 else "") + ")"
        return text

    return _emit(
        window_bad | week_bad,
        "integration_failing",
        worst >= INTEGRATION_CRITICAL_RATE,
        {
            "r": rate,
            "n": runs,
            "r7": rate7,
            "n7": runs7,
            "wb": window_bad,
            "name": frame["failing_integration_name"],
            "k": frame["failing_integrations"],
        },
        integration_text,
    )


def _negative_sentiment(run: _Run) -> pd.DataFrame:
    limits = run.limits
    negative = run.frame["negative_sentiment_flag"]
    return _emit(
        negative >= limits.negative_sentiment_count,
        "negative_sentiment",
        negative >= NEGATIVE_SENTIMENT_CRITICAL_FACTOR * limits.negative_sentiment_count,
        {"n": negative},
        lambda n: (
            f"{n:.0f} negative-sentiment tickets in the last {limits.negative_sentiment_days} days"
        ),
    )


def _onboarding_stuck(run: _Run) -> pd.DataFrame:
    """No core-feature use in the first ``onboarding_days``."""
    frame, limits = run.frame, run.limits
    age = (run.as_of - frame["contract_start"]).dt.days.astype("float64")
    core_by = frame["contract_start"] + pd.Timedelta(days=limits.onboarding_days)
    no_core_in_time = frame["first_core_day"].isna() | (frame["first_core_day"] >= core_by)
    never_active = frame["last_active_day"].isna()
    first_core = frame["first_core_day"] - frame["contract_start"]
    first_core_no = first_core.dt.days.astype("float64") + 1

    def onboarding_text(age: float, never: bool, core_day: float) -> str:
        if never:
            return f"no product activity since contract start {age:.0f} days ago"
        when = "none yet" if np.isnan(core_day) else f"first core action on day {core_day:.0f}"
        return f"active but no core-feature use in the first {limits.onboarding_days} days ({when})"

    core_seen = len(absent_core_features(run.meta, run.core_features)) < len(run.core_features)
    return _emit(
        run.meta.has_usage
        & core_seen
        & (age >= limits.onboarding_days)
        & (age < ONBOARDING_MAX_AGE_DAYS)
        & no_core_in_time,
        "onboarding_stuck",
        never_active,
        {"age": age, "never": never_active, "core_day": first_core_no},
        onboarding_text,
    )


def _invoice_overdue(run: _Run) -> pd.DataFrame:
    frame, limits = run.frame, run.limits
    overdue_days = (run.as_of - frame["oldest_overdue_due_on"]).dt.days.astype("float64")
    critical_at = (
        INVOICE_CRITICAL_FACTOR * limits.invoice_overdue_days
        if limits.invoice_overdue_days > 0
        else INVOICE_CRITICAL_DAYS_WITHOUT_THRESHOLD
    )
    return _emit(
        (frame["overdue_invoices"] > 0) & (overdue_days >= limits.invoice_overdue_days),
        "invoice_overdue",
        overdue_days >= critical_at,
        {"n": frame["overdue_invoices"], "amt": frame["overdue_amount"], "d": overdue_days},
        lambda n, amt, d: (
            f"{n:,.0f} unpaid invoice{'s' if n != 1 else ''} (${amt:,.0f}), "
            f"oldest {d:.0f} days past due"
        ),
    )


def _insufficient_data(run: _Run) -> pd.DataFrame:
    """Nothing but the contract to score on."""
    frame, meta = run.frame, run.meta
    surveyed = frame["nps_latest"].notna() | frame["csat_avg"].notna()
    billed = frame["invoices_on_file"] > 0
    mask = ~(meta.has_usage or meta.has_tickets) & ~surveyed & ~billed
    return _emit(
        pd.Series(mask, index=frame.index),
        INSUFFICIENT_DATA,
        pd.Series(False, index=frame.index),
        {"n": frame["invoices_on_file"]},
        lambda n: "scored on contract data alone (no usage, support, survey or billing data "
        "on file)",
    )


FLAG_RULES: tuple[Callable[[_Run], pd.DataFrame], ...] = (
    _main_contact_silent,
    _owner_silent,
    _power_user_deactivated,
    _score_drop,
    _integration_failing,
    _negative_sentiment,
    _onboarding_stuck,
    _invoice_overdue,
    _insufficient_data,
)
"""One rule per flag, in the order their rows are listed for an account of one severity."""


def compute_flags(signals: Signals, score: pd.Series, cfg: ScoringConfig) -> pd.DataFrame:
    """All flags raised, one row per (account, flag), columns :data:`FLAG_COLUMNS`."""
    meta = signals.meta
    run = _Run(
        frame=signals.frame,
        meta=meta,
        limits=cfg.flags,
        as_of=pd.Timestamp(meta.windows.as_of),
        lookback=meta.windows.scan_days,
        score=score,
        core_features=tuple(cfg.core_features),
    )
    frames = [frame for frame in (rule(run) for rule in FLAG_RULES) if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    flags = pd.concat(frames, ignore_index=True)
    rank = flags["severity"].map({"critical": 0, "warning": 1})
    flags = flags.assign(_rank=rank).sort_values(["account_id", "_rank"], kind="stable")
    return flags.drop(columns="_rank").reset_index(drop=True)


def flags_by_account(flags: pd.DataFrame, index: pd.Index) -> pd.Series:
    """JSON-ready ``list[dict]`` per account (empty list when none), aligned to ``index``."""
    result: dict[int, list[dict[str, str]]] = {}
    keys = [c for c in FLAG_COLUMNS if c != "account_id"]
    columns = [flags[c].to_numpy(dtype=object).tolist() for c in keys]
    for account, *values in zip(flags["account_id"].tolist(), *columns, strict=True):
        result.setdefault(int(account), []).append(dict(zip(keys, values, strict=True)))
    return pd.Series([result.get(int(a), []) for a in index.tolist()], index=index, dtype=object)
