"""CRM owners matched to Slack users, so alerts and digests reach them.

A CRM (Salesforce User, HubSpot owner) knows each owner's email, not their Slack user id.
:func:`match_slack_users` sets ``owners.slack_user_id`` (and ``slack_user_source``) for
every owner, in this order:

1. **Override**: ``people.slack_users`` in pulse.yml, keyed by the owner's email or CRM
   owner id (case-insensitive), always wins (``slack_user_source = "override"``).
2. **Source**: an id the source record itself carried (the sample workspace, a file) is
   kept (``"source"``).
3. **Email lookup**: Slack's ``users.lookupByEmail`` (scope ``users:read.email``;
   https://api.slack.com/methods/users.lookupByEmail) through a :class:`SlackDirectory`
   that ``bot/`` implements. Answers are cached in ``slack_lookups`` with when they were
   checked: a **found** user is re-checked once older than :data:`FOUND_RECHECK` (a day:
   people leave, emails change; Slack answers ``users_not_found`` for a deactivated user,
   so their match is dropped at that re-check); a **not found** (Slack's ``users_not_found``) or an
   **error** is re-checked on the next run (the daily pipeline, ``pulse sync``,
   ``pulse people --refresh``), so a CSM who joins Slack today gets tomorrow's digest.
   Any error other than ``users_not_found`` (``missing_scope``, ``invalid_auth``, the
   network, ``ratelimited`` after slack_sdk's retries) would repeat for everyone: it is
   stored for that email, the remaining lookups of the run are skipped, and every owner
   keeps their cached answer (a found match is never dropped because of an error).

Without a directory (no ``SLACK_BOT_TOKEN``) only overrides and the cache apply. An owner
with no email, or whose email Slack does not know, gets no Slack user: their alerts go to
the catch-all channel (:mod:`pulse.services.alerts.routing`) and ``pulse people`` says why.
Writing ``owners.slack_user_id`` is what makes every consumer (alert routing, digests,
access, the App Home) work unchanged; a CRM re-sync does not send ``slack_user_id``, so
the loader's upsert keeps it, and the pipeline matches again after every sync anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from pulse.services.outbox import DeliveryError
from storage.models import Owner, SlackLookup

FOUND_RECHECK = timedelta(days=1)
"""A found match is looked up again once its check is this old."""
FOUND, NOT_FOUND, ERROR = "found", "not_found", "error"
OVERRIDE, SOURCE, EMAIL = "override", "source", "email"
"""Where an owner's Slack user id came from (``owners.slack_user_source``)."""


@runtime_checkable
class SlackDirectory(Protocol):
    """Slack's user directory, implemented in ``bot/`` (``bot.delivery.SlackDelivery``)."""

    def lookup_by_email(self, email: str) -> str | None:
        """The Slack user id of ``email``; None when Slack answers ``users_not_found``.

        Raises :class:`pulse.services.outbox.DeliveryError` (Slack's error code, or
        ``network: ...``) on any other failure.
        """
        ...


@dataclass
class MatchReport:
    """What :func:`match_slack_users` did."""

    slack_configured: bool = True
    matched: int = 0  # owners with a Slack user after the run
    unmatched: int = 0
    overridden: int = 0
    lookups: int = 0  # users.lookupByEmail calls made
    errors: list[tuple[str, str]] = field(default_factory=list)  # (email, error)
    skipped: int = 0  # lookups not made after an error

    def __str__(self) -> str:
        text = f"{self.matched:,} owner(s) with a Slack user, {self.unmatched:,} without"
        if self.overridden:
            text += f" ({self.overridden:,} from overrides)"
        if not self.slack_configured:
            return text + "; Slack not configured: cache and overrides only"
        text += f"; {self.lookups:,} lookup(s)"
        if self.errors:
            email, error = self.errors[0]
            text += (f"; lookup error {error} for {email}, "
                     f"{self.skipped:,} lookup(s) left for the next run")
        return text


def norm(value: str | None) -> str:
    """An email or id as compared here: stripped, lower case."""
    return (value or "").strip().lower()


def override_for(config: PulseConfig, owner: Owner) -> str | None:
    """The Slack user id pulse.yml names for ``owner`` (by email or CRM owner id)."""
    overrides = {norm(k): v for k, v in config.people.slack_users.items()}
    for key in (owner.email, owner.crm_owner_id, owner.external_id):
        if norm(key) and norm(key) in overrides:
            return overrides[norm(key)]
    return None


def _due(row: SlackLookup | None, now: datetime) -> bool:
    if row is None or row.status != FOUND:
        return True
    return row.checked_at <= now - FOUND_RECHECK


def _look_up(
    session: Session,
    directory: SlackDirectory,
    emails: list[str],
    cache: dict[str, SlackLookup],
    now: datetime,
    report: MatchReport,
) -> None:
    """Ask Slack for each email due a check; stop at the first error (see module doc)."""
    for n, email in enumerate(emails):
        row = cache.get(email)
        try:
            user_id = directory.lookup_by_email(email)
        except DeliveryError as exc:
            report.errors.append((email, exc.error))
            report.skipped = len(emails) - n - 1
            if row is None:
                row = cache[email] = SlackLookup(email=email, status=ERROR, checked_at=now)
                session.add(row)
            if row.status != FOUND:  # a found match survives an error
                row.status, row.slack_user_id = ERROR, None
                row.error, row.checked_at = exc.error[:200], now
            return
        finally:
            report.lookups += 1
        if row is None:
            row = cache[email] = SlackLookup(email=email, status=NOT_FOUND, checked_at=now)
            session.add(row)
        row.status = FOUND if user_id else NOT_FOUND
        row.slack_user_id, row.error, row.checked_at = user_id, None, now


def match_slack_users(
    session: Session, config: PulseConfig, directory: SlackDirectory | None, now: datetime
) -> MatchReport:
    """Set every owner's Slack user id (rules in the module docstring); the caller commits."""
    report = MatchReport(slack_configured=directory is not None)
    owners = list(session.scalars(select(Owner).order_by(Owner.id)))
    cache = {row.email: row for row in session.scalars(select(SlackLookup))}
    by_email: dict[str, list[Owner]] = {}
    for owner in owners:
        override = override_for(config, owner)
        if override:
            owner.slack_user_id, owner.slack_user_source = override, OVERRIDE
            report.overridden += 1
        elif owner.slack_user_id and owner.slack_user_source in (None, SOURCE):
            owner.slack_user_source = SOURCE
        elif norm(owner.email):
            by_email.setdefault(norm(owner.email), []).append(owner)
        else:
            owner.slack_user_id, owner.slack_user_source = None, None
    if directory is not None:
        due = [email for email in by_email if _due(cache.get(email), now)]
        _look_up(session, directory, due, cache, now, report)
    for email, same in by_email.items():
        row = cache.get(email)
        found = row.slack_user_id if row is not None and row.status == FOUND else None
        for owner in same:
            owner.slack_user_id, owner.slack_user_source = found, EMAIL if found else None
    session.flush()
    report.matched = sum(1 for o in owners if o.slack_user_id)
    report.unmatched = len(owners) - report.matched
    return report
