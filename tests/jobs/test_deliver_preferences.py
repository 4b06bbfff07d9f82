"""Each person's ``/health settings`` change what a run sends them: the lowest severity
that may DM them, muted accounts, followed accounts, quiet days."""

from __future__ import annotations

from datetime import timedelta

from fakes.memory_delivery import ListDelivery
from sqlalchemy.orm import Session
from workspace import CFG, D1, NOW1, flag, load_people, put_snapshot

from digests.limits import validate_message
from pulse.jobs.deliver import post_alert_cards, send_digests, send_due_digests
from pulse.kernel.config import parse_config
from pulse.services import preferences
from pulse.services.alerts import AlertChanges, evaluate_alerts
from pulse.services.digest_data import csm_digest
from pulse.services.notify import with_unposted
from storage.models import Alert, PipelineRun


def _alerts(session: Session, ids: dict[str, int]) -> None:
    """Olga's Acme Corp (warning) and Initech (critical), Pete's Globex (warning)."""
    put_snapshot(session, ids["a1"], D1, flags=[flag("owner_silent")])
    put_snapshot(session, ids["a4"], D1, flags=[flag("invoice_overdue", "critical")])
    put_snapshot(session, ids["a3"], D1, flags=[flag("owner_silent")])


def test_a_person_minimum_severity_holds_warnings_for_their_digest(session: Session) -> None:
    ids = load_people(session)
    _alerts(session, ids)
    preferences.update(session, "UOLGA", NOW1, digest_time=None, quiet_days=[],
                       min_severity="critical")
    delivery = ListDelivery()
    report = post_alert_cards(delivery, session, CFG, evaluate_alerts(session, CFG, NOW1),
                              NOW1, commit=False)
    (olga,) = delivery.to("UOLGA")
    assert "Initech" in olga and "Acme Corp" not in olga
    assert "+1 more in your morning digest" in olga
    # Pete kept the workspace default (warning): his warning still reaches him
    assert any("Globex" in t for t in delivery.to("UPETE"))
    assert [a.account_name for a in csm_digest(session, CFG, ids["o1"], NOW1).held_alerts] == [
        "Acme Corp"]
    assert len(report.held) == 1


def test_a_muted_account_is_not_dmed_until_the_mute_ends(session: Session) -> None:
    ids = load_people(session)
    _alerts(session, ids)
    preferences.mute(session, "UOLGA", ids["a4"], 7, NOW1 - timedelta(days=1))
    delivery = ListDelivery()
    post_alert_cards(delivery, session, CFG, evaluate_alerts(session, CFG, NOW1), NOW1,
                     commit=False)
    (olga,) = delivery.to("UOLGA")
    assert "Acme Corp" in olga and "Initech" not in olga and "more in your" not in olga
    # held, so the next run does not announce it either
    assert not with_unposted(session, AlertChanges())
    # eight days later the mute is over: a new alert on Initech reaches Olga again
    later = NOW1 + timedelta(days=8)
    assert preferences.alert_rules(session, later).muted == frozenset()


def test_a_follower_gets_the_account_alerts_and_the_owner_keeps_the_record(
    session: Session,
) -> None:
    ids = load_people(session)
    _alerts(session, ids)
    preferences.follow(session, "UQUINN", ids["a3"], NOW1)  # Quinn follows Pete's Globex
    delivery = ListDelivery()
    report = post_alert_cards(delivery, session, CFG, evaluate_alerts(session, CFG, NOW1),
                              NOW1, commit=False)
    (quinn,) = delivery.to("UQUINN")
    assert "Globex" in quinn and "Acme" not in quinn
    assert all(validate_message(m.payload) == [] for m in delivery.posted)
    (pete,) = [m for m in delivery.posted if m.destination == "UPETE"]
    globex = session.query(Alert).filter(Alert.account_id == ids["a3"]).one()
    assert globex.slack_channel == "D-UPETE"  # resolving it updates Pete's message
    assert len(report.posted) == 4  # 3 alerts, one of them also in Quinn's message
    assert pete.payload["text"]


def test_a_follower_with_a_higher_floor_or_a_mute_gets_no_copy(session: Session) -> None:
    ids = load_people(session)
    _alerts(session, ids)
    preferences.follow(session, "UQUINN", ids["a3"], NOW1)
    preferences.follow(session, "UNATE", ids["a3"], NOW1)
    preferences.update(session, "UQUINN", NOW1, digest_time=None, quiet_days=[],
                       min_severity="critical")
    preferences.mute(session, "UNATE", ids["a3"], 3, NOW1)
    delivery = ListDelivery()
    post_alert_cards(delivery, session, CFG, evaluate_alerts(session, CFG, NOW1), NOW1,
                     commit=False)
    assert delivery.to("UQUINN") == [] and delivery.to("UNATE") == []
    assert any("Globex" in t for t in delivery.to("UPETE"))


def test_no_digest_on_a_quiet_day_in_the_workspace_timezone(session: Session) -> None:
    ids = load_people(session)
    cfg = parse_config({"slack": {"chart": False}, "workspace": {"timezone": "Europe/Paris"}})
    put_snapshot(session, ids["a1"], D1)
    preferences.update(session, "UOLGA", NOW1, digest_time="07:30", quiet_days=["sun"],
                       min_severity=None)
    session.commit()
    assert D1.strftime("%a") == "Sun"
    sent, report = send_digests(ListDelivery(), session, cfg, NOW1)
    assert "UOLGA" not in {m.destination for m in sent} and sent
    assert report.quiet == ["UOLGA"] and "1 on a quiet day" in str(report)
    # Saturday 23:30 UTC is already Sunday in Paris
    saturday_night = NOW1 - timedelta(hours=8, minutes=30)
    sent, _ = send_digests(ListDelivery(), session, cfg, saturday_night)
    assert "UOLGA" not in {m.destination for m in sent}
    monday, _ = send_digests(ListDelivery(), session, cfg, NOW1 + timedelta(days=1))
    assert "UOLGA" in {m.destination for m in monday}
    forced, _ = send_digests(ListDelivery(), session, cfg, NOW1, force=True)
    assert "UOLGA" in {m.destination for m in forced}


def test_a_digest_time_later_than_the_run_sends_at_the_first_check_after_it(
    session: Session,
) -> None:
    ids = load_people(session)
    cfg = parse_config({"slack": {"chart": False}})
    put_snapshot(session, ids["a1"], D1)
    preferences.update(session, "UOLGA", NOW1, digest_time="09:30", quiet_days=[],
                       min_severity=None)
    session.add(PipelineRun(run_date=D1, kind="scheduled", started_at=NOW1,
                            finished_at=NOW1, status="ok", steps=[]))
    session.commit()
    # the 08:00 morning run: everyone but Olga
    sent, report = send_digests(ListDelivery(), session, cfg, NOW1, at_their_time=True)
    assert "UOLGA" not in {m.destination for m in sent} and sent
    assert report.later == ["UOLGA"] and "1 later, at their own digest time" in str(report)
    # a manual `pulse digest` still sends to everyone now
    manual, _ = send_digests(ListDelivery(), session, cfg, NOW1, dry_run=True)
    assert "UOLGA" in {m.destination for m in manual}
    # the frequent check: nothing before 09:30, Olga's digest at the first check after it
    early = ListDelivery()
    assert send_due_digests(early, session, cfg, NOW1 + timedelta(minutes=85)).sent == []
    due = ListDelivery()
    report = send_due_digests(due, session, cfg, NOW1 + timedelta(minutes=95))
    assert [m.destination for m in due.posted] == ["UOLGA"] and len(report.sent) == 1
    again = ListDelivery()
    send_due_digests(again, session, cfg, NOW1 + timedelta(minutes=110))
    assert again.posted == []  # once a day


def test_no_digest_at_its_time_before_the_day_run_finished(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1)
    preferences.update(session, "UOLGA", NOW1, digest_time="05:00", quiet_days=[],
                       min_severity=None)
    session.commit()
    delivery = ListDelivery()
    assert send_due_digests(delivery, session, CFG, NOW1).sent == [] and not delivery.posted
