"""Alert lifecycle: raise once, acknowledge, snooze and reopen, resolve, route, audit."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from workspace import (
    CFG,
    D1,
    D2,
    NOW1,
    NOW2,
    flag,
    load_people,
    load_workspace,
    put_snapshot,
)

from digests.cards import alert_card
from digests.limits import validate_message
from pulse.kernel.config import parse_config
from pulse.services.access import Viewer, resolve_viewer
from pulse.services.alerts import (
    TIER_RULE,
    acknowledge,
    add_reason,
    alert_item,
    destination,
    evaluate_alerts,
    record_message,
    route,
    snooze,
)
from storage.models import Alert, AuditLog

ACCESS = parse_config({"access": {"read_only": ["UREADER"], "account_executives": ["UQUINN"]}})


def _viewer(session: Session, slack_id: str) -> Viewer:
    return resolve_viewer(session, ACCESS, slack_id, None)


def _audit(session: Session, action: str | None = None) -> list[AuditLog]:
    stmt = select(AuditLog).order_by(AuditLog.id)
    if action is not None:
        stmt = stmt.where(AuditLog.action == action)
    return list(session.scalars(stmt))


def _alerts(session: Session) -> list[Alert]:
    return list(session.scalars(select(Alert).order_by(Alert.id)))


def _day(n: int) -> tuple[datetime, object]:
    """(now, as_of) ``n`` days after D1, scoring at midnight and evaluating at 08:00."""
    return NOW1 + timedelta(days=n), D1 + timedelta(days=n)


def test_a_raised_alert_is_not_raised_twice(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1, flags=[flag("invoice_overdue", detail="50 days")])
    first = evaluate_alerts(session, CFG, NOW1)
    assert [(a.rule, a.severity, a.status, a.message) for a in first.raised] == [
        ("invoice_overdue", "warning", "open", "50 days")
    ]
    item = first.raised[0]
    assert (item.account_name, item.label, item.action, item.owner_slack_id) == (
        "Acme Corp",
        "Invoice overdue",
        "Do something about invoice_overdue.",
        "UOLGA",
    )
    again = evaluate_alerts(session, CFG, NOW1 + timedelta(hours=1))
    assert not again
    put_snapshot(session, ids["a1"], D2, flags=[flag("invoice_overdue", detail="57 days")])
    later = evaluate_alerts(session, CFG, NOW2)
    assert not later
    assert len(_alerts(session)) == 1
    raised = _audit(session, "alert_raised")
    assert [(a.actor, a.account_id, a.detail["rule"]) for a in raised] == [
        ("pulse", ids["a1"], "invoice_overdue")
    ]


def test_acknowledged_does_not_fire_again_for_the_same_condition(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1, flags=[flag("invoice_overdue")])
    alert_id = evaluate_alerts(session, CFG, NOW1).raised[0].id
    olga = _viewer(session, "UOLGA")
    acked = acknowledge(session, alert_id, olga, NOW1 + timedelta(minutes=5))
    assert (acked.status, acked.acknowledged_by) == ("acknowledged", "UOLGA")
    # Still overdue the next days, even escalated to critical: no new alert, still acked.
    for n, severity in ((1, "warning"), (2, "critical")):
        now, as_of = _day(n)
        put_snapshot(session, ids["a1"], as_of, flags=[flag("invoice_overdue", severity)])
        changes = evaluate_alerts(session, CFG, now)
        assert not changes.raised and not changes.reopened
    (alert,) = _alerts(session)
    assert (alert.status, alert.severity) == ("acknowledged", "critical")
    assert len(_audit(session, "alert_severity_changed")) == 1
    # The condition clears: resolved. It comes back: that is a new alert.
    now, as_of = _day(3)
    put_snapshot(session, ids["a1"], as_of, flags=[])
    assert [a.id for a in evaluate_alerts(session, CFG, now).resolved] == [alert_id]
    now, as_of = _day(4)
    put_snapshot(session, ids["a1"], as_of, flags=[flag("invoice_overdue")])
    back = evaluate_alerts(session, CFG, now).raised
    assert len(back) == 1 and back[0].id != alert_id and back[0].status == "open"


def test_snoozed_is_not_reposted_before_its_end_and_reopens_after(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a4"], D1, tier="fine", flags=[flag("main_contact_silent")])
    alert_id = evaluate_alerts(session, CFG, NOW1).raised[0].id
    snoozed = snooze(session, alert_id, _viewer(session, "UMAYA"), "1d", NOW1)
    assert (snoozed.status, snoozed.snoozed_by) == ("snoozed", "UMAYA")
    assert snoozed.snoozed_until == NOW1 + timedelta(days=1)
    # Before the end: nothing, whatever the number of evaluations.
    assert not evaluate_alerts(session, CFG, NOW1 + timedelta(hours=12))
    assert not evaluate_alerts(session, CFG, NOW1 + timedelta(hours=23, minutes=59))
    # After: back to open, reported once as reopened so the card is posted again.
    after = evaluate_alerts(session, CFG, NOW1 + timedelta(days=1, minutes=1))
    assert [(a.id, a.status) for a in after.reopened] == [(alert_id, "open")]
    assert not after.raised and not after.resolved
    assert not evaluate_alerts(session, CFG, NOW1 + timedelta(days=1, hours=1))
    assert [a.actor for a in _audit(session, "alert_reopened")] == ["pulse"]


def test_a_snoozed_alert_whose_condition_clears_is_resolved(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1, flags=[flag("invoice_overdue")])
    alert_id = evaluate_alerts(session, CFG, NOW1).raised[0].id
    snooze(session, alert_id, _viewer(session, "UOLGA"), "30d", NOW1)
    put_snapshot(session, ids["a1"], D2, flags=[])
    changes = evaluate_alerts(session, CFG, NOW2)
    assert [(a.id, a.status, a.resolved_at) for a in changes.resolved] == [
        (alert_id, "resolved", NOW2)
    ]


def test_real_scoring_raises_escalates_and_resolves(session: Session) -> None:
    ids = load_workspace(session)
    raised = evaluate_alerts(session, CFG, NOW1).raised
    assert {(a.account_name, a.rule, a.severity) for a in raised} == {
        ("Acme Corp", "invoice_overdue", "warning"),
        ("Initech", "main_contact_silent", "warning"),
    }
    changes = evaluate_alerts(session, CFG, NOW2)
    # The invoice was paid between the runs: the alert resolves.
    assert [(a.account_name, a.rule) for a in changes.resolved] == [
        ("Acme Corp", "invoice_overdue")
    ]
    assert not changes.raised and not changes.reopened
    silent = session.scalars(select(Alert).where(Alert.account_id == ids["a4"])).one()
    assert (silent.status, silent.severity) == ("open", "critical")
    assert "25 days" in silent.message
    actions = [a.action for a in _audit(session)]
    assert actions.count("alert_raised") == 2
    assert actions.count("alert_resolved") == 1
    assert actions.count("alert_severity_changed") == 1


def test_tier_crossing_raises_escalates_and_resolves_when_the_tier_improves(
    session: Session,
) -> None:
    ids = load_people(session)
    acme = ids["a1"]
    put_snapshot(session, acme, D1, tier="healthy", score=85.0)
    assert not evaluate_alerts(session, CFG, NOW1)
    steps = [("fine", 70.0), ("fine", 68.0), ("at_risk", 45.0), ("at_risk", 44.0), ("fine", 60.0)]
    seen = []
    for n, (tier, score) in enumerate(steps, start=1):
        now, as_of = _day(n)
        put_snapshot(session, acme, as_of, tier=tier, score=score)
        changes = evaluate_alerts(session, CFG, now)
        seen.append(
            (
                [(a.rule, a.severity) for a in changes.raised],
                [a.rule for a in changes.resolved],
            )
        )
        if n == 1:
            assert changes.raised[0].message == (
                "Health tier fell from Healthy to Fine (health 85.0/100 -> 70.0/100)"
            )
    assert seen == [
        ([(TIER_RULE, "warning")], []),
        ([], []),  # still fine: same condition
        ([], []),  # fell further: escalated in place, not raised again
        ([], []),
        ([], [TIER_RULE]),  # improved: resolved
    ]
    (alert,) = _alerts(session)
    assert (alert.severity, alert.status) == ("critical", "resolved")
    assert "Fine to At risk" in alert.message
    # Straight from healthy to at risk is critical.
    put_snapshot(session, ids["a3"], D1 + timedelta(days=5), tier="healthy")
    put_snapshot(session, ids["a3"], D1 + timedelta(days=6), tier="at_risk")
    now, _ = _day(6)
    assert [(a.account_name, a.severity) for a in evaluate_alerts(session, CFG, now).raised] == [
        ("Globex", "critical")
    ]


def test_alerts_of_accounts_no_longer_scored_are_resolved(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1, flags=[flag("invoice_overdue")])
    put_snapshot(session, ids["a3"], D1)
    evaluate_alerts(session, CFG, NOW1)
    put_snapshot(session, ids["a3"], D2)  # Acme Corp is not scored on D2 (e.g. churned)
    resolved = evaluate_alerts(session, CFG, NOW2).resolved
    assert [a.account_name for a in resolved] == ["Acme Corp"]
    assert _audit(session, "alert_resolved")[0].detail["reason"] == "account not scored"


def test_double_acknowledge_and_double_snooze_write_one_audit_row(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1, flags=[flag("invoice_overdue")])
    alert_id = evaluate_alerts(session, CFG, NOW1).raised[0].id
    olga = _viewer(session, "UOLGA")
    first = acknowledge(session, alert_id, olga, NOW1)
    second = acknowledge(session, alert_id, olga, NOW1 + timedelta(seconds=1))
    assert first == second
    acks = _audit(session, "alert_acknowledged")
    assert [(a.actor, a.at, a.detail["alert_id"]) for a in acks] == [("UOLGA", NOW1, alert_id)]

    snooze(session, alert_id, olga, "7d", NOW1 + timedelta(minutes=1))
    repeat = snooze(session, alert_id, olga, "7d", NOW1 + timedelta(minutes=1, seconds=2))
    assert repeat.snoozed_until == NOW1 + timedelta(days=7, minutes=1)
    assert len(_audit(session, "alert_snoozed")) == 1
    # A different choice is a new decision.
    longer = snooze(session, alert_id, olga, "30d", NOW1 + timedelta(minutes=2))
    assert longer.snoozed_until == NOW1 + timedelta(days=30, minutes=2)
    assert len(_audit(session, "alert_snoozed")) == 2
    # Until renewal: the account's renewal date; twice is still once.
    until = snooze(session, alert_id, olga, "renewal", NOW1 + timedelta(minutes=3))
    assert until.snoozed_until == datetime(2026, 4, 10)  # D1 + 40 days
    snooze(session, alert_id, olga, "renewal", NOW1 + timedelta(hours=3))
    assert len(_audit(session, "alert_snoozed")) == 3


def test_who_may_act(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1, flags=[flag("invoice_overdue")])
    put_snapshot(session, ids["a6"], D1, flags=[flag("owner_silent")])  # Umbrella: no renewal
    changes = evaluate_alerts(session, CFG, NOW1)
    acme_id, umbrella_id = (a.id for a in sorted(changes.raised, key=lambda a: a.account_id))
    with pytest.raises(PermissionError, match="read-only"):
        acknowledge(session, acme_id, _viewer(session, "UREADER"), NOW1)
    with pytest.raises(PermissionError, match="account executive"):
        snooze(session, umbrella_id, _viewer(session, "UQUINN"), "1d", NOW1)
    with pytest.raises(LookupError, match="not found") as elsewhere:
        acknowledge(session, acme_id, _viewer(session, "UPETE"), NOW1)  # not his portfolio
    with pytest.raises(PermissionError, match="no Pulse access"):
        acknowledge(session, acme_id, _viewer(session, "UNOBODY"), NOW1)
    with pytest.raises(LookupError) as missing:
        acknowledge(session, 999_999, _viewer(session, "UOLGA"), NOW1)
    # the same words either way: ids cannot be probed for what exists (issue 18)
    assert str(missing.value).replace("999999", "N") == str(elsewhere.value).replace(
        str(acme_id), "N")
    with pytest.raises(ValueError, match="no renewal date"):
        snooze(
            session,
            umbrella_id,
            resolve_viewer(session, parse_config({"access": {"admins": ["UBOSS"]}}), "UBOSS", None),
            "renewal",
            NOW1,
        )
    with pytest.raises(ValueError, match="Unknown snooze"):
        snooze(session, acme_id, _viewer(session, "UOLGA"), "2d", NOW1)  # type: ignore[arg-type]
    assert {a.status for a in _alerts(session)} == {"open"}
    assert not _audit(session, "alert_acknowledged") and not _audit(session, "alert_snoozed")
    # The team's manager may act.
    assert acknowledge(session, acme_id, _viewer(session, "UMAYA"), NOW1).status == "acknowledged"


def test_routes_pick_the_right_destination(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1, flags=[flag("invoice_overdue", "critical")])
    put_snapshot(session, ids["a2"], D1, flags=[flag("invoice_overdue", "warning")])
    put_snapshot(session, ids["a7"], D1, flags=[flag("invoice_overdue", "warning")])
    evaluate_alerts(session, CFG, NOW1)
    by_account = {a.account_id: a for a in _alerts(session)}
    acme, labs, vandelay = by_account[ids["a1"]], by_account[ids["a2"]], by_account[ids["a7"]]

    assert route(session, CFG, acme) == "UOLGA"  # default: the owner's DM
    assert route(session, CFG, vandelay) is None  # Rita has no Slack id
    routes = parse_config(
        {
            "slack": {
                "alert_routes": [
                    {"severity": "critical", "team": "enterprise", "to": "CENTCRIT"},
                    {"segment": "SMB", "team": "SMB", "to": "manager"},
                    {"severity": "warning", "to": "manager"},
                    {"to": "owner"},
                ]
            }
        }
    )
    assert route(session, routes, acme) == "CENTCRIT"
    assert route(session, routes, labs) == "UNATE"  # Pete's manager
    assert route(session, routes, vandelay) == "UMAYA"  # Rita's manager has a Slack id
    narrow = parse_config({"slack": {"alert_routes": [{"severity": "critical", "to": "owner"}]}})
    assert route(session, narrow, labs) is None  # no route matches


def test_an_owner_without_a_slack_user_gets_the_catch_all_channel(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a7"], D1, flags=[flag("invoice_overdue", "warning")])
    put_snapshot(session, ids["a1"], D1, flags=[flag("invoice_overdue", "warning")])
    evaluate_alerts(session, CFG, NOW1)
    by_account = {a.account_id: a for a in _alerts(session)}
    vandelay, acme = by_account[ids["a7"]], by_account[ids["a1"]]  # Rita has no Slack id

    admin = parse_config({"slack": {"admin_channel": "C0ADMIN"}})
    assert destination(session, admin, vandelay) == ("C0ADMIN", True)  # the default catch-all
    assert destination(session, admin, acme) == ("UOLGA", False)
    both = parse_config({"slack": {"admin_channel": "C0ADMIN", "catch_all_channel": "C0ORPHAN"}})
    assert destination(session, both, vandelay) == ("C0ORPHAN", True)
    to_channel = parse_config({"slack": {"admin_channel": "C0ADMIN",
                                         "alert_routes": [{"to": "C0ALL"}]}})
    assert destination(session, to_channel, vandelay) == ("C0ALL", False)  # a channel route
    assert destination(session, CFG, vandelay) == (None, False)  # no catch-all configured


def test_record_message_and_item(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a2"], D1, flags=[flag("integration_failing")])
    alert_id = evaluate_alerts(session, CFG, NOW1).raised[0].id
    record_message(session, alert_id, "D0PETE", "1740000000.000100")
    alert = session.get(Alert, alert_id)
    assert alert is not None and (alert.slack_channel, alert.slack_ts) == (
        "D0PETE",
        "1740000000.000100",
    )
    monkeypatch.setenv("HUBSPOT_PORTAL_ID", "777")
    item = alert_item(session, alert)
    assert item.crm_url == "https://app.hubspot.com/contacts/777/company/92"
    assert session.scalar(select(func.count()).select_from(AuditLog)) == 1  # the raise only


# ---------------------------------------------------------------------------------------
# Smarter snooze: quiet alerts reopen early when the account gets materially worse


def test_an_acknowledged_alert_reopens_early_on_a_further_score_drop(session: Session) -> None:
    """Baseline 70 at acknowledgement; -5 stays quiet, -11 (past the default 10) reopens
    with the reason on the card; the reason the CSM gave is kept in the audit log."""
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1, "fine", [flag("invoice_overdue")], score=70.0)
    alert_id = evaluate_alerts(session, CFG, NOW1).raised[0].id
    olga = _viewer(session, "UOLGA")
    acked = acknowledge(session, alert_id, olga, NOW1, reason="  paying next   week ")
    assert acked.quiet_reason == "paying next week"
    assert "paying next week" in json.dumps(alert_card(acked, NOW1))
    now, as_of = _day(1)
    put_snapshot(session, ids["a1"], as_of, "fine", [flag("invoice_overdue")], score=65.0)
    assert not evaluate_alerts(session, CFG, now)
    now, as_of = _day(2)
    put_snapshot(session, ids["a1"], as_of, "fine", [flag("invoice_overdue")], score=59.0)
    changes = evaluate_alerts(session, CFG, now)
    (item,) = changes.reopened
    assert (item.id, item.status) == (alert_id, "open")
    assert item.reopen_reason == (
        "score fell a further 11.0 points (70.0 -> 59.0) since it was acknowledged"
    )
    card = alert_card(item, now)
    assert validate_message(card) == []
    assert "Reopened early" in json.dumps(card) and "alert_ack" in json.dumps(card)
    (audit,) = _audit(session, "alert_reopened_early")
    assert audit.detail["quiet_reason"] == "paying next week"
    assert [a.detail["reason"] for a in _audit(session, "alert_acknowledged")] == [
        "paying next week"
    ]
    assert not evaluate_alerts(session, CFG, now + timedelta(hours=1))  # reported once


def test_a_snoozed_alert_reopens_early_on_a_new_critical_flag_only(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a4"], D1, "fine", [flag("main_contact_silent")])
    alert_id = evaluate_alerts(session, CFG, NOW1).raised[0].id
    snooze(session, alert_id, _viewer(session, "UOLGA"), "30d", NOW1)
    # The alert's own flag turning critical is the same condition: still snoozed.
    now, as_of = _day(1)
    put_snapshot(session, ids["a4"], as_of, "fine", [flag("main_contact_silent", "critical")])
    assert not evaluate_alerts(session, CFG, now).reopened
    # A warning-level new flag raises its own alert but does not wake this one.
    now, as_of = _day(2)
    flags = [flag("main_contact_silent", "critical"), flag("owner_silent")]
    put_snapshot(session, ids["a4"], as_of, "fine", flags)
    changes = evaluate_alerts(session, CFG, now)
    assert not changes.reopened and [a.rule for a in changes.raised] == ["owner_silent"]
    now, as_of = _day(3)
    flags = [*flags, flag("invoice_overdue", "critical")]
    put_snapshot(session, ids["a4"], as_of, "fine", flags)
    changes = evaluate_alerts(session, CFG, now)
    assert [(a.id, a.reopen_reason) for a in changes.reopened] == [
        (alert_id, "new critical flag: Invoice overdue")
    ]
    assert _alerts(session)[0].snoozed_until is None


def test_a_quiet_alert_reopens_when_the_renewal_enters_its_notice_window(
    session: Session,
) -> None:
    """Hooli renews 100 days after D1: acknowledged then, it reopens on the first
    evaluation with 60 days or fewer left, not before."""
    ids = load_people(session)
    put_snapshot(session, ids["a5"], D1, "fine", [flag("owner_silent")])
    alert_id = evaluate_alerts(session, CFG, NOW1).raised[0].id
    acknowledge(session, alert_id, _viewer(session, "UMAYA"), NOW1)
    now, as_of = _day(39)  # 61 days left
    put_snapshot(session, ids["a5"], as_of, "fine", [flag("owner_silent")])
    assert not evaluate_alerts(session, CFG, now)
    now, as_of = _day(40)  # 60 days left
    put_snapshot(session, ids["a5"], as_of, "fine", [flag("owner_silent")])
    (item,) = evaluate_alerts(session, CFG, now).reopened
    renewal = (D1 + timedelta(days=100)).isoformat()
    assert item.reopen_reason == f"renewal on {renewal} is now within 60 days (60 left)"
    strict = parse_config({"alerts": {"renewal_notice_days": 30}})
    assert strict.alerts.renewal_notice_days == 30


def test_reasons_can_be_added_to_quiet_alerts_only(session: Session) -> None:
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1, flags=[flag("invoice_overdue")])
    alert_id = evaluate_alerts(session, CFG, NOW1).raised[0].id
    olga = _viewer(session, "UOLGA")
    with pytest.raises(ValueError, match="acknowledged or snoozed"):
        add_reason(session, alert_id, olga, "why", NOW1)
    snooze(session, alert_id, olga, "7d", NOW1)
    with pytest.raises(ValueError, match="empty"):
        add_reason(session, alert_id, olga, "   ", NOW1)
    item = add_reason(session, alert_id, olga, "QBR on Friday", NOW1)
    assert item.quiet_reason == "QBR on Friday"
    add_reason(session, alert_id, olga, "QBR on Friday", NOW1)  # the same: no new row
    assert [a.detail["reason"] for a in _audit(session, "alert_reason")] == ["QBR on Friday"]
    with pytest.raises(PermissionError):
        add_reason(session, alert_id, _viewer(session, "UREADER"), "no", NOW1)


def test_a_snoozed_alert_reopens_early_when_the_score_drops_a_further_n_points(
    session: Session,
) -> None:
    """N is ``alerts.reopen_score_drop``: with N = 5 a 4-point fall keeps the snooze, a
    6-point fall ends it a week before its time."""
    cfg = parse_config({"alerts": {"reopen_score_drop": 5}})
    ids = load_people(session)
    put_snapshot(session, ids["a4"], D1, "fine", [flag("main_contact_silent")], score=62.0)
    alert_id = evaluate_alerts(session, cfg, NOW1).raised[0].id
    snooze(session, alert_id, _viewer(session, "UOLGA"), "30d", NOW1, reason="on holiday")
    now, as_of = _day(1)
    put_snapshot(session, ids["a4"], as_of, "fine", [flag("main_contact_silent")], score=58.0)
    assert not evaluate_alerts(session, cfg, now)
    now, as_of = _day(23)
    put_snapshot(session, ids["a4"], as_of, "fine", [flag("main_contact_silent")], score=56.0)
    (item,) = evaluate_alerts(session, cfg, now).reopened
    assert (item.id, item.status, item.snoozed_until) == (alert_id, "open", None)
    assert item.reopen_reason == (
        "score fell a further 6.0 points (62.0 -> 56.0) since it was snoozed"
    )


def test_insufficient_data_is_shown_but_never_alerted(session: Session) -> None:
    """A workspace with only CRM data flags every account "Insufficient data": that is
    about Pulse's data, not the customer, so no CSM is paged for it."""
    ids = load_people(session)
    put_snapshot(session, ids["a1"], D1,
                 flags=[flag("insufficient_data"), flag("invoice_overdue", detail="50 days")])
    raised = evaluate_alerts(session, CFG, NOW1).raised
    assert [a.rule for a in raised] == ["invoice_overdue"]
