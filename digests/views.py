"""View models: what a service hands to a Block Kit builder.

Services (``pulse/services``) read storage and decide *what* to show; the builders in
``digests`` (:mod:`digests.cards`, :mod:`digests.digest_blocks`, :mod:`digests.home`)
decide *how*, as pure functions of these frozen dataclasses, so every card and digest is
testable without Slack or a database. The override and trial builders keep their small
view models next to them (:mod:`digests.override_blocks`, :mod:`digests.trial_blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class ScorePart:
    """One part of a health score as a reason: what it earned of what it could."""

    label: str  # "Usage"
    points: float  # earned
    most: float  # could have earned
    detail: str  # the figures behind it, as scoring stored them


@dataclass(frozen=True)
class AlertItem:
    """One alert as a card or a line shows it."""

    id: int
    account_id: int
    account_name: str
    rule: str  # flag code or "tier_crossed"
    label: str  # e.g. "Invoice overdue"
    severity: str  # warning | critical
    status: str  # open | acknowledged | snoozed | resolved
    message: str  # what happened, in plain words
    action: str | None  # the recommended action
    opened_at: datetime
    acknowledged_by: str | None = None  # Slack user id
    acknowledged_at: datetime | None = None
    snoozed_by: str | None = None
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None
    crm_url: str | None = None
    owner_slack_id: str | None = None
    quiet_reason: str | None = None  # why it was acknowledged or snoozed (the CSM's words)
    reopen_reason: str | None = None  # why Pulse reopened it before its time
    arr: float | None = None  # the account's ARR: what is at risk
    score: float | None = None  # health score (0-100) of the latest snapshot
    tier: str | None = None  # its tier code (pulse.kernel.tiers)
    prev_score: float | None = None  # the snapshot before: the change
    prev_tier: str | None = None
    renewal_date: date | None = None
    days_to_renewal: int | None = None  # counted from the latest snapshot's date
    reasons: tuple[ScorePart, ...] = ()  # the parts that lost the most points, worst first
    data_as_of: datetime | None = None  # the oldest sync behind the scored parts
    stale: tuple[str, ...] = ()  # "support data 3 days old"
    peer_note: str | None = None  # its weakest usage signal among peers


@dataclass(frozen=True)
class BaselineNote:
    """What already held when Pulse started watching, summarised once for one person."""

    accounts: int  # accounts with conditions recorded as the baseline
    at_risk: int  # of which at risk
    team: bool = False  # the person's team's accounts (a manager), not their own


@dataclass(frozen=True)
class AlertBundle:
    """One person's (or channel's) new alerts of a run, in one message.

    ``alerts`` are listed largest ARR first; ``held`` counts the run's other new alerts
    for the same person, which wait for the morning digest (over the per-message cap, or
    below ``alerts.dm_min_severity``).
    """

    alerts: list[AlertItem]
    held: int = 0
    baseline: BaselineNote | None = None


@dataclass(frozen=True)
class AccountLine:
    """An account in a list: digest rows, App Home rows, pick lists."""

    account_id: int
    name: str
    domain: str | None
    score: float
    health_tier: str  # healthy | fine | at_risk
    change: float | None  # since the previous snapshot; None for a first snapshot
    arr: float
    renewal_date: date | None
    days_to_renewal: int | None
    owner_name: str | None
    last_activity: date | None
    open_alerts: int
    expansion_score: float
    renewal_risk: str
    why: str = ""  # short reason the account is listed
    crm_url: str | None = None
    peer_note: str | None = None  # its weakest usage signal among peers (App Home)


@dataclass(frozen=True)
class HealthCard:
    """Everything `/health NAME` shows for one account."""

    account: AccountLine
    account_tier: str | None  # enterprise / mid-market / smb
    lifecycle: str
    as_of: date
    components: list[dict[str, Any]]  # snapshot components, as stored
    reasons: list[str]
    change_lines: list[str]  # from scoring.explain.explain_change, empty when first
    trend: list[tuple[date, float]]  # (as_of, score) over the last 30 days
    flags: list[dict[str, Any]]
    alerts: list[AlertItem]
    can_act: bool  # False for read-only viewers: no Acknowledge button
    csm_entry: str | None = None  # the CSM sentiment/override in force, as mrkdwn
    stale: list[str] = field(default_factory=list)  # "support data 3 days old (zendesk)"


@dataclass(frozen=True)
class PickList:
    """`/health acme` with several matches (candidates) or none (closest names)."""

    query: str
    candidates: list[AccountLine] = field(default_factory=list)
    closest: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CsmDigest:
    """A CSM's morning DM."""

    csm_name: str
    as_of: date
    accounts_total: int
    attention: list[AccountLine]  # most urgent first; builders cut and say how many are left
    expansion: list[AccountLine]
    open_alerts: int
    held_back: list[tuple[str, str, str]] = field(default_factory=list)
    """(account, playbook, reason) the daily cap kept from messaging since yesterday."""
    stale: list[str] = field(default_factory=list)  # "support data 3 days old (zendesk)"
    held_alerts: list[AlertItem] = field(default_factory=list)
    """New alerts of the last day that were not sent by DM (cap or severity): listed here."""
    following: list[AccountLine] = field(default_factory=list)
    """Accounts the CSM follows (``/health follow``) but does not own, with their change."""


@dataclass(frozen=True)
class TierRow:
    """One health tier of the manager digest's distribution."""

    tier: str
    count: int
    change: int | None
    arr: float


@dataclass(frozen=True)
class RenewalRow:
    """Renewals in the window at one risk level."""

    risk: str  # high | medium | low
    accounts: int
    arr: float


@dataclass(frozen=True)
class RetentionLine:
    """Retention over the trailing period and the expansion forecast (docs/metrics.md).

    ``grr``/``nrr``/``logo_churn_rate`` are fractions, None when no account of the scope
    had ARR at the period's start (a rate over nothing is not 0%).
    """

    start: date  # first day of the period
    end: date  # last day
    months: int
    accounts_start: int  # the starting cohort: accounts with ARR the day before ``start``
    arr_start: float
    kept_arr: float  # Σ min(ARR at the end, ARR at the start) over the cohort
    arr_end_cohort: float  # the cohort's ARR at the end
    churned_accounts: int
    grr: float | None
    nrr: float | None
    logo_churn_rate: float | None
    expansion_forecast: float  # Σ open expansion opportunity amount × stage probability
    expansion_opportunities: int
    expansion_amount: float


@dataclass(frozen=True)
class ManagerDigest:
    """A manager's (or a channel's) portfolio view."""

    scope: str  # e.g. "Enterprise CS" or "All accounts"
    as_of: date
    prev_as_of: date | None
    accounts_total: int
    average_score: float
    average_change: float | None
    distribution: list[TierRow]
    at_risk_arr: float
    at_risk_arr_renewing: float
    total_arr: float
    drops: list[AccountLine]
    rises: list[AccountLine]
    renewals: list[RenewalRow]
    renewal_window_days: int = 90
    retention: RetentionLine | None = None  # None: no ARR history in the scope yet
    csm_entries: list[tuple[str, str | None]] = field(default_factory=list)
    """(account: the CSM entry in force, as mrkdwn; its disagreement with the data)."""
    stale: list[str] = field(default_factory=list)
    catch_all_alerts: int = 0
    """Live alerts of the scope whose card went to the catch-all channel."""
    catch_all_channel: str | None = None
    unreachable: list[str] = field(default_factory=list)
    """Names of the scope's owners of accounts who have no Slack user."""
    outcomes: list[OutcomeRow] | None = None
    """Per CSM, alerts and their outcomes (the weekly section); None on other days."""
    outcome_days: int = 90


@dataclass(frozen=True)
class OutcomeRow:
    """One CSM's alerts over a window and what became of the alerted accounts (the
    weekly section of the manager digest; :mod:`pulse.services.alert_outcomes`)."""

    owner: str
    raised: int = 0
    acknowledged: int = 0
    snoozed: int = 0
    reopened: int = 0
    churned: int = 0
    recovered: int = 0


@dataclass(frozen=True)
class HomeView:
    """The App Home: the viewer's portfolio sorted by need."""

    viewer_name: str
    role: str
    as_of: date | None
    accounts: list[AccountLine]
    open_alerts: int
    baseline: BaselineNote | None = None
    """Accounts whose conditions already held when Pulse started watching (unchanged)."""
