"""Alert lifecycle: raise, route, acknowledge, snooze, reopen and resolve.

An alert exists per (account, rule) while its condition holds in the latest snapshots.
Rules are the churn-flag codes (``invoice_overdue`` ...) plus ``tier_crossed``. The
lifecycle, decided by :func:`evaluate_alerts` after each scoring run:

* **raised**: a condition holds and no live (open / acknowledged / snoozed) alert exists
  for that account and rule. A live alert is never raised twice, and the partial unique
  index ``uq_alerts_live`` makes that a database guarantee.
* **acknowledged**: the alert stays quiet for as long as the same condition (same account
  and rule) holds, even if its severity changes. When the condition clears and later comes
  back, that is a new alert.
* **snoozed**: quiet until ``snoozed_until``; after that, if the condition still holds,
  the alert goes back to ``open`` and is reported in ``reopened`` so the bot posts the
  card again.
* **reopened early**: an acknowledged or snoozed alert goes back to ``open`` before its
  time, with the reason on the card, when the account got materially worse since it went
  quiet (the ``quiet_*`` baseline recorded then): the score fell a further
  ``alerts.reopen_score_drop`` points, a critical flag appeared that was not there, or the
  renewal came within ``alerts.renewal_notice_days`` days having been further away. A
  CSM who snoozed "until next week" is not left unaware of an account that burns.
* **resolved**: the condition cleared (or the account is no longer scored), whatever the
  status; reported in ``resolved`` so the bot updates the card it posted.

``tier_crossed`` is raised when the tier worsened since the previous snapshot (into
``fine``: warning; into ``at_risk``: critical). It holds while the account stays in the
tier it crossed into or worse (a warning escalates to critical if it falls further) and
clears when the tier improves, so a CSM is not told "resolved" a day later while the
account is still at risk.

Every change made here writes an :class:`~storage.models.AuditLog` row in the caller's
transaction: ``actor="pulse"`` for evaluations, the Slack user id for user actions.
Nothing here commits; the Slack handler or scheduler owns the transaction.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session, selectinload

from digests.views import AlertItem
from pulse.kernel.config import PulseConfig
from pulse.kernel.tiers import TIER_LABELS, TIER_RANK
from pulse.services.access import Viewer, can_see
from pulse.services.portfolio import snapshot_dates
from scoring.flags import FLAG_SPECS
from storage.models import Account, Alert, AuditLog, ScoreSnapshot

SYSTEM_ACTOR = "pulse"
TIER_RULE = "tier_crossed"
TIER_LABEL = "Health tier dropped"
TIER_ACTION = (
    "Open the health card to see what changed, then contact the account before the next "
    "scoring run."
)
LIVE_STATUSES = ("open", "acknowledged", "snoozed")
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
SnoozeChoice = Literal["1d", "7d", "30d", "renewal"]
SNOOZE_DAYS = {"1d": 1, "7d": 7, "30d": 30}
DOUBLE_CLICK = timedelta(minutes=5)
"""Two snoozes ending within this of each other are the same snooze (a double click)."""


@dataclass(frozen=True)
class AlertChanges:
    """What one evaluation changed, for the bot to post, re-post or update cards."""

    raised: list[AlertItem] = field(default_factory=list)
    resolved: list[AlertItem] = field(default_factory=list)
    reopened: list[AlertItem] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.raised or self.resolved or self.reopened)


@dataclass(frozen=True)
class _Condition:
    """A condition that holds in the latest snapshot: what an alert would say."""

    account_id: int
    rule: str
    severity: str
    message: str
    label: str
    action: str | None


# ---------------------------------------------------------------------------------------
# Links and view models


def crm_url(salesforce_id: str | None, hubspot_id: str | None) -> str | None:
    """Link to the account in the CRM, from ``SALESFORCE_INSTANCE_URL`` / ``HUBSPOT_PORTAL_ID``.

    Read from the environment at call time (these are deployment settings, like every
    endpoint in Pulse). Salesforce wins when both are configured and the account has both
    ids. ``None`` when no CRM is configured or the account has no id in it.
    """
    instance = os.environ.get("SALESFORCE_INSTANCE_URL", "").strip()
    if instance and salesforce_id:
        host = instance.split("://", 1)[-1].strip("/")
        return f"https://{host}/lightning/r/Account/{salesforce_id}/view"
    portal = os.environ.get("HUBSPOT_PORTAL_ID", "").strip()
    if portal and hubspot_id:
        return f"https://app.hubspot.com/contacts/{portal}/company/{hubspot_id}"
    return None


def _label_action(alert: Alert) -> tuple[str, str | None]:
    """Stored label/action; older rows without them fall back to the flag definitions."""
    spec = FLAG_SPECS.get(alert.rule)
    if alert.rule == TIER_RULE:
        default_label, default_action = TIER_LABEL, TIER_ACTION
    elif spec is not None:
        default_label, default_action = spec.label, spec.action
    else:
        default_label, default_action = alert.rule.replace("_", " ").capitalize(), None
    return alert.label or default_label, alert.action or default_action


def alert_item(session: Session, alert: Alert) -> AlertItem:
    """The view model of one alert (account name, CRM link and owner's Slack id included)."""
    account = session.get(Account, alert.account_id)
    owner = account.owner if account is not None else None
    label, action = _label_action(alert)
    return AlertItem(
        id=alert.id,
        account_id=alert.account_id,
        account_name=account.name if account is not None else f"account {alert.account_id}",
        rule=alert.rule,
        label=label,
        severity=alert.severity,
        status=alert.status,
        message=alert.message,
        action=action,
        opened_at=alert.opened_at,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        snoozed_by=alert.snoozed_by,
        snoozed_until=alert.snoozed_until,
        resolved_at=alert.resolved_at,
        crm_url=crm_url(account.salesforce_id, account.hubspot_id) if account else None,
        owner_slack_id=owner.slack_user_id if owner is not None else None,
        quiet_reason=alert.quiet_reason if alert.status in QUIET_STATUSES else None,
        reopen_reason=alert.reopen_reason if alert.status == "open" else None,
    )


def alert_items(session: Session, alerts: Sequence[Alert]) -> list[AlertItem]:
    """View models of many alerts, loading their accounts and owners in one query."""
    ids = {a.account_id for a in alerts}
    if ids:
        session.scalars(
            select(Account).options(selectinload(Account.owner)).where(Account.id.in_(ids))
        ).all()
    return [alert_item(session, a) for a in alerts]


def live_alerts(session: Session, account_id: int) -> list[Alert]:
    """An account's open, acknowledged and snoozed alerts, critical first, newest first."""
    alerts = session.scalars(
        select(Alert)
        .where(Alert.account_id == account_id, Alert.status.in_(LIVE_STATUSES))
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
    ).all()
    return sorted(alerts, key=lambda a: SEVERITY_ORDER.get(a.severity, 9))


def open_alert_counts(session: Session, account_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Alerts in status ``open`` per account (one GROUP BY); ``None`` means all accounts."""
    stmt = select(Alert.account_id, func.count()).where(Alert.status == "open")
    if account_ids is not None:
        ids = list(account_ids)
        if not ids:
            return {}
        stmt = stmt.where(Alert.account_id.in_(ids))
    return {int(a): int(n) for a, n in session.execute(stmt.group_by(Alert.account_id)).all()}


# ---------------------------------------------------------------------------------------
# Evaluation


def _audit(
    session: Session,
    now: datetime,
    actor: str,
    action: str,
    alert: Alert,
    **detail: Any,
) -> None:
    session.add(
        AuditLog(
            at=now,
            actor=actor,
            action=action,
            account_id=alert.account_id,
            detail={"alert_id": alert.id, "rule": alert.rule, **detail},
            outcome="ok",
        )
    )


def _tier_text(tier: str | None) -> str:
    return TIER_LABELS.get(tier or "", tier or "unknown")


def _conditions(
    session: Session,
    latest: date,
    prev: date | None,
    live: dict[tuple[int, str], Alert],
    account_ids: Collection[int] | None = None,
) -> tuple[dict[tuple[int, str], _Condition], dict[int, tuple[float, list[Any]]]]:
    """Conditions holding in the snapshots of ``latest``, and each scored account's
    (score, flags) then (only ``account_ids``' when given)."""
    ss = ScoreSnapshot
    only = ss.account_id.in_(list(account_ids)) if account_ids is not None else true()
    rows = session.execute(
        select(ss.account_id, ss.score, ss.tier, ss.flags).where(ss.as_of == latest, only)
    ).all()
    previous: dict[int, tuple[str, float]] = {}
    if prev is not None:
        previous = {
            int(a): (t, s)
            for a, t, s in session.execute(
                select(ss.account_id, ss.tier, ss.score).where(ss.as_of == prev, only)
            ).all()
        }
    found: dict[tuple[int, str], _Condition] = {}
    for account_id, score, tier, flags in rows:
        account_id = int(account_id)
        for flag in flags or []:
            code = str(flag.get("code"))
            spec = FLAG_SPECS.get(code)
            found[(account_id, code)] = _Condition(
                account_id=account_id,
                rule=code,
                severity=str(flag.get("severity") or "warning"),
                message=str(flag.get("detail") or flag.get("label") or code),
                label=str(flag.get("label") or (spec.label if spec else code)),
                action=flag.get("action") or (spec.action if spec else None),
            )
        rank = TIER_RANK.get(tier)
        if rank is None or rank == 0:
            continue
        before = previous.get(account_id)
        existing = live.get((account_id, TIER_RULE))
        if existing is not None:
            crossed_into = 2 if existing.severity == "critical" else 1
            holds = rank >= crossed_into
        else:
            holds = before is not None and rank > TIER_RANK.get(before[0], rank)
        if not holds:
            continue
        if before is not None and TIER_RANK.get(before[0], rank) < rank:
            message = (
                f"Health tier fell from {_tier_text(before[0])} to {_tier_text(tier)} "
                f"(score {before[1]:.1f} -> {score:.1f})"
            )
        else:
            message = f"Health tier is {_tier_text(tier)} (score {score:.1f})"
        found[(account_id, TIER_RULE)] = _Condition(
            account_id=account_id,
            rule=TIER_RULE,
            severity="critical" if tier == "at_risk" else "warning",
            message=message,
            label=TIER_LABEL,
            action=TIER_ACTION,
        )
    return found, {int(r[0]): (float(r[1]), list(r[3] or [])) for r in rows}


def evaluate_alerts(
    session: Session,
    config: PulseConfig,
    now: datetime,
    *,
    account_ids: Collection[int] | None = None,
) -> AlertChanges:
    """Bring alerts in line with the latest snapshots on or before ``now`` (idempotent).

    ``account_ids`` limits the evaluation to those accounts' alerts and snapshots: live
    rescoring (:mod:`pulse.jobs.live.rescore`) re-evaluates only the accounts an event changed,
    so no other account's alert is raised, resolved or reopened by it (a snooze ending
    elsewhere waits for the next full evaluation).

    Run it after each scoring run (and periodically, so snoozes end on time). Evaluating
    the same snapshots twice changes nothing. A severity change of a live alert updates
    its severity and message (audited as ``alert_severity_changed``) without re-firing:
    an acknowledged alert stays acknowledged while the same account and rule hold. Alerts
    of accounts absent from the latest run (churned, or no data any more) are resolved.
    Two concurrent evaluations cannot both raise the same alert: the second fails on the
    ``uq_alerts_live`` index and its transaction rolls back.
    """
    latest, prev = snapshot_dates(session, now.date())
    if latest is None:
        return AlertChanges()
    if account_ids is not None:
        account_ids = sorted({int(a) for a in account_ids})
        if not account_ids:
            return AlertChanges()
    only = Alert.account_id.in_(account_ids) if account_ids is not None else true()
    live_alerts_ = session.scalars(
        select(Alert).where(Alert.status.in_(LIVE_STATUSES), only).order_by(Alert.id)
    ).all()
    live = {(a.account_id, a.rule): a for a in live_alerts_}
    conditions, scored = _conditions(session, latest, prev, live, account_ids)
    renewals = _renewal_dates(session, [a.account_id for a in live_alerts_ if a.quiet_since])

    raised: list[Alert] = []
    resolved: list[Alert] = []
    reopened: list[Alert] = []
    for key, alert in live.items():
        cond = conditions.get(key)
        if cond is None:
            alert.status = "resolved"
            alert.resolved_at = now
            reason = "condition cleared" if key[0] in scored else "account not scored"
            _audit(
                session,
                now,
                SYSTEM_ACTOR,
                "alert_resolved",
                alert,
                reason=reason,
                as_of=latest.isoformat(),
            )
            resolved.append(alert)
            continue
        if cond.severity != alert.severity:
            _audit(
                session,
                now,
                SYSTEM_ACTOR,
                "alert_severity_changed",
                alert,
                previous=alert.severity,
                severity=cond.severity,
                message=cond.message,
            )
            alert.severity = cond.severity
            alert.message = cond.message
        if alert.status in QUIET_STATUSES and alert.quiet_since is not None:
            worse = materially_worse(
                alert, *scored[key[0]], renewals.get(key[0]), config, now.date()
            )
            if worse:
                _reopen_early(session, alert, worse, now)
                reopened.append(alert)
                continue
        if (
            alert.status == "snoozed"
            and alert.snoozed_until is not None
            and alert.snoozed_until <= now
        ):
            _audit(
                session,
                now,
                SYSTEM_ACTOR,
                "alert_reopened",
                alert,
                snoozed_until=alert.snoozed_until.isoformat(),
                snoozed_by=alert.snoozed_by,
            )
            alert.status = "open"
            alert.snoozed_until = None
            alert.quiet_since = None
            alert.reopen_reason = None
            reopened.append(alert)

    for key, cond in conditions.items():
        if key in live:
            continue
        alert = Alert(
            account_id=cond.account_id,
            rule=cond.rule,
            severity=cond.severity,
            status="open",
            message=cond.message,
            label=cond.label,
            action=cond.action,
            opened_at=now,
        )
        session.add(alert)
        raised.append(alert)
    session.flush()  # ids for the audit rows and the view models
    for alert in raised:
        _audit(
            session,
            now,
            SYSTEM_ACTOR,
            "alert_raised",
            alert,
            severity=alert.severity,
            message=alert.message,
            as_of=latest.isoformat(),
        )
    session.flush()
    return AlertChanges(
        raised=alert_items(session, raised),
        resolved=alert_items(session, resolved),
        reopened=alert_items(session, reopened),
    )


QUIET_STATUSES = ("acknowledged", "snoozed")


def _renewal_dates(session: Session, account_ids: list[int]) -> dict[int, date]:
    if not account_ids:
        return {}
    rows = session.execute(
        select(Account.id, Account.renewal_date).where(
            Account.id.in_(set(account_ids)), Account.renewal_date.is_not(None)
        )
    ).all()
    return {int(a): r for a, r in rows}


def _critical_codes(flags: Sequence[dict[str, Any]]) -> dict[str, str]:
    return {
        str(f.get("code")): str(f.get("label") or f.get("code"))
        for f in flags
        if f.get("severity") == "critical"
    }


def materially_worse(
    alert: Alert,
    score: float,
    flags: Sequence[dict[str, Any]],
    renewal: date | None,
    config: PulseConfig,
    today: date,
) -> list[str]:
    """Why a quiet alert should reopen early (empty when it should stay quiet).

    Measured against the baseline stored when it went quiet, so a score that was already
    low when the CSM snoozed does not reopen it; only a *further* fall does.
    """
    assert alert.quiet_since is not None
    policy = config.alerts
    why: list[str] = []
    verb = "acknowledged" if alert.status == "acknowledged" else "snoozed"
    if alert.quiet_score is not None and score <= alert.quiet_score - policy.reopen_score_drop:
        why.append(
            f"score fell a further {alert.quiet_score - score:.1f} points "
            f"({alert.quiet_score:.1f} -> {score:.1f}) since it was {verb}"
        )
    # "New" means the flag was not there at all when the alert went quiet: the alert's own
    # condition escalating from warning to critical is the same condition, still
    # acknowledged (it changes the card's severity, not its quiet).
    before = set(alert.quiet_flags or [])
    new = {c: label for c, label in _critical_codes(flags).items() if c not in before}
    if new:
        why.append("new critical flag: " + ", ".join(sorted(new.values())))
    if renewal is not None:
        left = (renewal - today).days
        then = (renewal - alert.quiet_since.date()).days
        notice = policy.renewal_notice_days
        if 0 <= left <= notice < then:
            why.append(
                f"renewal on {renewal.isoformat()} is now within {notice} days ({left} left)"
            )
    return why


def _reopen_early(session: Session, alert: Alert, why: list[str], now: datetime) -> None:
    reason = "; ".join(why)
    _audit(
        session,
        now,
        SYSTEM_ACTOR,
        "alert_reopened_early",
        alert,
        reason=reason,
        was=alert.status,
        quiet_since=alert.quiet_since.isoformat() if alert.quiet_since else None,
        quiet_reason=alert.quiet_reason,
    )
    alert.status = "open"
    alert.snoozed_until = None
    alert.quiet_since = None
    alert.reopen_reason = reason


def _go_quiet(session: Session, alert: Alert, now: datetime, reason: str | None) -> None:
    """Record the baseline a later "materially worse" is measured from."""
    latest = session.execute(
        select(ScoreSnapshot.score, ScoreSnapshot.flags)
        .where(ScoreSnapshot.account_id == alert.account_id, ScoreSnapshot.as_of <= now.date())
        .order_by(ScoreSnapshot.as_of.desc())
        .limit(1)
    ).first()
    alert.quiet_since = now
    alert.quiet_score = float(latest[0]) if latest is not None else None
    alert.quiet_flags = (
        sorted({str(f.get("code")) for f in latest[1] or []}) if latest is not None else []
    )
    alert.quiet_reason = reason
    alert.reopen_reason = None


def clean_reason(reason: str | None) -> str | None:
    """A reason as stored: trimmed, at most :data:`REASON_MAX` characters, None if empty."""
    text = " ".join((reason or "").split())
    return text[:REASON_MAX] or None


REASON_MAX = 500


def reason_target(session: Session, alert_id: int, viewer: Viewer) -> AlertItem:
    """The alert a reason would be added to; the same refusals as :func:`add_reason`."""
    alert = _actionable(session, alert_id, viewer, "explain")
    if alert.status not in QUIET_STATUSES:
        raise ValueError("Only an acknowledged or snoozed alert takes a reason.")
    return alert_item(session, alert)


def add_reason(
    session: Session, alert_id: int, viewer: Viewer, reason: str, now: datetime
) -> AlertItem:
    """Attach (or replace) the why of an acknowledgement or snooze; audited with its text.

    ValueError when the alert is not acknowledged or snoozed, or the reason is empty.
    """
    alert = _actionable(session, alert_id, viewer, "explain")
    text = clean_reason(reason)
    if text is None:
        raise ValueError("The reason is empty.")
    if alert.status not in QUIET_STATUSES:
        raise ValueError("Only an acknowledged or snoozed alert takes a reason.")
    if text == alert.quiet_reason:
        return alert_item(session, alert)
    _audit(
        session,
        now,
        viewer.slack_user_id,
        "alert_reason",
        alert,
        reason=text,
        previous=alert.quiet_reason,
    )
    alert.quiet_reason = text
    session.flush()
    return alert_item(session, alert)


# ---------------------------------------------------------------------------------------
# Routing


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip().lower() == (b or "").strip().lower()


def route(session: Session, config: PulseConfig, alert: Alert) -> str | None:
    """Where the alert's card goes: a channel id, or the owner's / manager's Slack user id.

    The first of ``config.slack.alert_routes`` whose filters (severity, owner's team,
    account segment; case-insensitive) all match decides. Returns ``None`` when no route
    matches, or the matching route points at a person with no known Slack user id (no
    owner, no manager, or no ``slack_user_id``): the bot logs that and posts nothing,
    rather than guessing another recipient.
    """
    account = session.get(Account, alert.account_id)
    owner = account.owner if account is not None else None
    for r in config.slack.alert_routes:
        if r.severity != "any" and r.severity != alert.severity:
            continue
        if r.team is not None and not _same(r.team, owner.team if owner else None):
            continue
        if r.segment is not None and not _same(r.segment, account.segment if account else None):
            continue
        if r.to == "owner":
            return owner.slack_user_id if owner is not None else None
        if r.to == "manager":
            manager = owner.manager if owner is not None else None
            return manager.slack_user_id if manager is not None else None
        return r.to
    return None


# ---------------------------------------------------------------------------------------
# User actions


def _actionable(session: Session, alert_id: int, viewer: Viewer, verb: str) -> Alert:
    """The alert, if ``viewer`` may act on it; PermissionError / LookupError otherwise."""
    if not viewer.can_act:
        kind = {
            "read_only": "read-only access",
            "account_executive": "account executive (read) access",
            "none": "no Pulse access",
        }.get(viewer.role, f"role {viewer.role}")
        raise PermissionError(f"You have {kind}, so you cannot {verb} alerts.")
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise LookupError(f"Alert {alert_id} does not exist (any more).")
    if not can_see(session, viewer, alert.account_id):
        raise PermissionError(
            f"You cannot {verb} this alert: its account is not in your portfolio."
        )
    return alert


def acknowledge(
    session: Session, alert_id: int, viewer: Viewer, now: datetime, reason: str | None = None
) -> AlertItem:
    """Acknowledge an alert: it stays quiet while the same condition holds.

    Idempotent: acknowledging an acknowledged (or resolved) alert changes nothing and
    writes no audit row, so a double click is harmless. Acknowledging a snoozed alert
    ends the snooze. Raises PermissionError for viewers who cannot act or cannot see the
    account, LookupError for an unknown alert id.
    """
    alert = _actionable(session, alert_id, viewer, "acknowledge")
    if alert.status in ("acknowledged", "resolved"):
        return alert_item(session, alert)
    previous = alert.status
    alert.status = "acknowledged"
    alert.acknowledged_by = viewer.slack_user_id
    alert.acknowledged_at = now
    alert.snoozed_until = None
    _go_quiet(session, alert, now, clean_reason(reason))
    _audit(
        session,
        now,
        viewer.slack_user_id,
        "alert_acknowledged",
        alert,
        previous=previous,
        reason=alert.quiet_reason,
        score=alert.quiet_score,
    )
    session.flush()
    return alert_item(session, alert)


def snooze_until(account: Account, choice: str, now: datetime) -> datetime:
    """When a snooze of ``choice`` ends; ValueError for an unknown choice or no renewal."""
    if choice in SNOOZE_DAYS:
        return now + timedelta(days=SNOOZE_DAYS[choice])
    if choice != "renewal":
        raise ValueError(f"Unknown snooze '{choice}'; choose 1d, 7d, 30d or renewal.")
    if account.renewal_date is None:
        raise ValueError(f"{account.name} has no renewal date; snooze for 1d, 7d or 30d instead.")
    if account.renewal_date <= now.date():
        raise ValueError(
            f"{account.name}'s renewal date {account.renewal_date} has passed; "
            "snooze for 1d, 7d or 30d instead."
        )
    return datetime.combine(account.renewal_date, time.min)


def snooze(
    session: Session,
    alert_id: int,
    viewer: Viewer,
    choice: SnoozeChoice,
    now: datetime,
    reason: str | None = None,
) -> AlertItem:
    """Snooze an alert for 1, 7 or 30 days or until the account's renewal date.

    Idempotent: the same snooze again (a snoozed alert whose end would move by no more
    than :data:`DOUBLE_CLICK`) changes nothing and writes no audit row; a different choice,
    or the same choice much later, re-snoozes from ``now``. Snoozing a resolved alert
    does nothing. Permissions as for :func:`acknowledge`; ValueError for an unknown
    choice or "renewal" on an account without a future renewal date.
    """
    alert = _actionable(session, alert_id, viewer, "snooze")
    account = session.get(Account, alert.account_id)
    assert account is not None  # foreign key
    until = snooze_until(account, choice, now)
    if alert.status == "resolved":
        return alert_item(session, alert)
    if (
        alert.status == "snoozed"
        and alert.snoozed_until is not None
        and abs(alert.snoozed_until - until) <= DOUBLE_CLICK
    ):
        return alert_item(session, alert)
    previous = alert.status
    alert.status = "snoozed"
    alert.snoozed_by = viewer.slack_user_id
    alert.snoozed_until = until
    _go_quiet(session, alert, now, clean_reason(reason))
    _audit(
        session,
        now,
        viewer.slack_user_id,
        "alert_snoozed",
        alert,
        choice=choice,
        until=until.isoformat(),
        previous=previous,
        reason=alert.quiet_reason,
        score=alert.quiet_score,
    )
    session.flush()
    return alert_item(session, alert)


def record_message(session: Session, alert_id: int, channel: str, ts: str) -> None:
    """Remember where the alert's card was posted, so later changes update that message."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise LookupError(f"Alert {alert_id} does not exist (any more).")
    alert.slack_channel = channel
    alert.slack_ts = ts
    session.flush()
