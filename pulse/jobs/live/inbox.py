"""``webhook_events`` as an inbox: insert first (duplicates fall out), claim, settle.

Each event is inserted in a transaction of its own, so one duplicate in a HubSpot batch
neither hides nor undoes the others; the unique ``(source, event_id)`` decides, in the
database, which delivery is first, across threads and ``pulse serve`` processes alike.
The worker then *claims* pending rows (``received`` -> ``processing``, one conditional
UPDATE each, so two workers never process the same event) and settles them with their
outcome. A row left ``processing`` by a process that died is claimed again after
:data:`STALE_AFTER`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from pulse.jobs.live.events import LiveEvent
from storage.db import session_factory
from storage.models import WebhookEvent

STALE_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Stored:
    event: LiveEvent
    new: bool  # False: a duplicate delivery, nothing done


def store(url: str, events: Iterable[LiveEvent], now: datetime) -> list[Stored]:
    """Insert each event; a unique violation means it was delivered before."""
    out = []
    factory = session_factory(url)
    for event in events:
        with factory() as session:
            session.add(WebhookEvent(source=event.source, event_id=event.event_id[:200],
                                     kind=event.kind[:120], received_at=now, status="received",
                                     payload=event.payload))
            try:
                session.commit()
                out.append(Stored(event, True))
            except IntegrityError:
                session.rollback()
                out.append(Stored(event, False))
    return out


@dataclass(frozen=True)
class Claimed:
    id: int
    source: str
    event_id: str
    kind: str
    payload: dict[str, Any]


def claim(url: str, now: datetime) -> list[Claimed]:
    """Pending events (and ones a dead worker left), now this worker's, oldest first."""
    stale = now - STALE_AFTER
    pending = or_(WebhookEvent.status == "received",
                  and_(WebhookEvent.status == "processing", WebhookEvent.received_at < stale))
    with session_factory(url)() as session:
        rows = session.execute(
            select(WebhookEvent.id, WebhookEvent.source, WebhookEvent.event_id,
                   WebhookEvent.kind, WebhookEvent.payload)
            .where(pending).order_by(WebhookEvent.id)
        ).all()
        claimed = []
        for row in rows:
            taken = cast("CursorResult[Any]", session.execute(
                update(WebhookEvent).where(WebhookEvent.id == row.id, pending)
                .values(status="processing")
            ))
            if taken.rowcount == 1:
                claimed.append(Claimed(row.id, row.source, row.event_id, row.kind,
                                       dict(row.payload or {})))
        session.commit()
    return claimed


def settle(url: str, outcomes: dict[int, tuple[str, list[int], str | None]],
           now: datetime) -> None:
    """Record each claimed event's ``(status, account_ids, error)``."""
    if not outcomes:
        return
    with session_factory(url)() as session:
        for event_id, (status, accounts, error) in outcomes.items():
            session.execute(
                update(WebhookEvent).where(WebhookEvent.id == event_id).values(
                    status=status, account_ids=sorted(accounts), error=error,
                    processed_at=now)
            )
        session.commit()
