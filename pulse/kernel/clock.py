"""The one clock: what "now" and "today" mean everywhere in Pulse.

Every function that needs the time takes ``now`` (naive UTC) from its caller where a
caller has one; whatever reads the wall clock (entry points, the scheduler, run and sync
timestamps, APIs that speak POSIX seconds) reads it here, through :func:`utcnow` or
:func:`epoch_seconds`. "Today" is the workspace's local date (``workspace.timezone``), so a
run at 00:30 in Sydney scores Sydney's today, not UTC's yesterday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """The wall clock as naive UTC, the convention of every ``now`` in Pulse."""
    return datetime.now(UTC).replace(tzinfo=None)


def epoch_seconds() -> float:
    """The wall clock (:func:`utcnow`) as POSIX seconds, for APIs and signatures that speak
    them (cursor start times, ``Retry-After`` dates, signed request timestamps)."""
    return utcnow().replace(tzinfo=UTC).timestamp()


def from_epoch_ms(ms: float) -> datetime:
    """A time given as POSIX milliseconds (HubSpot's, webhooks') as naive UTC."""
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def local_date(timezone: str, now: datetime) -> date:
    """The date in ``timezone`` (an IANA name) at ``now`` (naive UTC)."""
    return now.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).date()


def local_time_to_utc(timezone: str, day: date, hour: int, minute: int) -> datetime:
    """``hour:minute`` on ``day`` in ``timezone``, as naive UTC (that day's offset)."""
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC).replace(tzinfo=None)
