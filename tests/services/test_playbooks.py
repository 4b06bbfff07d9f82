"""Playbooks: triggers and conditions (pure), then firing against the fake Slack and a
webhook receiver on 127.0.0.1: cooldowns, the per-CSM cap, do-not-contact, retries."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from factories import add_snapshot, watch_all
from fakes.harness import TOKEN
from fakes.salesforce import FakeSalesforce
from fakes.slack_api import FakeSlack
from fakes.webhook_receiver import WebhookReceiver
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bot.delivery import SlackDelivery, web_client
from connectors.signed_webhook import signature, verify
from pulse.cli.main import app as cli
from pulse.jobs.playbooks import run_playbooks
from pulse.kernel.config import ConfigError, PulseConfig, parse_config
from pulse.services.playbooks import (
    AccountFacts,
    conditions_hold,
    due_firings,
    trigger_reason,
)
from storage.models import Account, Alert, AuditLog, Owner, PlaybookFiring

TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 6, 0)


def _delivery(slack: FakeSlack) -> SlackDelivery:
    return SlackDelivery(web_client(TOKEN, slack.base_url))


def _config(*playbooks: dict, **extra: object) -> PulseConfig:
    return parse_config({"playbooks": list(playbooks), **extra})


def _facts(**kw: object) -> AccountFacts:
    base: dict[str, object] = {"account_id": 1, "name": "Acme", "owner_id": 1, "tier": "fine",
                               "previous_tier": "fine", "score": 60.0}
    return AccountFacts(**(base | kw))  # type: ignore[arg-type]


# --- triggers and conditions -------------------------------------------------------------


def test_each_trigger_fires_on_its_event_and_says_why() -> None:
    cfg = _config(
        {"name": "into risk", "trigger": {"type": "tier_crossed", "tier": "at_risk"},
         "actions": [{"type": "dm_owner"}]},
        {"name": "drop", "trigger": {"type": "score_drop", "points": 15, "days": 14},
         "actions": [{"type": "dm_owner"}]},
        {"name": "flag", "trigger": {"type": "flag_raised", "flag": "usage_drop"},
         "actions": [{"type": "dm_owner"}]},
        {"name": "renewal", "trigger": {"type": "renewal_within", "days": 90},
         "actions": [{"type": "dm_owner"}]},
        {"name": "unacked", "trigger": {"type": "alert_unacknowledged", "hours": 48},
         "actions": [{"type": "dm_owner"}]},
    )
    t = {p.name: p.trigger for p in cfg.playbooks}
    assert trigger_reason(t["into risk"], _facts(tier="at_risk", previous_tier="fine"), TODAY,
                          NOW) == "moved from Fine to At risk"
    assert trigger_reason(t["into risk"], _facts(tier="at_risk", previous_tier="at_risk"),
                          TODAY, NOW) is None  # already there: not a crossing
    history = ((TODAY - timedelta(days=20), 80.0), (TODAY - timedelta(days=14), 75.0),
               (TODAY, 58.0))
    assert trigger_reason(t["drop"], _facts(score=58.0, history=history), TODAY, NOW) == (
        "score down 17 points in 14 days (75 -> 58)")
    assert trigger_reason(t["drop"], _facts(score=65.0, history=history), TODAY, NOW) is None
    assert trigger_reason(t["flag"], _facts(flags=frozenset({"usage_drop"})), TODAY, NOW) == (
        "churn flag raised: usage_drop")
    assert trigger_reason(t["flag"], _facts(flags=frozenset({"usage_drop"}),
                                            previous_flags=frozenset({"usage_drop"})),
                          TODAY, NOW) is None  # raised before, not today
    assert trigger_reason(t["renewal"], _facts(renewal_date=TODAY + timedelta(days=30)),
                          TODAY, NOW) == "renews in 30 days (2026-12-25)"
    assert trigger_reason(t["renewal"], _facts(renewal_date=TODAY + timedelta(days=91)),
                          TODAY, NOW) is None
    assert trigger_reason(t["unacked"], _facts(oldest_open_alert=NOW - timedelta(hours=50)),
                          TODAY, NOW) == "alert unacknowledged for 50 hours"
    assert trigger_reason(t["unacked"], _facts(oldest_open_alert=NOW - timedelta(hours=47)),
                          TODAY, NOW) is None


def test_conditions_must_all_hold() -> None:
    cfg = _config({"name": "big EMEA", "trigger": {"type": "tier_crossed", "tier": "at_risk"},
                   "when": {"segment": ["Enterprise"], "region": ["EMEA"], "arr_min": 50000,
                            "lifecycle": ["paid"], "product_line": ["Analytics"],
                            "custom": {"plan": "pro"}},
                   "actions": [{"type": "dm_owner"}]})
    when = cfg.playbooks[0].when
    good = _facts(segment="enterprise", region="EMEA", arr=80000.0, lifecycle="paid",
                  custom={"product_line": "Analytics", "plan": "pro"})
    assert conditions_hold(when, good)
    for change in ({"region": "AMER"}, {"arr": 20000.0}, {"arr": None}, {"lifecycle": "trial"},
                   {"custom": {"product_line": "Analytics", "plan": "basic"}}):
        assert not conditions_hold(when, _facts(**(good.__dict__ | change)))
    due = due_firings(cfg.playbooks, [_facts(**(good.__dict__ | {"tier": "at_risk"}))], TODAY,
                      NOW)
    assert [(p.name, why) for p, _, why in due] == [("big EMEA", "moved from Fine to At risk")]


def test_bad_playbooks_are_named_in_the_config_error() -> None:
    with pytest.raises(ConfigError, match=r"playbooks.0.trigger.*needs points, days"):
        parse_config({"playbooks": [{"name": "x", "trigger": {"type": "score_drop"},
                                     "actions": [{"type": "dm_owner"}]}]}, "pulse.yml")
    with pytest.raises(ConfigError, match="action 'webhook' needs url"):
        parse_config({"playbooks": [{"name": "x", "trigger": {"type": "flag_raised"},
                                     "actions": [{"type": "webhook"}]}]}, "pulse.yml")
    with pytest.raises(ConfigError, match="playbook name.*twice: x"):
        parse_config({"playbooks": [
            {"name": "x", "trigger": {"type": "flag_raised"}, "actions": [{"type": "dm_owner"}]},
            {"name": "x", "trigger": {"type": "flag_raised"}, "actions": [{"type": "dm_owner"}]},
        ]}, "pulse.yml")


# --- firing against Slack and a webhook receiver ------------------------------------------


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as fake:
        yield fake


def _portfolio(session: Session, n: int = 3, *, dnc: int | None = None) -> list[Account]:
    """``n`` accounts of one CSM (with a manager), each dropped from fine to at risk today."""
    manager = Owner(source="files", external_id=f"M{n}", name="Maya Manager",
                    email="maya@vendor.io", slack_user_id="UMGR",
                    is_manager=True)
    session.add(manager)
    session.flush()
    csm = Owner(source="files", external_id=f"C{n}", name="Dana CSM", email="dana@vendor.io",
                slack_user_id="UCSM",
                manager_id=manager.id)
    session.add(csm)
    session.flush()
    accounts = []
    for i in range(n):
        acct = Account(source="files", external_id=f"A{n}-{i}", name=f"Acme {i}", owner_id=csm.id,
                       lifecycle="paid", do_not_contact=(i == dnc), custom={}, arr=100000.0)
        session.add(acct)
        session.flush()
        add_snapshot(session, acct.id, TODAY - timedelta(days=7), 62.0, computed_at=NOW,
                     tier="fine")
        add_snapshot(session, acct.id, TODAY, 41.0, computed_at=NOW, tier="at_risk")
        accounts.append(acct)
    return accounts


def _into_risk(**extra: object) -> dict:
    return {"name": "into risk", "trigger": {"type": "tier_crossed", "tier": "at_risk"},
            "actions": [{"type": "dm_owner"}, {"type": "escalate_to_manager"},
                        {"type": "notify_channel", "channel": "C0CS"}], **extra}


def test_a_playbook_tells_owner_manager_and_channel_once_per_cooldown(
    session: Session, slack: FakeSlack
) -> None:
    _portfolio(session, 1)
    delivery = _delivery(slack)
    report = run_playbooks(session, _config(_into_risk()), delivery, NOW, TODAY)
    session.commit()
    assert (report.fired, report.actions_ok) == (1, 3)
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 3
    assert "C0CS" in {p.args["channel"] for p in posts}
    assert all("into risk" in p.args["text"] and "Acme 0" in p.args["text"] for p in posts)
    assert any("Escalation" in str(p.args["blocks"]) for p in posts)
    opened = {c.args["users"] for c in slack.calls_to("conversations.open")}
    assert opened == {"UCSM", "UMGR"}

    # the same morning again, and two days later: cooling down, nothing sent
    for later in (NOW, NOW + timedelta(days=2)):
        again = run_playbooks(session, _config(_into_risk()), delivery, later, TODAY)
        assert (again.fired, again.cooling) == (0, 1)
    assert len(slack.calls_to("chat.postMessage")) == 3
    firing = session.scalars(select(PlaybookFiring)).one()
    assert firing.status == "done" and firing.reason == "moved from Fine to At risk"
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "playbook.fire")).one()
    assert audit.actor == "playbook into risk" and audit.outcome == "done"


def test_no_playbook_runs_for_an_account_deleted_in_the_crm(
    session: Session, slack: FakeSlack
) -> None:
    """Its snapshots stay (history): the playbook must not act on them."""
    gone, kept = _portfolio(session, 2)
    gone.deleted_at = NOW - timedelta(hours=1)
    session.flush()
    report = run_playbooks(session, _config(_into_risk()), _delivery(slack), NOW, TODAY)
    assert report.fired == 1
    texts = [p.args["text"] for p in slack.calls_to("chat.postMessage")]
    assert texts and all(kept.name in t and gone.name not in t for t in texts)


def test_the_daily_cap_per_csm_defers_the_overflow(session: Session, slack: FakeSlack) -> None:
    _portfolio(session, 3)
    cfg = _config(_into_risk(actions=[{"type": "dm_owner"}]),
                  automation={"daily_cap_per_csm": 2})
    report = run_playbooks(session, cfg, _delivery(slack), NOW, TODAY)
    assert (report.fired, report.deferred) == (2, 1)
    assert len(slack.calls_to("chat.postMessage")) == 2
    statuses = sorted(f.status for f in session.scalars(select(PlaybookFiring)))
    assert statuses == ["deferred", "done", "done"]

    # the overflow is in the CSM's next morning digest instead
    from pulse.services.digest_data import csm_digest

    csm = session.scalars(select(Owner).where(Owner.slack_user_id == "UCSM")).one()
    digest = csm_digest(session, cfg, csm.id, NOW + timedelta(hours=20))
    assert [(p, r) for _, p, r in digest.held_back] == [("into risk",
                                                         "moved from Fine to At risk")]
    assert csm_digest(session, cfg, csm.id, NOW + timedelta(days=2)).held_back == []


def test_do_not_contact_holds_outward_actions_and_a_failing_webhook_is_retried_then_recorded(
    session: Session, slack: FakeSlack, receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULSE_WEBHOOK_SECRET", receiver.secret)
    accounts = _portfolio(session, 3, dnc=0)
    receiver.failures = [503, 500]  # the first delivery succeeds on its third try
    cfg = _config(_into_risk(actions=[{"type": "webhook", "url": receiver.url},
                                      {"type": "dm_owner"}]))
    slept: list[float] = []
    run_playbooks(session, cfg, _delivery(slack), NOW, TODAY,
                  sleep=slept.append)
    firings = {f.account_id: f for f in session.scalars(select(PlaybookFiring))}

    held = firings[accounts[0].id]  # do-not-contact: no webhook, the CSM is still told
    assert held.status == "held"
    assert [(a["type"], a["status"]) for a in held.actions] == [("webhook", "held"),
                                                                ("dm_owner", "ok")]
    assert [d.status for d in receiver.deliveries] == [503, 500, 200, 200]
    assert all(d.verified for d in receiver.deliveries)
    assert slept == [1.0, 2.0]  # backoff between the tries
    body = receiver.deliveries[2].body
    assert body["playbook"] == "into risk" and body["account"]["name"] == "Acme 1"

    receiver.failures = [500] * 10  # now the receiver is down for good
    accounts2 = _portfolio(session, 1)
    report = run_playbooks(session, cfg, _delivery(slack), NOW, TODAY,
                           sleep=slept.append)
    broken = session.scalars(select(PlaybookFiring).where(
        PlaybookFiring.account_id == accounts2[0].id)).one()
    assert broken.status == "partial"
    assert [(a["type"], a["status"]) for a in broken.actions] == [("webhook", "failed"),
                                                                  ("dm_owner", "ok")]
    assert "HTTP 500" in broken.actions[0]["detail"]
    assert report.actions_failed and report.actions_ok == 1


def test_slack_unreachable_fails_the_slack_actions_and_keeps_every_firing(
    session: Session,
) -> None:
    with socket.socket() as probe:  # a local port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    _portfolio(session, 2)
    actions = [{"type": "reminder", "due_days": 1, "text": "call {account}"}, {"type": "dm_owner"}]
    cfg = _config(_into_risk(actions=actions))
    delivery = SlackDelivery(web_client(TOKEN, f"http://127.0.0.1:{closed}/api/"))
    report = run_playbooks(session, cfg, delivery, NOW, TODAY)
    assert (report.fired, report.actions_ok) == (2, 2)  # the reminders; both DMs failed
    firings = session.scalars(select(PlaybookFiring)).all()
    assert len(firings) == 2
    assert {f.status for f in firings} == {"partial"}


def test_unacknowledged_alert_escalates(session: Session, slack: FakeSlack) -> None:
    [acct] = _portfolio(session, 1)
    session.add(Alert(account_id=acct.id, rule="tier_at_risk", severity="high", status="open",
                      message="At risk", opened_at=NOW - timedelta(hours=49)))
    cfg = _config({"name": "unacked", "trigger": {"type": "alert_unacknowledged", "hours": 48},
                   "actions": [{"type": "escalate_to_manager"}]})
    report = run_playbooks(session, cfg, _delivery(slack), NOW, TODAY)
    assert report.fired == 1
    assert [c.args["users"] for c in slack.calls_to("conversations.open")] == ["UMGR"]


def test_signature_scheme_rejects_forgery_and_replay() -> None:
    body = b'{"a":1}'
    good = signature("k", "1700000000", body)
    assert verify("k", "1700000000", body, good, now=1700000100)
    assert not verify("k", "1700000000", b'{"a":2}', good, now=1700000100)  # tampered
    assert not verify("other", "1700000000", body, good, now=1700000100)  # wrong key
    assert not verify("k", "1700000000", body, good, now=1700000000 + 301)  # replayed late


def test_playbooks_command_lists_them(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    home = Path(str(tmp_path))
    (home / "pulse.yml").write_text(
        "playbooks:\n"
        "  - name: into risk\n"
        "    trigger: {type: tier_crossed, tier: at_risk}\n"
        "    when: {segment: [Enterprise]}\n"
        "    actions: [{type: dm_owner}, {type: notify_channel, channel: C0CS}]\n"
    )
    monkeypatch.chdir(home)
    monkeypatch.delenv("PULSE_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["playbooks"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "into risk" in result.output and "tier_crossed" in result.output
    assert "notify_channel C0CS" in result.output and "segment: Enterprise" in result.output


# --- CRM tasks ------------------------------------------------------------------------------


def _crm_account(session: Session, system: str, record: str) -> Account:
    owner = Owner(source=system, external_id="crm-owner-1", name="Dana CSM",
                  email="dana@vendor.io", crm_owner_id="0051" if system == "salesforce"
                  else "77", slack_user_id="UCSM")
    session.add(owner)
    session.flush()
    acct = Account(source=system, external_id=record, name="Globex", owner_id=owner.id,
                   lifecycle="paid", do_not_contact=False, custom={},
                   **{f"{system}_id": record})
    session.add(acct)
    session.flush()
    add_snapshot(session, acct.id, TODAY - timedelta(days=7), 62.0, computed_at=NOW, tier="fine")
    add_snapshot(session, acct.id, TODAY, 41.0, computed_at=NOW, tier="at_risk")
    return acct


TASK_PLAYBOOK = _into_risk(actions=[{"type": "crm_task", "due_days": 3,
                                     "subject": "Call {account}: {reason}"}])


def test_crm_task_lands_in_hubspot_on_the_company_for_its_owner(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakes.hubspot_api import FakeHubSpot

    with FakeHubSpot() as hub:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", hub.token)
        monkeypatch.setenv("HUBSPOT_API_URL", hub.base_url)
        hub.put("companies", "501", NOW, name="Globex")
        _crm_account(session, "hubspot", "501")
        cfg = _config(TASK_PLAYBOOK, sources={"hubspot": {}})
        report = run_playbooks(session, cfg, None, NOW, TODAY)
        assert report.actions_ok == 1, report.actions_failed
        [task] = hub.tasks.values()
    props = task["properties"]
    assert props["hs_task_subject"] == "Call Globex: moved from Fine to At risk"
    assert props["hubspot_owner_id"] == "77"
    assert props["hs_timestamp"] == "2026-11-28T06:00:00Z"
    assert task["associations"][0]["to"] == {"id": "501"}
    assert task["associations"][0]["types"][0]["associationTypeId"] == 192
    firing = session.scalars(select(PlaybookFiring)).one()
    assert firing.actions[0]["detail"].startswith("hubspot task 9000")


def test_crm_task_lands_in_salesforce_and_a_refusal_is_recorded(
    session: Session, monkeypatch: pytest.MonkeyPatch, salesforce_org: FakeSalesforce
) -> None:
    org = salesforce_org
    for key, value in org.env_token.items():
        monkeypatch.setenv(key, value)
    _crm_account(session, "salesforce", "001G")
    cfg = _config(TASK_PLAYBOOK, sources={"salesforce": {}})
    assert run_playbooks(session, cfg, None, NOW, TODAY).actions_ok == 1
    [task] = org.tasks.values()
    assert task["WhatId"] == "001G" and task["OwnerId"] == "0051"
    assert task["ActivityDate"] == "2026-11-28" and task["Subject"].startswith("Call Globex")

    org.fail("Task", (400, {}, [{"errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                 "message": "Tasks need a type"}]))
    later = NOW + timedelta(days=8)  # past the cooldown
    report = run_playbooks(session, cfg, None, later, TODAY)
    assert report.fired == 1 and len(report.actions_failed) == 1
    assert "Tasks need a type" in report.actions_failed[0]


# --- follow-up reminders --------------------------------------------------------------------


def test_a_reminder_goes_to_the_owner_once_when_due(session: Session, slack: FakeSlack,
                                                     db_url: str) -> None:
    import time_machine

    from pulse.jobs.scheduler import PulseScheduler

    _portfolio(session, 1)
    cfg = _config(_into_risk(actions=[{"type": "reminder", "due_days": 3,
                                       "text": "Did {account} answer? ({reason})"}]))
    cfg = cfg.model_copy(update={"database_url": db_url})
    delivery = _delivery(slack)
    run_playbooks(session, cfg, delivery, NOW, TODAY)
    session.commit()
    assert slack.calls_to("chat.postMessage") == []  # nothing now: it is for later

    jobs = PulseScheduler(cfg, delivery=delivery)
    assert jobs.lock.acquire()
    try:
        with time_machine.travel(NOW + timedelta(days=2, hours=23), tick=False):
            assert jobs.alerts_check().endswith("0 reminder(s) sent")
        with time_machine.travel(NOW + timedelta(days=3, minutes=10), tick=False):
            assert jobs.alerts_check().endswith("1 reminder(s) sent")
            assert jobs.alerts_check().endswith("0 reminder(s) sent")  # once
    finally:
        jobs.stop()
    reminders = [c for c in slack.calls_to("chat.postMessage") if "Reminder" in c.args["text"]]
    assert len(reminders) == 1
    assert "Did Acme 0 answer? (moved from Fine to At risk)" in reminders[0].args["text"]
    assert [c.args["users"] for c in slack.calls_to("conversations.open")][-1] == "UCSM"


# --- usage milestones ------------------------------------------------------------------------


def test_usage_milestones_fire_when_crossed_since_the_last_snapshot() -> None:
    cfg = _config(
        {"name": "first value", "trigger": {"type": "usage_milestone",
                                            "milestone": "first_core_action"},
         "actions": [{"type": "dm_owner"}]},
        {"name": "ten users", "trigger": {"type": "usage_milestone", "milestone": "active_users",
                                          "value": 10}, "actions": [{"type": "dm_owner"}]},
        {"name": "seats full", "trigger": {"type": "usage_milestone",
                                           "milestone": "seat_use_over", "value": 0.9},
         "actions": [{"type": "dm_owner"}]},
    )
    t = {p.name: p.trigger for p in cfg.playbooks}
    before = {"core_features_used": 0.0, "active_users": 8.0, "seat_ratio": 0.85}
    after = {"core_features_used": 2.0, "active_users": 10.0, "seat_ratio": 0.95}
    crossed = _facts(usage=after, previous_usage=before)
    assert trigger_reason(t["first value"], crossed, TODAY, NOW) == "first core feature used"
    assert trigger_reason(t["ten users"], crossed, TODAY, NOW) == "10 active users (reached 10)"
    assert trigger_reason(t["seats full"], crossed, TODAY, NOW) == "seat use 95% (over 90%)"
    steady = _facts(usage=after, previous_usage=after)
    assert all(trigger_reason(x, steady, TODAY, NOW) is None for x in t.values())
    first_snapshot = _facts(usage=after, previous_usage=None)
    assert all(trigger_reason(x, first_snapshot, TODAY, NOW) is None for x in t.values())
    with pytest.raises(ConfigError, match="seat_use_over' takes a share"):
        parse_config({"playbooks": [{"name": "x", "trigger": {
            "type": "usage_milestone", "milestone": "seat_use_over", "value": 90},
            "actions": [{"type": "dm_owner"}]}]}, "pulse.yml")


def test_usage_figures_come_from_the_stored_components(db_url: str) -> None:
    from connectors.sample import SampleConnector
    from pulse.services.playbooks import usage_figures
    from pulse.services.sync import run_sync
    from scoring.engine import run_scoring
    from storage.db import session_factory, session_scope
    from storage.models import ScoreSnapshot

    cfg = parse_config({"sources": {"sample": {"accounts": 30}}})
    run_sync(db_url, cfg, "sample", connector=SampleConnector(cfg, end_date=TODAY))
    with session_scope(db_url) as s:
        run_scoring(s, cfg, TODAY)
    with session_factory(db_url)() as s:
        snaps = list(s.scalars(select(ScoreSnapshot)))
    figures = [usage_figures(snap.components) for snap in snaps]
    assert any(f.get("active_users", 0) > 0 for f in figures)
    assert all(set(f) <= {"core_features_used", "active_users", "seat_ratio"} for f in figures)
    assert any("seat_ratio" in f and "core_features_used" in f for f in figures)


def test_the_frequent_check_reopens_an_expired_snooze_on_the_clock(
    session: Session, slack: FakeSlack, db_url: str
) -> None:
    import time_machine

    from pulse.jobs.scheduler import PulseScheduler
    from pulse.services.alerts import evaluate_alerts

    [acct] = _portfolio(session, 1)
    add_snapshot(session, acct.id, TODAY + timedelta(days=1), 40.0, computed_at=NOW,
                 tier="at_risk", flags=("invoice_overdue",))
    watch_all(session)  # watched for a while: the flag raises an alert
    session.commit()
    cfg = _config().model_copy(update={"database_url": db_url})
    raised = evaluate_alerts(session, cfg, NOW).raised
    alert = session.get(Alert, raised[0].id)
    assert alert is not None
    alert.status, alert.snoozed_by = "snoozed", "UCSM"
    alert.snoozed_until = NOW + timedelta(hours=4)
    session.commit()

    jobs = PulseScheduler(cfg, delivery=_delivery(slack))
    assert jobs.lock.acquire()
    try:
        with time_machine.travel(NOW + timedelta(hours=3, minutes=50), tick=False):
            assert jobs.alerts_check().startswith("0 raised, 0 reopened")
        with time_machine.travel(NOW + timedelta(hours=4, minutes=5), tick=False):
            assert jobs.alerts_check().startswith("0 raised, 1 reopened")
    finally:
        jobs.stop()
    session.expire_all()
    assert session.get(Alert, raised[0].id).status == "open"
    assert any(c.args.get("channel") for c in slack.calls_to("chat.postMessage"))


# --- checked at start; a failed action starts no cooldown (issue 18) ------------------------


def test_a_failed_action_starts_no_cooldown_and_runs_again_once_fixed(
    session: Session, slack: FakeSlack, receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PULSE_WEBHOOK_SECRET", raising=False)
    [acct] = _portfolio(session, 1)
    cfg = _config(_into_risk(actions=[{"type": "dm_owner"},
                                      {"type": "webhook", "url": receiver.url}]),
                  {"name": "hook only", "trigger": {"type": "tier_crossed", "tier": "at_risk"},
                   "actions": [{"type": "webhook", "url": receiver.url}]})
    first = run_playbooks(session, cfg, _delivery(slack), NOW, TODAY)
    assert (first.fired, first.actions_ok, len(first.actions_failed)) == (2, 1, 2)
    statuses = {f.playbook: f.status for f in session.scalars(select(PlaybookFiring))}
    assert statuses == {"into risk": "partial", "hook only": "failed"}
    assert len(slack.calls_to("chat.postMessage")) == 1 and receiver.deliveries == []

    # the secret is set: the failed webhooks go out, the DM that went out is not repeated
    monkeypatch.setenv("PULSE_WEBHOOK_SECRET", receiver.secret)
    second = run_playbooks(session, cfg, _delivery(slack), NOW + timedelta(hours=1), TODAY)
    assert (second.fired, second.cooling, second.actions_ok) == (2, 0, 2)
    assert [d.status for d in receiver.deliveries] == [200, 200]
    assert len(slack.calls_to("chat.postMessage")) == 1
    retried = session.scalars(select(PlaybookFiring).where(
        PlaybookFiring.account_id == acct.id, PlaybookFiring.playbook == "into risk",
        PlaybookFiring.fired_at == NOW + timedelta(hours=1))).one()
    assert [(a["type"], a["status"], a["action"]) for a in retried.actions] == [
        ("webhook", "ok", 1)]

    # now everything ran: both cool down
    third = run_playbooks(session, cfg, _delivery(slack), NOW + timedelta(hours=2), TODAY)
    assert (third.fired, third.cooling) == (0, 2)
    assert len(receiver.deliveries) == 2


def _playbook_yml(home: Path, actions: str, **extra: str) -> None:
    (home / "pulse.yml").write_text(
        "".join(f"{k}: {v}\n" for k, v in extra.items()) +
        "schedule: {enabled: false}\n"
        "playbooks:\n"
        "  - name: into risk\n"
        "    trigger: {type: tier_crossed, tier: at_risk}\n"
        f"    actions: {actions}\n"
    )


def test_a_missing_secret_unreachable_webhook_and_crm_task_without_crm_are_reported_at_start(
    db_url: str, tmp_path: Path, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    for var in ("PULSE_WEBHOOK_SECRET", "PULSE_CONFIG", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN",
                "HUBSPOT_ACCESS_TOKEN", *[k for k in os.environ if k.startswith("SALESFORCE_")]):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("DOWN_SECRET", "set")
    monkeypatch.chdir(tmp_path)
    _playbook_yml(tmp_path, f"[{{type: webhook, url: '{receiver.url}'}}, "
                  f"{{type: webhook, url: 'http://127.0.0.1:{closed}/hook', "
                  "secret_env: DOWN_SECRET}, {type: crm_task}, {type: dm_owner}]")
    runner = CliRunner()
    expected = [
        f"playbook 'into risk': webhook {receiver.url}: PULSE_WEBHOOK_SECRET is not set",
        f"playbook 'into risk': webhook http://127.0.0.1:{closed}/hook: cannot connect to "
        f"127.0.0.1:{closed}",
        "playbook 'into risk': crm_task: no CRM in pulse.yml",
    ]
    for command in (["playbooks"], ["serve"], ["serve", "--socket"]):
        result = runner.invoke(cli, command, env={"COLUMNS": "200"})
        warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 3, (command, result.output)
        for line, start in zip(warnings, expected, strict=True):
            assert line.startswith(f"warning: {start}"), (command, line)
    # fixed: the secret set, a CRM with credentials, the unreachable webhook gone
    monkeypatch.setenv("PULSE_WEBHOOK_SECRET", receiver.secret)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-test")
    _playbook_yml(tmp_path, f"[{{type: webhook, url: '{receiver.url}'}}, {{type: crm_task}}]",
                  sources="{hubspot: {}}")
    result = runner.invoke(cli, ["playbooks"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    assert receiver.deliveries == []  # the check connects; it sends nothing
