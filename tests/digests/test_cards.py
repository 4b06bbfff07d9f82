"""The `/health` replies and the alert card: content and interaction contract."""

from __future__ import annotations

import json
import re
from datetime import datetime

from digest_samples import (
    COMPONENTS,
    NASTY,
    NOW,
    alert,
    all_mrkdwn,
    assert_escaped,
    by_action,
    card,
    elements,
    huge_portfolio,
    line,
)

from digests.cards import (
    REFUSAL_TEXT,
    account_list,
    alert_card,
    component_line,
    health_card,
    help_message,
    not_scored,
    pick_list,
    refusal,
)
from digests.limits import validate_message
from digests.views import PickList

# ---------------------------------------------------------------------------------------
# Health card


def test_health_card_shows_every_component_with_points_and_detail() -> None:
    payload = health_card(card())
    body = all_mrkdwn(payload)
    for c in COMPONENTS:
        assert f"*{c['label']}*" in body
        assert c["detail"].split(";")[0].replace(">", "&gt;") in body
        if c["has_data"]:
            assert f"*{c['points']:.1f} pts*" in body
    assert "*Engagement* — no data, 0.0 pts" in body
    assert "no NPS on file; weight renormalised" in body
    assert "*Total 49.2 pts = score 49.2*" in body


def test_component_line_adds_the_renormalisation_note_when_missing() -> None:
    text = component_line(
        {
            "label": "Engagement",
            "weight": 0.15,
            "points": 0.0,
            "has_data": False,
            "detail": "no NPS on file",
        }
    )
    assert "no data" in text and "no NPS on file: weight renormalised" in text
    partial = component_line(
        {
            "label": "Engagement",
            "effective_weight": 0.2,
            "value": 0.8,
            "points": 16.0,
            "has_data": True,
            "detail": "no tickets in 90 days; no NPS on file",
        }
    )
    assert "*16.0 pts*" in partial and "renormalised" in partial


def test_health_card_facts_trend_reasons_and_change() -> None:
    payload = health_card(card())
    body = all_mrkdwn(payload)
    assert payload["blocks"][0]["text"]["text"] == "Evergreen Associates 1 — health 49.2/100"
    assert ":red_circle: At risk" in body
    assert "$10k" in body and "2026-12-08 (in 13 days)" in body and "Priscilla Tan" in body
    assert re.search(r"`[▁▂▃▄▅▆▇█]{4}` 61\.0 → 49\.2 \(-11\.8\)", body)
    assert "Customer admin silent: Leo Haddad" in body
    assert "58.7 → 49.2: activity trend" in body
    assert "Invoice overdue" in body
    assert "At risk (red)" in payload["text"] and "61.0 → 49.2" in payload["text"]


def test_health_card_first_snapshot_says_so() -> None:
    body = all_mrkdwn(health_card(card(change_lines=[], trend=[])))
    assert "First snapshot: nothing to compare with yet." in body
    assert "no history yet" in body


def test_health_card_buttons_follow_alerts_and_permissions() -> None:
    one = health_card(card())
    assert [e["value"] for e in by_action(one, "alert_ack")] == ["7"]
    assert by_action(one, "alert_ack_all") == []
    assert by_action(one, "open_crm")[0]["url"] == "https://crm.example.com/accounts/1"

    several = health_card(
        card(alerts=[alert(7), alert(8), alert(9, status="acknowledged"), alert(11)])
    )
    assert by_action(several, "alert_ack") == []
    ack_all = by_action(several, "alert_ack_all")
    assert [e["value"] for e in ack_all] == ["7,8,11"]
    assert ack_all[0]["text"]["text"] == "Acknowledge all"

    read_only = health_card(card(can_act=False, alerts=[alert(7), alert(8)]))
    assert by_action(read_only, "alert_ack") == by_action(read_only, "alert_ack_all") == []
    assert by_action(read_only, "open_crm")
    assert by_action(read_only, "override_open") == []  # only people who can act
    assert [e["value"] for e in by_action(one, "override_open")] == ["1"]

    no_crm = health_card(card(account=line(1, crm_url=None), alerts=[], can_act=False))
    assert not any(b["type"] == "actions" for b in no_crm["blocks"])
    acknowledged_only = health_card(card(alerts=[alert(7, status="acknowledged")]))
    assert by_action(acknowledged_only, "alert_ack") == []


# ---------------------------------------------------------------------------------------
# Pick list, refusal, help, lists


def test_pick_list_with_candidates_offers_show_buttons() -> None:
    payload = pick_list(PickList("evergreen", candidates=[line(1), line(2), line(3)]))
    picks = by_action(payload, "health_pick")
    assert [p["value"] for p in picks] == ["1", "2", "3"]
    assert {p["text"]["text"] for p in picks} == {"Show"}
    assert "3 accounts match 'evergreen'" in all_mrkdwn(payload)


def test_pick_list_cuts_long_lists_with_a_count() -> None:
    payload = pick_list(PickList("a", candidates=huge_portfolio(30)))
    assert len(by_action(payload, "health_pick")) == 10
    assert "…and 20 more" in all_mrkdwn(payload)


def test_pick_list_without_matches_shows_closest() -> None:
    payload = pick_list(PickList("acme", closest=["Acme Corp", "Apex & <Co>"]))
    assert (
        payload["text"] == "No account matches 'acme'. Closest: Acme Corp, Apex &amp; &lt;Co&gt;."
    )
    assert by_action(payload, "health_pick") == []
    bare = pick_list(PickList("zzz"))
    assert bare["text"] == "No account matches 'zzz'."


def test_refusal_reveals_nothing() -> None:
    a = refusal("Evergreen Associates")
    b = refusal("Totally Unknown Ltd")
    assert a == b
    dumped = json.dumps(a)
    for leak in ("Evergreen", "Unknown", "49.2", "$", "renew", "Priscilla"):
        assert leak not in dumped
    assert a["text"] == REFUSAL_TEXT
    assert "Ask your CS manager" in all_mrkdwn(a)
    assert elements(a) == []


def test_help_lists_every_command() -> None:
    body = all_mrkdwn(help_message())
    for cmd in (
        "`/health`",
        "`/health NAME`",
        "`/health risk`",
        "`/health expansion`",
        "`/health help`",
    ):
        assert cmd in body


def test_account_list_truncates_with_a_count_and_a_pointer_home() -> None:
    big = huge_portfolio()
    payload = account_list("Your accounts", big, "none", 10)
    assert len(by_action(payload, "health_pick")) == 10
    assert "…and 490 more — open Pulse's Home tab" in all_mrkdwn(payload)
    assert "500 accounts" in payload["text"]
    capped = account_list(NASTY * 20, big, NASTY * 100, 500)
    shown = len(by_action(capped, "health_pick"))
    assert shown < 500 and f"…and {500 - shown} more" in all_mrkdwn(capped)
    empty = account_list("At-risk accounts", [], "None of your accounts are at risk.", 10)
    assert "None of your accounts are at risk." in all_mrkdwn(empty)


# ---------------------------------------------------------------------------------------
# Alert card


def test_open_alert_card_offers_ack_snooze_and_crm() -> None:
    payload = alert_card(alert(), NOW)
    body = all_mrkdwn(payload)
    assert (
        payload["blocks"][0]["text"]["text"]
        == ":rotating_light: Critical alert: Evergreen Associates 1"
    )
    assert "*Invoice overdue*" in body and "INV-123" in body
    assert "*Recommended action:* Check with finance" in body
    assert "Open since <!date^" in body and "(5 days ago)" in body
    assert [e["value"] for e in by_action(payload, "alert_ack")] == ["7"]
    snooze = by_action(payload, "alert_snooze")[0]
    assert snooze["type"] == "static_select" and snooze["placeholder"]["text"] == "Snooze…"
    assert [o["value"] for o in snooze["options"]] == ["7:1d", "7:7d", "7:30d", "7:renewal"]
    assert by_action(payload, "open_crm")[0]["url"] == "https://crm.example.com/accounts/1"


def test_alert_card_shows_where_the_account_stands() -> None:
    payload = alert_card(alert(), NOW)
    assert validate_message(payload) == []
    body = all_mrkdwn(payload)
    assert "*Health score*\n49.2/100 (-9.5 since the last scoring)" in body
    assert "*Tier*\n:red_circle: At risk (was Fine)" in body
    assert "*ARR*\n$48k" in body
    assert "*Renewal*\n2026-12-08 (in 13 days)" in body
    assert "*Usage* 3.9 of 23.5 pts: users active 4 of 30 days" in body
    assert "*Trend* 3.2 of 17.6 pts" in body
    assert "Data as of <!date^" in body and "stale: support data 3 days old" in body
    assert "Peers: Seats: bottom 8% of Enterprise, 50-199 seats peers" in body
    assert "*Recommended action:*" in body and by_action(payload, "open_crm")
    assert "Health 49.2/100, At risk (red); ARR $48k; renews 2026-12-08" in payload["text"]
    assert "at_risk" not in json.dumps(payload)


def test_alert_card_of_an_account_not_scored_yet_leaves_the_standing_out() -> None:
    payload = alert_card(alert(score=None), NOW)
    assert validate_message(payload) == []
    assert "Health score" not in all_mrkdwn(payload)
    first = all_mrkdwn(alert_card(alert(prev_score=None, prev_tier=None), NOW))
    assert "*Health score*\n49.2/100 (first scoring)" in first
    assert "*Tier*\n:red_circle: At risk\n" in first + "\n"


def test_acknowledged_alert_shows_who_and_when_and_drops_ack() -> None:
    payload = alert_card(
        alert(
            status="acknowledged",
            acknowledged_by="U0DANA",
            acknowledged_at=datetime(2026, 11, 25, 9, 30),
        ),
        NOW,
    )
    body = all_mrkdwn(payload)
    assert "Acknowledged by <@U0DANA> at <!date^" in body
    assert "2026-11-25 09:30 UTC" in body
    assert "Acknowledged by <@U0DANA> at 2026-11-25 09:30 UTC" in payload["text"]
    assert by_action(payload, "alert_ack") == by_action(payload, "alert_snooze") == []
    assert [e["action_id"] for e in elements(payload)] == ["alert_reason", "open_crm", "note_open"]
    assert by_action(payload, "alert_reason")[0]["text"]["text"] == "Add a reason"


def test_snoozed_alert_shows_until_its_reason_and_no_ack() -> None:
    until = datetime(2026, 12, 2, 9, 0)
    payload = alert_card(
        alert(status="snoozed", snoozed_by="U0DANA", snoozed_until=until,
              quiet_reason="waiting for their budget cycle"),
        NOW,
    )
    assert "Snoozed by <@U0DANA> until <!date^" in all_mrkdwn(payload)
    assert '— "waiting for their budget cycle"' in all_mrkdwn(payload)
    assert "until 2026-12-02 09:00 UTC" in payload["text"]
    assert "waiting for their budget cycle" in payload["text"]
    assert [e["action_id"] for e in elements(payload)] == ["alert_reason", "open_crm", "note_open"]
    assert by_action(payload, "alert_reason")[0]["text"]["text"] == "Edit reason"
    ended = alert_card(
        alert(status="snoozed", snoozed_by="U0DANA", snoozed_until=datetime(2026, 11, 24)), NOW
    )
    assert "snooze has ended" in ended["text"]


def test_resolved_alert_has_no_buttons() -> None:
    payload = alert_card(alert(status="resolved", resolved_at=datetime(2026, 11, 24, 8)), NOW)
    assert "Resolved" in all_mrkdwn(payload) and "Resolved 2026-11-24 08:00 UTC" in payload["text"]
    assert elements(payload) == []
    assert not any(b["type"] == "actions" for b in payload["blocks"])


def test_alert_card_never_mentions_a_forged_user_id() -> None:
    payload = alert_card(
        alert(status="acknowledged", acknowledged_by="<!channel>", acknowledged_at=NOW), NOW
    )
    assert_escaped(payload)
    assert "&lt;!channel&gt;" in all_mrkdwn(payload)


def test_alert_card_without_crm_or_action() -> None:
    payload = alert_card(alert(crm_url=None, action=None, severity="warning"), NOW)
    assert ":warning: Warning alert" in payload["blocks"][0]["text"]["text"]
    assert by_action(payload, "open_crm") == []
    assert "Recommended action" not in all_mrkdwn(payload)
    assert validate_message(payload) == []


def test_not_scored_message_is_distinct_from_the_refusal() -> None:
    payload = not_scored()
    assert validate_message(payload) == []
    assert "no health score yet" in payload["text"]
    assert REFUSAL_TEXT not in payload["text"]


def test_health_card_shows_stale_data_and_the_csm_entry_under_the_trend() -> None:
    payload = health_card(
        card(stale=["support data 3 days old (zendesk)"], csm_entry="CSM: red, by <@U0DANA>")
    )
    blocks = payload["blocks"]
    assert blocks[2]["text"]["text"].startswith("*30-day trend:*")
    assert blocks[3]["type"] == "context" and blocks[3]["elements"][0]["text"] == (
        ":hourglass: Stale: support data 3 days old (zendesk). Parts of this score rest on "
        "old data."
    )
    assert blocks[4]["text"]["text"] == ":speech_balloon: CSM: red, by <@U0DANA>"
    assert blocks[5]["text"]["text"].startswith("*Why*\n")


def test_health_card_cuts_reasons_changes_flags_and_alerts_with_a_count() -> None:
    flag = {"code": "owner_silent", "label": "Owner silent", "severity": "critical",
            "detail": "no activity", "action": "Book a check-in"}
    payload = health_card(
        card(
            reasons=[f"reason {i}" for i in range(9)],
            change_lines=[f"change {i}: 50 -> 49" for i in range(9)],
            flags=[flag] * 8,
            alerts=[alert(i) for i in range(10)],
        )
    )
    sections = {
        b["text"]["text"].split("\n")[0]: b["text"]["text"]
        for b in payload["blocks"]
        if b["type"] == "section" and "text" in b
    }
    assert sections["*Why*"].count("\n• ") == 5 and "reason 5" not in sections["*Why*"]
    changes = sections["*Change since last snapshot*"]
    assert changes.count("\n• ") == 6 and changes.endswith("\n…and 3 more")
    assert "change 0: 50 → 49" in changes
    flags = sections["*Flags*"]
    assert flags.count(":rotating_light: *Owner silent* (critical): no activity") == 6
    assert "\n    → Book a check-in" in flags and flags.endswith("\n…and 2 more")
    alerts = sections["*Open alerts*"]
    assert alerts.count("open since <!date^") == 8 and alerts.endswith("\n…and 2 more")


def test_health_card_acknowledges_as_many_alerts_as_fit_in_a_button() -> None:
    many = [alert(10**6 + i) for i in range(400)]
    ack = by_action(health_card(card(alerts=many)), "alert_ack_all")[0]
    ids = ack["value"].split(",")
    assert len(ack["value"]) <= 2000 and ids == [str(10**6 + i) for i in range(len(ids))]
    assert 0 < len(ids) < 400 and ack["text"]["text"] == f"Acknowledge {len(ids)}"


def test_health_card_says_when_the_points_do_not_add_up_to_the_score() -> None:
    body = all_mrkdwn(health_card(card(account=line(1, score=40.0))))
    assert "*Total 49.2 pts* (score 40.0)" in body and "= score" not in body


def test_reopened_alert_says_why_on_the_card_and_in_the_notification() -> None:
    payload = alert_card(alert(reopen_reason="score fell again"), NOW)
    assert ":rotating_light: *Reopened early:* score fell again" in all_mrkdwn(payload)
    assert ". Reopened early: score fell again." in payload["text"]
