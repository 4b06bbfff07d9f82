"""Evaluation: bringing alerts in line with the latest snapshots after each scoring run."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from digests.views import AlertItem
from pulse.kernel.config import PulseConfig
from pulse.services.alerts.base import (
    BASELINE,
    LIVE_STATUSES,
    QUIET_STATUSES,
    SYSTEM_ACTOR,
    audit,
)
from pulse.services.alerts.baseline import record_baseline, split_first_seen, unwatched, watch
from pulse.services.alerts.conditions import Condition, Key, Scored, find_conditions
from pulse.services.alerts.views import alert_items
from pulse.services.portfolio import snapshot_dates
from storage.models import Account, Alert


@dataclass(frozen=True)
class AlertChanges:
    """What one evaluation changed, for the bot to post, re-post or update cards.

    ``baselined``: conditions that already held when Pulse first saw their account,
    recorded quietly (:mod:`pulse.services.alerts.baseline`), for the one-line summary.
    """

    raised: list[AlertItem] = field(default_factory=list)
    resolved: list[AlertItem] = field(default_factory=list)
    reopened: list[AlertItem] = field(default_factory=list)
    baselined: list[AlertItem] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.raised or self.resolved or self.reopened or self.baselined)


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

    An account no evaluation has seen yet (the first run, or its history just imported)
    gets its conditions recorded as the baseline, not raised, except the critical states
    of ``alerts.baseline_still_alert`` (:mod:`pulse.services.alerts.baseline`).

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
    live_rows = session.scalars(
        select(Alert).where(Alert.status.in_(LIVE_STATUSES), only).order_by(Alert.id)
    ).all()
    live = {(a.account_id, a.rule): a for a in live_rows}
    conditions, scored = find_conditions(session, latest, prev, live, account_ids)
    renewals = _renewal_dates(session, [a.account_id for a in live_rows if a.quiet_since])

    resolved: list[Alert] = []
    reopened: list[Alert] = []
    for key, alert in live.items():
        condition = conditions.get(key)
        if condition is None:
            _resolve(session, alert, now, latest, scored)
            resolved.append(alert)
        elif _follow(session, config, alert, condition, now, scored, renewals):
            reopened.append(alert)
    raised, baselined = _new_conditions(session, config, now, latest, live, conditions, scored)
    session.flush()
    return AlertChanges(
        raised=alert_items(session, raised),
        resolved=alert_items(session, resolved),
        reopened=alert_items(session, reopened),
        baselined=alert_items(session, baselined),
    )


def _new_conditions(
    session: Session,
    config: PulseConfig,
    now: datetime,
    latest: date,
    live: dict[Key, Alert],
    conditions: dict[Key, Condition],
    scored: Scored,
) -> tuple[list[Alert], list[Alert]]:
    """(raised, recorded as the baseline) for the conditions without a live alert; the
    scored accounts no evaluation had seen are watched from now on."""
    first_seen = unwatched(session, list(scored))
    new = {key: c for key, c in conditions.items() if key not in live}
    to_raise, to_baseline = split_first_seen(session, config, new, first_seen, now.date())
    raised = _raise(session, now, latest, to_raise)
    baselined = record_baseline(session, now, latest, to_baseline, scored)
    watch(session, first_seen, latest, now)
    return raised, baselined


def _resolve(session: Session, alert: Alert, now: datetime, latest: date, scored: Scored) -> None:
    """The alert's condition no longer holds (or its account is no longer scored)."""
    alert.status = "resolved"
    alert.resolved_at = now
    reason = "condition cleared" if alert.account_id in scored else "account not scored"
    audit(
        session,
        now,
        SYSTEM_ACTOR,
        "alert_resolved",
        alert,
        reason=reason,
        as_of=latest.isoformat(),
    )


def _follow(
    session: Session,
    config: PulseConfig,
    alert: Alert,
    condition: Condition,
    now: datetime,
    scored: Scored,
    renewals: dict[int, date],
) -> bool:
    """Update a live alert whose condition still holds; True when it went back to open
    (reopened early, or its snooze ended)."""
    if condition.severity != alert.severity:
        audit(
            session,
            now,
            SYSTEM_ACTOR,
            "alert_severity_changed",
            alert,
            previous=alert.severity,
            severity=condition.severity,
            message=condition.message,
        )
        alert.severity = condition.severity
        alert.message = condition.message
    if alert.status in (*QUIET_STATUSES, BASELINE) and alert.quiet_since is not None:
        score, flags = scored[alert.account_id]
        renewal = renewals.get(alert.account_id)
        worse = materially_worse(alert, score, flags, renewal, config, now.date())
        if worse:
            _reopen_early(session, alert, worse, now)
            return True
    if alert.status == "snoozed" and alert.snoozed_until is not None and alert.snoozed_until <= now:
        audit(
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
        return True
    return False


def _raise(
    session: Session,
    now: datetime,
    latest: date,
    conditions: dict[Key, Condition],
) -> list[Alert]:
    """A new open alert for each of ``conditions`` (none has a live alert)."""
    raised: list[Alert] = []
    for condition in conditions.values():
        alert = Alert(
            account_id=condition.account_id,
            rule=condition.rule,
            severity=condition.severity,
            status="open",
            message=condition.message,
            label=condition.label,
            action=condition.action,
            opened_at=now,
        )
        session.add(alert)
        raised.append(alert)
    session.flush()  # ids for the audit rows and the view models
    for alert in raised:
        audit(
            session,
            now,
            SYSTEM_ACTOR,
            "alert_raised",
            alert,
            severity=alert.severity,
            message=alert.message,
            as_of=latest.isoformat(),
        )
    return raised


def _renewal_dates(session: Session, account_ids: list[int]) -> dict[int, date]:
    if not account_ids:
        return {}
    rows = session.execute(
        select(Account.id, Account.renewal_date).where(
            Account.id.in_(set(account_ids)), Account.renewal_date.is_not(None)
        )
    ).all()
    return {int(a): day for a, day in rows if day is not None}


def _critical_codes(flags: Sequence[dict[str, Any]]) -> dict[str, str]:
    return {
        str(f.get("code")): str(f.get("label") or f.get("code"))
        for f in flags
        if f.get("severity") == "critical"
    }


QUIET_SINCE = {
    "acknowledged": "since it was acknowledged",
    "snoozed": "since it was snoozed",
    BASELINE: "since Pulse started watching",
}
"""How a reopen reason names the moment the alert went quiet."""


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
    since = QUIET_SINCE.get(alert.status, "since it was snoozed")
    if alert.quiet_score is not None and score <= alert.quiet_score - policy.reopen_score_drop:
        why.append(
            f"score fell a further {alert.quiet_score - score:.1f} points "
            f"({alert.quiet_score:.1f} -> {score:.1f}) {since}"
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
    audit(
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
