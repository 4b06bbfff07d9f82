"""What people do to an alert from Slack: acknowledge, snooze, explain why, and where its
card was posted.

Acknowledging or snoozing records the account as it stands (``quiet_*``): the baseline a
later "materially worse" is measured from (``evaluate.materially_worse``).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from digests.views import AlertItem
from pulse.kernel.snoozes import SNOOZE_DAYS, UNTIL_RENEWAL, SnoozeChoice
from pulse.services.access import Viewer, can_see
from pulse.services.alerts.base import QUIET_STATUSES, audit
from pulse.services.alerts.views import alert_item
from storage.models import Account, Alert, ScoreSnapshot

DOUBLE_CLICK = timedelta(minutes=5)
"""Two snoozes ending within this of each other are the same snooze (a double click)."""
REASON_MAX = 500
"""Characters kept of the why of an acknowledgement or snooze."""


def not_found(alert_id: int) -> str:
    """The one answer for an alert id that does not exist and for another portfolio's
    alert: the same words either way, so ids cannot be probed for what exists."""
    return (f"Alert {alert_id} was not found: it no longer exists, or its account is not "
            "in your portfolio.")


def _actionable(session: Session, alert_id: int, viewer: Viewer, verb: str) -> Alert:
    """The alert, if ``viewer`` may act on it; PermissionError when the viewer may act on
    no alert, LookupError (:func:`not_found`) for an unknown id or an alert the viewer
    cannot see."""
    if not viewer.can_act:
        kind = {
            "read_only": "read-only access",
            "account_executive": "account executive (read) access",
            "none": "no Pulse access",
        }.get(viewer.role, f"role {viewer.role}")
        raise PermissionError(f"You have {kind}, so you cannot {verb} alerts.")
    alert = session.get(Alert, alert_id)
    if alert is None or not can_see(session, viewer, alert.account_id):
        raise LookupError(not_found(alert_id))
    return alert


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
    audit(
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


def acknowledge(
    session: Session, alert_id: int, viewer: Viewer, now: datetime, reason: str | None = None
) -> AlertItem:
    """Acknowledge an alert: it stays quiet while the same condition holds.

    Idempotent: acknowledging an acknowledged (or resolved) alert changes nothing and
    writes no audit row, so a double click is harmless. Acknowledging a snoozed alert
    ends the snooze. Raises PermissionError for viewers who cannot act, LookupError (the
    same words) for an unknown alert id or one whose account the viewer cannot see.
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
    audit(
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


_FIXED = ", ".join(list(SNOOZE_DAYS)[:-1]) + f" or {list(SNOOZE_DAYS)[-1]}"
"""The fixed-length snoozes in words: ``1d, 7d or 30d``."""


def snooze_until(account: Account, choice: str, now: datetime) -> datetime:
    """When a snooze of ``choice`` ends; ValueError for an unknown choice or no renewal."""
    if choice in SNOOZE_DAYS:
        return now + timedelta(days=SNOOZE_DAYS[choice])
    if choice != UNTIL_RENEWAL:
        raise ValueError(f"Unknown snooze '{choice}'; choose {_FIXED} or {UNTIL_RENEWAL}.")
    if account.renewal_date is None:
        raise ValueError(f"{account.name} has no renewal date; snooze for {_FIXED} instead.")
    if account.renewal_date <= now.date():
        raise ValueError(
            f"{account.name}'s renewal date {account.renewal_date} has passed; "
            f"snooze for {_FIXED} instead."
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
    audit(
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


def record_message(
    session: Session, alert_id: int, channel: str, ts: str, *, catch_all: bool = False
) -> None:
    """Remember where the alert's card was posted, so later changes update that message;
    ``catch_all``: it went to the catch-all channel (its owner has no Slack user)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise LookupError(f"Alert {alert_id} does not exist (any more).")
    alert.slack_channel = channel
    alert.slack_ts = ts
    alert.catch_all = catch_all
    session.flush()
