"""Where an alert's card goes (``config.slack.alert_routes``, then the catch-all)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from storage.models import Account, Alert, Owner


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip().lower() == (b or "").strip().lower()


def _reachable(person: Owner | None) -> str | None:
    return person.slack_user_id if person is not None and person.slack_user_id else None


def destination(session: Session, config: PulseConfig, alert: Alert) -> tuple[str | None, bool]:
    """Where the alert's card goes, and whether that is the catch-all channel.

    The first of ``config.slack.alert_routes`` whose filters (severity, owner's team,
    account segment; case-insensitive) all match decides. When that route points at a
    person who cannot be reached (no owner, no manager, or no Slack user: see
    ``pulse people``), the card goes to the catch-all channel
    (``slack.catch_all_channel``, else ``slack.admin_channel``) with ``True``, so no alert
    is silently dropped. ``(None, False)`` when no route matches, or when the person is
    unreachable and no catch-all channel is configured: the bot logs that and posts
    nothing.
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
        if entry.to in ("owner", "manager"):
            person = owner if entry.to == "owner" or owner is None else owner.manager
            found = _reachable(person)
            if found:
                return found, False
            catch_all = config.slack.catch_all
            return catch_all, catch_all is not None
        return entry.to, False
    return None, False


def route(session: Session, config: PulseConfig, alert: Alert) -> str | None:
    """The card's destination of :func:`destination`: a channel id, a Slack user id, or
    None."""
    return destination(session, config, alert)[0]
