"""Where an alert's card goes (``config.slack.alert_routes``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from storage.models import Account, Alert


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
    for entry in config.slack.alert_routes:
        if entry.severity != "any" and entry.severity != alert.severity:
            continue
        if entry.team is not None and not _same(entry.team, owner.team if owner else None):
            continue
        segment = account.segment if account is not None else None
        if entry.segment is not None and not _same(entry.segment, segment):
            continue
        if entry.to == "owner":
            return owner.slack_user_id if owner is not None else None
        if entry.to == "manager":
            manager = owner.manager if owner is not None else None
            return manager.slack_user_id if manager is not None else None
        return entry.to
    return None
