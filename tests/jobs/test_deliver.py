"""The jobs send through whatever Delivery they are given: no Slack needed.

``pulse.jobs.deliver`` only knows the :class:`pulse.services.outbox.Delivery` protocol;
here an in-memory delivery stands in for ``bot.delivery.SlackDelivery``: what a run
posts, what it records once posted, and how a refusal is reported.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session
from workspace import CFG, D1, NOW1, flag, load_people, put_snapshot

from digests.digest_blocks import csm_digest as csm_digest_blocks
from digests.limits import validate_message
from pulse.jobs.deliver import post_alert_cards, send_digests
from pulse.kernel.config import parse_config
from pulse.services.alerts import AlertChanges, evaluate_alerts
from pulse.services.digest_data import csm_digest
from pulse.services.notify import with_unposted
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


def test_one_message_per_person_largest_arr_first_the_rest_for_the_digest(
    session: Session,
) -> None:
    ids = load_people(session)
    cfg = parse_config({"alerts": {"dm_max_alerts": 1}})
    put_snapshot(session, ids["a4"], D1, flags=[flag("invoice_overdue", "critical")])  # 12k
    put_snapshot(session, ids["a1"], D1, flags=[flag("owner_silent", "critical")])  # 50k
    put_snapshot(session, ids["a2"], D1, flags=[flag("owner_silent")])  # Pete's
    changes = evaluate_alerts(session, cfg, NOW1)
    delivery = MemoryDelivery()
    report = post_alert_cards(delivery, session, cfg, changes, NOW1, commit=False)
    assert [m.destination for m in delivery.posted] == ["UOLGA", "UPETE"]
    olga = delivery.posted[0].payload
    assert validate_message(olga) == []
    assert "Acme Corp" in str(olga["blocks"]) and "Initech" not in str(olga["blocks"])
    assert "+1 more in your morning digest" in str(olga["blocks"])
    assert len(report.posted) == 2 and len(report.held) == 1 and report.messages == 2
    assert "2 alert(s) posted in 2 message(s)" in str(report) and "1 held" in str(report)
    # held: not posted by the next run's catch-up, listed in the owner's morning digest
    assert not with_unposted(session, AlertChanges())
    digest = csm_digest(session, cfg, ids["o1"], NOW1)
    assert [(a.account_name, a.rule) for a in digest.held_alerts] == [("Initech",
                                                                       "invoice_overdue")]
    assert "New alerts not sent by DM" in str(csm_digest_blocks(digest)["blocks"])


def test_alerts_below_the_dm_severity_wait_for_the_digest(session: Session) -> None:
    ids = load_people(session)
    cfg = parse_config({"alerts": {"dm_min_severity": "critical"}})
    put_snapshot(session, ids["a1"], D1, flags=[flag("owner_silent")])
    put_snapshot(session, ids["a4"], D1, flags=[flag("invoice_overdue", "critical")])
    changes = evaluate_alerts(session, cfg, NOW1)
    delivery = MemoryDelivery()
    report = post_alert_cards(delivery, session, cfg, changes, NOW1, commit=False)
    (message,) = delivery.posted
    assert "Initech" in message.payload["text"] and "Acme Corp" not in message.payload["text"]
    assert "+1 more in your morning digest" in message.payload["text"]
    assert [a.account_name for a in csm_digest(session, cfg, ids["o1"], NOW1).held_alerts] == [
        "Acme Corp"]
    assert len(report.held) == 1


def test_a_person_gets_one_digest_a_day_unless_forced(session: Session) -> None:
    ids = load_people(session)
    cfg = parse_config({"slack": {"chart": False}, "workspace": {"timezone": "Europe/Paris"}})
    put_snapshot(session, ids["a1"], D1)
    session.commit()
    first, report = send_digests(MemoryDelivery(), session, cfg, NOW1)
    assert first and len(report.sent) == len(first) and not report.already
    again, report = send_digests(MemoryDelivery(), session, cfg, NOW1 + timedelta(hours=3))
    assert again == [] and report.sent == []
    people = len({m.destination for m in first})
    assert report.people_already == people
    assert f"digests already sent today to {people} people; --force sends them again" in str(
        report)
    forced, report = send_digests(MemoryDelivery(), session, cfg, NOW1, force=True)
    assert len(forced) == len(first) and len(report.sent) == len(first)
    # 23:30 UTC is already the next day in Paris: a new day, a new digest
    late = datetime.combine(D1, datetime.min.time()) + timedelta(hours=23, minutes=30)
    tomorrow, _ = send_digests(MemoryDelivery(), session, cfg, late)
    assert len(tomorrow) == len(first)
