"""The jobs send through whatever Delivery they are given: no Slack needed.

``pulse.jobs.deliver`` only knows the :class:`pulse.services.outbox.Delivery` protocol;
here an in-memory delivery stands in for ``bot.delivery.SlackDelivery``: what a run
posts, what it records once posted, and how a refusal is reported.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session
from workspace import CFG, D1, NOW1, flag, load_people, put_snapshot

from pulse.jobs.deliver import post_alert_cards, send_digests
from pulse.services.alerts import evaluate_alerts
from pulse.services.outbox import Delivery, DeliveryError, Message, Posted
from storage.models import Alert


class MemoryDelivery:
    """Posts into lists; ``refuse`` names a Slack error to raise for every call."""

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.posted: list[Message] = []
        self.updated: list[tuple[Message, str]] = []
        self.batches = 0

    def batch(self) -> Delivery:
        self.batches += 1
        return self

    def post(self, message: Message) -> Posted | None:
        if self.refuse:
            raise DeliveryError(self.refuse)
        self.posted.append(message)
        return Posted(f"D-{message.destination}", f"{len(self.posted)}.0001")

    def update(self, message: Message, ts: str) -> Posted | None:
        if self.refuse:
            raise DeliveryError(self.refuse)
        self.updated.append((message, ts))
        return Posted(message.destination, ts)

    def upload(self, destination: str, content: bytes, *, filename: str, title: str) -> str:
        raise AssertionError("no uploads here")


def test_cards_are_posted_recorded_and_later_updated(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1, flags=[flag("invoice_overdue", detail="50 days")])
    changes = evaluate_alerts(session, CFG, NOW1)
    delivery = MemoryDelivery()
    report = post_alert_cards(delivery, session, CFG, changes, NOW1, commit=False)
    (message,) = delivery.posted
    assert message.destination == "UOLGA" and message.what == "alert message for UOLGA (1 alert(s))"
    assert report.posted == [(changes.raised[0].id, "D-UOLGA", "1.0001")]
    alert = session.get(Alert, changes.raised[0].id)
    assert alert is not None and (alert.slack_channel, alert.slack_ts) == ("D-UOLGA", "1.0001")
    assert delivery.batches == 1  # one run: each person's DM opened once

    put_snapshot(session, ids["a1"], D1 + timedelta(days=1), flags=[])
    resolved = evaluate_alerts(session, CFG, NOW1 + timedelta(days=1))
    report = post_alert_cards(delivery, session, CFG, resolved, NOW1, commit=False)
    ((update, ts),) = delivery.updated
    assert (update.destination, ts) == ("D-UOLGA", "1.0001")
    assert report.updated == [(alert.id, "D-UOLGA", "1.0001")]


def test_a_refusal_is_reported_and_nothing_recorded(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1, flags=[flag("invoice_overdue")])
    changes = evaluate_alerts(session, CFG, NOW1)
    report = post_alert_cards(MemoryDelivery("channel_not_found"), session, CFG, changes, NOW1,
                              commit=False)
    assert report.failed == [(changes.raised[0].id, "channel_not_found")]
    assert not report.posted and "1 failed" in str(report)
    alert = session.get(Alert, changes.raised[0].id)
    assert alert is not None and alert.slack_ts is None  # the next run posts it again


def test_digests_need_a_delivery_unless_dry_run(session: Session) -> None:
    load_people(session)
    with pytest.raises(ValueError, match="delivery is required"):
        send_digests(None, session, CFG, NOW1)
