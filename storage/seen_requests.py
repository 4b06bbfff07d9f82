"""Slack requests already answered, in the database so every ``pulse serve`` process
shares them (``seen_slack_requests``).

:func:`first_time` inserts the request's key in a transaction of its own; the primary
key decides, in the database, which of two identical deliveries is first, whichever
processes receive them. One small INSERT per request, and now and then one DELETE of the
rows too old to matter (:func:`prune`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from storage.db import session_factory
from storage.models import SeenSlackRequest


def first_time(url: str, key: str, now: datetime) -> bool:
    """True (and remembered) the first time ``key`` is seen, False for a repeat."""
    with session_factory(url)() as session:
        session.add(SeenSlackRequest(key=key, seen_at=now))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def prune(url: str, before: datetime) -> int:
    """Forget the keys seen before ``before``; how many were forgotten."""
    with session_factory(url).begin() as session:
        result = session.execute(delete(SeenSlackRequest).where(SeenSlackRequest.seen_at < before))
        return int(getattr(result, "rowcount", 0) or 0)
