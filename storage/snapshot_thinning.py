"""Thinning old score snapshots: daily ones for a while, then one a week, then one a month.

A snapshot a day for 100,000 accounts is 36.5 million rows a year. Nobody explains a score
of three years ago day by day, so the daily job (the retention step,
:mod:`pulse.jobs.pipeline`) keeps every snapshot younger than ``daily_days``, then each
account's latest snapshot of each calendar week (Monday to Sunday), and from
``weekly_days`` on its latest of each calendar month. The buckets are calendar weeks and
months, so a kept snapshot stays kept as the days pass (until its week joins a month), and
an account's last snapshot before it stopped being scored is always its bucket's latest,
so it is never thinned away. A keyframe (:mod:`storage.snapshot_keyframes`) stays until
its deltas of the daily days are thinned too, and a kept snapshot whose components were a
delta against a thinned keyframe is packed alone first. What is kept is read as
before: ``pulse explain --as-of``
shows the latest snapshot on or before the date, metrics read each account's latest
snapshot on or before a period's ends, and backtests rescore from the data and read no
snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from storage.models import ScoreSnapshot
from storage.models.snapshots import detach_dependents

Bucket = tuple[date, date]
"""A calendar week or month: first day, and the first day after it."""


def week_of(day: date) -> Bucket:
    """The Monday-to-Sunday week of ``day``."""
    start = day - timedelta(days=day.weekday())
    return start, start + timedelta(days=7)


def month_of(day: date) -> Bucket:
    """The calendar month of ``day``."""
    start = day.replace(day=1)
    following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, following


@dataclass(frozen=True)
class Thinned:
    """What one thinning removed, and the dates before which it thinned."""

    removed: int
    weekly_before: date
    monthly_before: date

    def __str__(self) -> str:
        return (
            f"{self.removed:,} snapshot(s) thinned (weekly before {self.weekly_before}, "
            f"monthly before {self.monthly_before})"
        )


def _buckets_to_thin(
    session: Session, before: date, bucket_of: Callable[[date], Bucket]
) -> list[Bucket]:
    """The buckets with a snapshot dated before ``before`` and more than one date (the
    others have nothing to thin); the bucket holding ``before`` counts its later dates."""
    until = bucket_of(before - timedelta(days=1))[1]
    stmt = select(ScoreSnapshot.as_of).where(ScoreSnapshot.as_of < until).distinct()
    seen: dict[Bucket, list[date]] = {}
    for day in session.scalars(stmt):
        seen.setdefault(bucket_of(day), []).append(day)
    return sorted(
        bucket for bucket, days in seen.items() if len(days) > 1 and min(days) < before
    )


def _thin_bucket(session: Session, bucket: Bucket, before: date) -> int:
    """Delete each account's snapshots of ``bucket`` dated before ``before`` except its
    latest of the bucket, and except a keyframe with deltas dated from ``before`` on (it
    goes on a later day, once they are thinned too, rather than have every one of them
    packed alone); the kept snapshots whose components are deltas against a deleted one
    are packed alone first."""
    start, end = bucket

    def doomed(snap: Any) -> ColumnElement[bool]:
        later = aliased(ScoreSnapshot)
        latest = (
            select(func.max(later.as_of))
            .where(
                later.account_id == snap.account_id,
                and_(later.as_of >= start, later.as_of < end),
            )
            .scalar_subquery()
        )
        dependent = aliased(ScoreSnapshot)
        needed = exists().where(
            dependent.account_id == snap.account_id,
            dependent.components_ref == snap.as_of,
            dependent.as_of >= before,
        )
        return and_(
            snap.as_of >= start, snap.as_of < min(end, before), snap.as_of < latest, ~needed
        )

    detach_dependents(session.connection(), doomed, start, min(end, before) - timedelta(days=1))
    result = session.execute(
        delete(ScoreSnapshot)
        .where(doomed(ScoreSnapshot))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def thin_snapshots(session: Session, today: date, daily_days: int, weekly_days: int) -> Thinned:
    """Thin the snapshots older than ``daily_days`` to one per account and week, and those
    older than ``weekly_days`` to one per account and month. Idempotent; runs in the
    caller's transaction."""
    weekly_before = today - timedelta(days=daily_days)
    monthly_before = today - timedelta(days=max(weekly_days, daily_days))
    removed = 0
    for bucket in _buckets_to_thin(session, weekly_before, week_of):
        removed += _thin_bucket(session, bucket, weekly_before)
    for bucket in _buckets_to_thin(session, monthly_before, month_of):
        removed += _thin_bucket(session, bucket, monthly_before)
    return Thinned(removed, weekly_before, monthly_before)
