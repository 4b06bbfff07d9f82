"""Each person's preferences about what reaches them (``/health settings``), and the
questions the senders ask of them.

Stored per Slack user id (:mod:`storage.models.preferences`): the lowest severity that may
DM them (``min_severity``, else ``alerts.dm_min_severity``), quiet days (no digest that
weekday, in the workspace's timezone), a digest time (stored and shown; the digest still
goes out with the scheduled morning run), accounts muted until a date (their new alerts
are not DMed to that person) and accounts followed (their new alerts reach that person
although they do not own them). Every change writes one ``audit_log`` row
(``preference_changed``, ``account_muted``/``account_unmuted``,
``account_followed``/``account_unfollowed``) with the old and new values.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from digests.preference_blocks import SettingsView
from pulse.kernel.clock import local_date, local_time_to_utc
from pulse.kernel.config import PulseConfig
from pulse.services.access import Viewer, can_see, find_visible_account
from pulse.services.alerts.base import SEVERITY_ORDER
from storage.models import (
    Account,
    AccountFollow,
    AccountMute,
    AuditLog,
    PipelineRun,
    UserPreference,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Quiet-day values, in ``date.weekday()`` order."""

DM_SEVERITIES = ("critical", "warning")
"""The choices of the lowest severity that may DM a person (as ``alerts.dm_min_severity``)."""

MUTE_DAYS_DEFAULT = 7
"""How long the card's "Mute" button mutes an account."""

MUTE_DAYS_MAX = 90
"""The longest mute: a forgotten mute must not silence an account for good."""
MUTE_DAYS_SUFFIX = re.compile(r"\s+(?:for\s+)?(\d{1,4})\s*(?:d|days?)$", re.IGNORECASE)
"""``/health mute NAME 14d`` (or ``14 days``, ``for 14 days``): the mute's length after the
name; a bare number stays part of the name ("Account 7")."""

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class Preferences:
    """One person's settings; None / empty means the workspace default."""

    user: str
    digest_time: str | None = None
    quiet_days: tuple[str, ...] = ()
    min_severity: str | None = None
    mutes: dict[int, datetime] = field(default_factory=dict)  # account id -> until
    follows: frozenset[int] = frozenset()


def _audit(
    session: Session, user: str, action: str, now: datetime, detail: dict[str, Any],
    account_id: int | None = None,
) -> None:
    session.add(AuditLog(at=now, actor=user, action=action, account_id=account_id,
                         detail=detail))


def get(session: Session, user: str, now: datetime) -> Preferences:
    """``user``'s preferences, with the mutes still running at ``now``."""
    row = session.get(UserPreference, user)
    mutes = session.scalars(
        select(AccountMute).where(AccountMute.slack_user_id == user, AccountMute.until > now)
    ).all()
    follows = session.scalars(
        select(AccountFollow.account_id).where(AccountFollow.slack_user_id == user)
    ).all()
    return Preferences(
        user,
        row.digest_time if row else None,
        tuple(row.quiet_days or ()) if row else (),
        row.min_severity if row else None,
        {m.account_id: m.until for m in mutes},
        frozenset(follows),
    )


def update(
    session: Session,
    user: str,
    now: datetime,
    *,
    digest_time: str | None,
    quiet_days: list[str],
    min_severity: str | None,
) -> list[str]:
    """Store ``user``'s settings; return the names of those that changed (each audited).

    ValueError naming the value when a time is not HH:MM, a day not one of
    :data:`WEEKDAYS` or a severity not one of :data:`DM_SEVERITIES`.
    """
    if digest_time is not None and not _TIME.match(digest_time):
        raise ValueError(f"Digest time {digest_time!r} is not a time like 08:30.")
    days = sorted(set(quiet_days), key=lambda d: WEEKDAYS.index(d) if d in WEEKDAYS else -1)
    bad = [d for d in days if d not in WEEKDAYS]
    if bad:
        raise ValueError(f"Quiet day {bad[0]!r} is not one of {', '.join(WEEKDAYS)}.")
    if min_severity is not None and min_severity not in DM_SEVERITIES:
        raise ValueError(f"Severity {min_severity!r} is not one of {', '.join(DM_SEVERITIES)}.")
    row = session.get(UserPreference, user)
    if row is None:
        row = UserPreference(slack_user_id=user, quiet_days=[], updated_at=now)
        session.add(row)
    new: dict[str, Any] = {
        "digest_time": digest_time, "quiet_days": days, "min_severity": min_severity
    }
    changed = []
    for name, value in new.items():
        old = getattr(row, name)
        if (old or None) != (value or None):
            changed.append(name)
            _audit(session, user, "preference_changed", now,
                   {"preference": name, "old": old, "new": value})
            setattr(row, name, value)
    row.updated_at = now
    session.flush()
    return changed


def mute(session: Session, user: str, account_id: int, days: int, now: datetime) -> datetime:
    """Mute ``account_id`` for ``user`` for ``days`` (1 to :data:`MUTE_DAYS_MAX`); returns
    until when. LookupError when the account does not exist."""
    if session.get(Account, account_id) is None:
        raise LookupError("No such account.")
    if not 1 <= days <= MUTE_DAYS_MAX:
        raise ValueError(f"A mute lasts 1 to {MUTE_DAYS_MAX} days, not {days}.")
    until = now + timedelta(days=days)
    row = session.scalar(select(AccountMute).where(
        AccountMute.slack_user_id == user, AccountMute.account_id == account_id))
    if row is None:
        session.add(AccountMute(slack_user_id=user, account_id=account_id, until=until,
                                created_at=now))
    else:
        row.until = until
    _audit(session, user, "account_muted", now, {"days": days, "until": until.isoformat()},
           account_id)
    session.flush()
    return until


def unmute(session: Session, user: str, account_id: int, now: datetime) -> bool:
    """End ``user``'s mute of ``account_id``; False when there was none."""
    row = session.scalar(select(AccountMute).where(
        AccountMute.slack_user_id == user, AccountMute.account_id == account_id))
    gone = row is not None and row.until > now
    if row is not None:
        session.delete(row)
    if gone:
        _audit(session, user, "account_unmuted", now, {}, account_id)
    session.flush()
    return bool(gone)


def follow(session: Session, user: str, account_id: int, now: datetime, on: bool = True) -> bool:
    """Follow (``on``) or stop following ``account_id``; False when nothing changed.
    LookupError when the account does not exist."""
    if session.get(Account, account_id) is None:
        raise LookupError("No such account.")
    row = session.scalar(select(AccountFollow).where(
        AccountFollow.slack_user_id == user, AccountFollow.account_id == account_id))
    if (row is not None) == on:
        return False
    if on:
        session.add(AccountFollow(slack_user_id=user, account_id=account_id, created_at=now))
    else:
        session.delete(row)
    _audit(session, user, "account_followed" if on else "account_unfollowed", now, {},
           account_id)
    session.flush()
    return True


def followed_accounts(session: Session, user: str) -> set[int]:
    """The ids of the accounts ``user`` follows."""
    return {int(a) for a in session.scalars(
        select(AccountFollow.account_id).where(AccountFollow.slack_user_id == user))}


def settings_view(session: Session, config: PulseConfig, user: str, now: datetime) -> SettingsView:
    """What ``/health settings`` shows ``user``: their settings next to the defaults, and
    the accounts they muted (with the last day, local) or follow, by name."""
    prefs = get(session, user, now)
    names = dict(session.execute(select(Account.id, Account.name).where(
        Account.id.in_([*prefs.mutes, *prefs.follows]))).all())
    tz = config.workspace.timezone
    muted = sorted((names.get(a, "?"), local_date(tz, until)) for a, until in prefs.mutes.items())
    return SettingsView(
        min_severity=prefs.min_severity,
        default_severity=config.alerts.dm_min_severity,
        quiet_days=prefs.quiet_days,
        digest_time=prefs.digest_time,
        default_time=config.schedule.time,
        timezone=tz,
        muted=muted,
        followed=sorted(names.get(a, "?") for a in prefs.follows),
    )


ACCOUNT_VERBS = ("mute", "unmute", "follow", "unfollow")
"""``/health VERB NAME``: what a person may do to an account from Slack."""


def account_command(
    session: Session, viewer: Viewer, verb: str, query: str, now: datetime
) -> str:
    """``/health VERB NAME`` (``/health mute NAME [N days]``: for N days, else
    :data:`MUTE_DAYS_DEFAULT`): :func:`account_action` on the one account ``query`` names
    among those ``viewer`` may see; the reply, in plain words."""
    days = MUTE_DAYS_DEFAULT
    if verb == "mute":
        found = MUTE_DAYS_SUFFIX.search(query)
        if found:
            days, query = int(found[1]), query[: found.start()].strip()
            if not 1 <= days <= MUTE_DAYS_MAX:
                return f"A mute lasts 1 to {MUTE_DAYS_MAX} days, not {days}."
    match = find_visible_account(session, viewer, query) if viewer.role != "none" else None
    if match is None or match.account is None:
        several = match is not None and bool(match.candidates)
        return (f"Several accounts match {query!r}: type more of the name." if several
                else f"No account you can see matches {query!r}.")
    return account_action(session, viewer, verb, match.account.id, now, days=days)


def account_action(
    session: Session, viewer: Viewer, verb: str, account_id: int, now: datetime,
    *, days: int = MUTE_DAYS_DEFAULT,
) -> str:
    """Mute (for ``days``), unmute, follow or unfollow an account
    ``viewer`` may see; the reply, in plain words (the same refusal whether or not the
    account exists)."""
    account = session.get(Account, account_id)
    if account is None or viewer.role == "none" or not can_see(session, viewer, account_id):
        return "You cannot follow or mute this account."
    user = viewer.slack_user_id
    if verb == "mute":
        until = mute(session, user, account.id, days, now)
        return (f"Muted {account.name} until {until:%b %d}: its new alerts wait in your "
                "digest.")
    if verb == "unmute":
        done = unmute(session, user, account.id, now)
        return f"{account.name} is {'no longer' if done else 'not'} muted."
    done = follow(session, user, account.id, now, on=verb == "follow")
    if verb == "follow":
        return (f"You now follow {account.name}: its new alerts reach you." if done
                else f"You already follow {account.name}.")
    return f"You {'no longer' if done else 'do not'} follow {account.name}."


# ---------------------------------------------------------------------------------------
# What the senders ask


@dataclass(frozen=True)
class AlertRules:
    """Everyone's alert preferences at one moment, read once per run."""

    floors: dict[str, str]  # user -> their min severity
    muted: frozenset[tuple[str, int]]  # (user, account id)
    followers: dict[int, list[str]]  # account id -> users following it

    def dm_allowed(self, config: PulseConfig, user: str, severity: str) -> bool:
        """At least the user's lowest DM severity (else ``alerts.dm_min_severity``);
        an unknown severity is sent."""
        floor = SEVERITY_ORDER[self.floors.get(user, config.alerts.dm_min_severity)]
        return SEVERITY_ORDER.get(severity, 0) <= floor


def alert_rules(session: Session, now: datetime) -> AlertRules:
    """Floors, running mutes and follows of every user."""
    floors = {
        user: floor
        for user, floor in session.execute(
            select(UserPreference.slack_user_id, UserPreference.min_severity)
        )
        if floor
    }
    muted = session.execute(select(AccountMute.slack_user_id, AccountMute.account_id)
                            .where(AccountMute.until > now)).all()
    followers: dict[int, list[str]] = defaultdict(list)
    for user, account_id in session.execute(
        select(AccountFollow.slack_user_id, AccountFollow.account_id)
        .order_by(AccountFollow.slack_user_id)
    ):
        followers[account_id].append(user)
    return AlertRules(floors, frozenset(muted), dict(followers))


def quiet_today(session: Session, config: PulseConfig, now: datetime) -> set[str]:
    """The users for whom today (the workspace's local weekday) is a quiet day."""
    today = WEEKDAYS[local_date(config.workspace.timezone, now).weekday()]
    rows = session.execute(select(UserPreference.slack_user_id, UserPreference.quiet_days))
    return {user for user, days in rows if today in (days or ())}


def digest_times(session: Session, config: PulseConfig, now: datetime) -> dict[str, datetime]:
    """Each user who chose a digest time: when that time is today (naive UTC; today is
    the workspace's local date)."""
    tz = config.workspace.timezone
    today = local_date(tz, now)
    rows = session.execute(select(UserPreference.slack_user_id, UserPreference.digest_time)
                           .where(UserPreference.digest_time.is_not(None)))
    out = {}
    for user, hhmm in rows:
        hour, minute = (int(p) for p in str(hhmm).split(":"))
        out[user] = local_time_to_utc(tz, today, hour, minute)
    return out


def morning_run_finished(session: Session, config: PulseConfig, now: datetime) -> bool:
    """Whether a pipeline run of today (the workspace's local date) has finished: the
    scores a later digest would show are today's."""
    today = local_date(config.workspace.timezone, now)
    return session.scalar(select(PipelineRun.id).where(
        PipelineRun.run_date == today, PipelineRun.finished_at.is_not(None)).limit(1)) is not None
