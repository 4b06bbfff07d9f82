"""Every Block Kit builder: content, interaction contract, escaping and Slack's limits.

View models are built by hand, including a 500-account portfolio whose names and reasons
are long and full of ``&``, ``<`` and ``>``, so each builder is exercised at the size that
breaks naive Block Kit code. Every payload goes through the independent validator.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from digests.cards import (
    REFUSAL_TEXT,
    account_list,
    alert_card,
    component_line,
    health_card,
    help_message,
    pick_list,
    refusal,
)
from digests.digest_blocks import csm_digest, manager_digest
from digests.home import home_view
from digests.limits import validate_home, validate_message
from digests.views import (
    AccountLine,
    AlertItem,
    CsmDigest,
    HealthCard,
    HomeView,
    ManagerDigest,
    PickList,
    RenewalRow,
    RetentionLine,
    TierRow,
)

AS_OF = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 10, 0)
NASTY = "Smith & <Sons> > Co <!channel>"


def line(i: int = 1, **kw: Any) -> AccountLine:
    base: dict[str, Any] = dict(
        account_id=i,
        name=f"Evergreen Associates {i}",
        domain="evergreen.co",
        score=49.2,
        health_tier="at_risk",
        change=-9.5,
        arr=10_400.0,
        renewal_date=date(2026, 12, 8),
        days_to_renewal=13,
        owner_name="Priscilla Tan",
        last_activity=date(2026, 11, 20),
        open_alerts=1,
        expansion_score=6.7,
        renewal_risk="high",
        why="Account owner silent; score -9.5 since last run; at risk, renews in 13 days",
        crm_url=f"https://crm.example.com/accounts/{i}",
    )
    base.update(kw)
    return AccountLine(**base)


def huge_portfolio(n: int = 500) -> list[AccountLine]:
    tiers = ("healthy", "fine", "at_risk")
    return [
        line(
            i,
            name=f"{NASTY} " * 12 + f"#{i}",
            domain=f"<{i}>.example.com",
            owner_name=f"Owner & <{i}>" * 10,
            health_tier=tiers[i % 3],
            change=None if i % 7 == 0 else (i % 41) - 20.0,
            renewal_date=None if i % 5 == 0 else date(2026, 12, 1) + timedelta(days=i),
            days_to_renewal=None if i % 5 == 0 else 6 + i,
            why=f"{NASTY}; " * 60,
            crm_url=None if i % 4 == 0 else f"https://crm.example.com/a/{i}?x=1&y=2",
        )
        for i in range(n)
    ]


COMPONENTS: list[dict[str, Any]] = [
    {
        "key": "usage",
        "label": "Usage",
        "weight": 0.25,
        "effective_weight": 0.2941,
        "value": 0.47,
        "points": 13.8,
        "has_data": True,
        "raw": {"active_users": 3},
        "detail": "users active 4 of 30 days on average; 103 value-weighted actions per active "
        "user a month (workspace median 215), 99 core actions",
    },
    {
        "key": "seats",
        "label": "Seats",
        "weight": 0.2,
        "effective_weight": 0.2353,
        "value": 0.42,
        "points": 9.9,
        "has_data": True,
        "raw": {},
        "detail": "3 of 6 seats active (50%)",
    },
    {
        "key": "engagement",
        "label": "Engagement",
        "weight": 0.15,
        "effective_weight": 0.0,
        "value": None,
        "points": 0.0,
        "has_data": False,
        "raw": {},
        "detail": "no NPS on file; weight renormalised",
    },
    {
        "key": "contract",
        "label": "Contract",
        "weight": 0.15,
        "effective_weight": 0.1765,
        "value": 0.91,
        "points": 16.1,
        "has_data": True,
        "raw": {},
        "detail": "renewal in 13 days; no overdue invoices; paid",
    },
    {
        "key": "breadth",
        "label": "Feature breadth",
        "weight": 0.1,
        "effective_weight": 0.1176,
        "value": 0.53,
        "points": 6.2,
        "has_data": True,
        "raw": {},
        "detail": "6 of 12 features used, 2 of 5 core (value-weighted 42%)",
    },
    {
        "key": "trend",
        "label": "Trend",
        "weight": 0.15,
        "effective_weight": 0.1765,
        "value": 0.04,
        "points": 3.2,
        "has_data": True,
        "raw": {},
        "detail": "value-weighted activity down 48% vs previous 30 days (593 -> 309)",
    },
]


def alert(i: int = 7, status: str = "open", **kw: Any) -> AlertItem:
    base: dict[str, Any] = dict(
        id=i,
        account_id=1,
        account_name="Evergreen Associates 1",
        rule="invoice_overdue",
        label="Invoice overdue",
        severity="critical",
        status=status,
        message="Invoice INV-123 is 45 days overdue",
        action="Check with finance, then raise the overdue invoice with the billing contact.",
        opened_at=datetime(2026, 11, 20, 9, 0),
        crm_url="https://crm.example.com/accounts/1",
        owner_slack_id="U0PRISCILLA",
    )
    base.update(kw)
    return AlertItem(**base)


def card(**kw: Any) -> HealthCard:
    base: dict[str, Any] = dict(
        account=line(1),
        account_tier="mid-market",
        lifecycle="paid",
        as_of=AS_OF,
        components=COMPONENTS,
        reasons=[
            "Account owner silent: Leo Haddad has had no activity in the last 60 days",
            "Trend: value-weighted activity down 48% vs previous 30 days (593 -> 309)",
        ],
        change_lines=[
            "58.7 -> 49.2: activity trend -22% -> -48% (-6.3), seats (-3.2)",
            "Tier: fine -> at_risk",
        ],
        trend=[(AS_OF - timedelta(days=28 - 7 * k), s) for k, s in enumerate([61, 60, 58.7, 49.2])],
        flags=[
            {
                "code": "owner_silent",
                "label": "Account owner silent",
                "severity": "critical",
                "action": "Book a check-in with the customer's account owner.",
                "detail": "Leo Haddad has had no activity in the last 60 days",
            }
        ],
        alerts=[alert(7)],
        can_act=True,
    )
    base.update(kw)
    return HealthCard(**base)


def manager(drops: list[AccountLine], rises: list[AccountLine]) -> ManagerDigest:
    return ManagerDigest(
        scope="Enterprise CS",
        as_of=AS_OF,
        prev_as_of=date(2026, 11, 18),
        accounts_total=475,
        average_score=76.4,
        average_change=-0.3,
        distribution=[
            TierRow("healthy", 251, 11, 4.49e6),
            TierRow("fine", 156, -4, 2.21e6),
            TierRow("at_risk", 68, 0, 1.79e6),
        ],
        at_risk_arr=1.79e6,
        at_risk_arr_renewing=392e3,
        total_arr=8.49e6,
        drops=drops,
        rises=rises,
        renewals=[
            RenewalRow("high", 25, 392e3),
            RenewalRow("medium", 15, 132e3),
            RenewalRow("low", 100, 1.4e6),
        ],
    )


RETENTION = RetentionLine(
    start=date(2025, 11, 26), end=AS_OF, months=12, accounts_start=412, arr_start=4.5e6,
    kept_arr=4.1e6, arr_end_cohort=4.68e6, churned_accounts=21, grr=4.1 / 4.5, nrr=4.68 / 4.5,
    logo_churn_rate=21 / 412, expansion_forecast=120e3, expansion_opportunities=14,
    expansion_amount=310e3,
)


# ---------------------------------------------------------------------------------------
# Helpers over payloads


def texts(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (type, text) of every text object in the payload, recursively."""
    out: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in {"mrkdwn", "plain_text"} and isinstance(node.get("text"), str):
                out.append((node["type"], node["text"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(payload.get("blocks", []))
    return out


def all_mrkdwn(payload: dict[str, Any]) -> str:
    return "\n".join(t for kind, t in texts(payload) if kind == "mrkdwn")


def elements(payload: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for block in payload["blocks"]:
        if block["type"] == "actions":
            out.extend(block["elements"])
        if "accessory" in block:
            out.append(block["accessory"])
    return out


def by_action(payload: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    return [e for e in elements(payload) if e.get("action_id") == action_id]


# Strip the markup we generate ourselves; whatever '<' or '>' remains came unescaped.
OWN_TOKENS = re.compile(r"<(?:https?://[^|>]+\|[^>]*|@U[A-Z0-9]+|!date\^[^>]+)>")


def assert_escaped(payload: dict[str, Any]) -> None:
    for source in (all_mrkdwn(payload), payload.get("text", "")):
        rest = OWN_TOKENS.sub("", source)
        assert "<" not in rest and ">" not in rest, rest[:300]
        assert "<!channel>" not in source
        assert not re.search(r"&(?!amp;|lt;|gt;)", rest), rest[:300]


# ---------------------------------------------------------------------------------------
# Every builder, small and huge, stays inside Slack's limits


def all_payloads() -> dict[str, dict[str, Any]]:
    big = huge_portfolio()
    long_alert = alert(
        9,
        account_name=NASTY * 10,
        label=NASTY * 10,
        message=NASTY * 200,
        action=NASTY * 200,
        crm_url="https://e.com/" + "a" * 4000,
    )
    return {
        "card": health_card(card()),
        "card_huge": health_card(
            card(
                account=big[3],
                components=[{**c, "detail": NASTY * 100} for c in COMPONENTS] * 3,
                reasons=[NASTY * 50] * 40,
                change_lines=[NASTY * 60] * 40,
                flags=[
                    {
                        "code": "x",
                        "label": NASTY * 9,
                        "severity": "warning",
                        "action": NASTY * 40,
                        "detail": NASTY * 40,
                    }
                ]
                * 30,
                alerts=[alert(i, message=NASTY * 30) for i in range(400)],
                trend=[(AS_OF - timedelta(days=k), 50 + k % 9) for k in range(400)],
            )
        ),
        "card_first_snapshot": health_card(card(change_lines=[], trend=[], alerts=[], flags=[])),
        "pick": pick_list(PickList("acme", candidates=big[:3])),
        "pick_huge": pick_list(PickList(NASTY * 40, candidates=big)),
        "pick_none": pick_list(PickList(NASTY * 40, closest=[NASTY * 10] * 50)),
        "refusal": refusal(NASTY),
        "help": help_message(),
        "list": account_list("Your accounts", big[:4], "Nothing here", 10),
        "list_huge": account_list(NASTY * 20, big, NASTY * 100, 500),
        "list_empty": account_list(
            "At-risk accounts", [], "None of your accounts are at risk.", 10
        ),
        "alert_open": alert_card(alert(), NOW),
        "alert_huge": alert_card(long_alert, NOW),
        "alert_ack": alert_card(
            alert(
                status="acknowledged",
                acknowledged_by="U0DANA",
                acknowledged_at=datetime(2026, 11, 25, 9, 30),
            ),
            NOW,
        ),
        "csm": csm_digest(CsmDigest("Priscilla Tan", AS_OF, 120, big[:12], big[12:15], 4)),
        "csm_huge": csm_digest(
            CsmDigest(NASTY * 20, AS_OF, 500, big, big, 300,
                      held_back=[(NASTY * 9, NASTY * 4, NASTY * 30)] * 40),
            limit=500, expansion_limit=500,
        ),
        "csm_empty": csm_digest(CsmDigest("Priscilla Tan", AS_OF, 40, [], [], 0)),
        "manager": manager_digest(manager(big[:5], big[5:10])),
        "manager_huge": manager_digest(manager(big, big), limit=500),
        "manager_retention": manager_digest(replace(manager(big, big), retention=RETENTION),
                                            limit=500),
    }


PAYLOADS = all_payloads()


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_every_message_is_within_slacks_limits(name: str) -> None:
    payload = PAYLOADS[name]
    assert validate_message(payload) == []
    assert payload["text"].strip()


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_user_text_is_escaped_everywhere(name: str) -> None:
    assert_escaped(PAYLOADS[name])


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_fallback_text_is_plain_words(name: str) -> None:
    text = PAYLOADS[name]["text"]
    assert "\n|" not in text and "|---" not in text  # no markdown tables
    assert "*" not in text  # no bold markup in notifications


@pytest.mark.parametrize("limit", [10, 40, 96, 500])
def test_home_view_of_a_huge_portfolio(limit: int) -> None:
    big = huge_portfolio()
    view = home_view(HomeView("Priscilla Tan", "csm", AS_OF, big, 37), limit=limit)
    assert validate_home(view) == []
    assert len(view["blocks"]) <= 100
    assert_escaped(view)
    shown = len(by_action(view, "health_pick"))
    assert shown == min(limit, 95)
    more = [t for _, t in texts(view) if t.startswith("…and ")]
    assert more == [f"…and {500 - shown} more — use `/health NAME` for any account"]


def test_home_view_rows_and_empty_states() -> None:
    view = home_view(HomeView("Priscilla Tan", "csm", AS_OF, [line(1), line(2)], 3))
    body = all_mrkdwn(view)
    assert "Evergreen Associates 1" in body and ":red_circle: At risk" in body
    assert (
        "*49.2* (-9.5)" in body and "$10k ARR" in body and "renews 2026-12-08 (in 13 days)" in body
    )
    assert "last activity 2026-11-20" in body and "1 open alert" in body
    assert [e["value"] for e in by_action(view, "health_pick")] == ["1", "2"]
    assert not any(t.startswith("…and") for _, t in texts(view))
    unscored = home_view(HomeView("Priscilla Tan", "csm", None, [], 0))
    assert "not scored" in all_mrkdwn(unscored) and validate_home(unscored) == []
    empty = home_view(HomeView("Priscilla Tan", "csm", AS_OF, [], 0))
    assert "No accounts" in all_mrkdwn(empty) and validate_home(empty) == []


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
    assert payload["blocks"][0]["text"]["text"] == "Evergreen Associates 1 — health 49.2"
    assert ":red_circle: At risk" in body
    assert "$10k" in body and "2026-12-08 (in 13 days)" in body and "Priscilla Tan" in body
    assert re.search(r"`[▁▂▃▄▅▆▇█]{4}` 61\.0 → 49\.2 \(-11\.8\)", body)
    assert "Account owner silent: Leo Haddad" in body
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
    capped = PAYLOADS["list_huge"]
    shown = len(by_action(capped, "health_pick"))
    assert shown < 500 and f"…and {500 - shown} more" in all_mrkdwn(capped)
    empty = PAYLOADS["list_empty"]
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
    assert [e["action_id"] for e in elements(payload)] == ["alert_reason", "open_crm"]
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
    assert [e["action_id"] for e in elements(payload)] == ["alert_reason", "open_crm"]
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


# ---------------------------------------------------------------------------------------
# Digests


def test_csm_digest_rows_carry_score_change_tier_arr_renewal_and_why() -> None:
    rows = [
        line(1),
        line(
            2,
            change=None,
            why="at risk, renews in 20 days",
            days_to_renewal=20,
            renewal_date=date(2026, 12, 15),
        ),
    ]
    payload = csm_digest(
        CsmDigest(
            "Priscilla Tan",
            AS_OF,
            120,
            rows,
            [line(9, health_tier="healthy", score=91.0, change=2.0, expansion_score=88.0, why="")],
            4,
        )
    )
    body = all_mrkdwn(payload)
    assert (
        payload["blocks"][0]["text"]["text"] == "Good morning, Priscilla: 2 accounts need attention"
    )
    assert "*49.2* (-9.5)" in body and "(new)" in body
    assert ":red_circle: At risk" in body and "$10k ARR" in body
    assert "renews 2026-12-15 (in 20 days)" in body
    assert "_Why:_ Account owner silent; score -9.5 since last run" in body
    assert "*Expansion candidates* (1)" in body and "expansion 88" in body
    assert [e["value"] for e in by_action(payload, "health_pick")] == ["1", "2", "9"]
    assert "2 accounts need attention" in payload["text"] and "4 open alerts" in payload["text"]


def test_csm_digest_truncates_with_counts() -> None:
    big = huge_portfolio()
    payload = csm_digest(CsmDigest("Priscilla Tan", AS_OF, 500, big, big[:40], 12), limit=10)
    body = all_mrkdwn(payload)
    assert "…and 490 more — open Pulse's Home tab" in body
    assert "…and 35 more — open Pulse's Home tab" in body
    assert len(by_action(payload, "health_pick")) == 15
    huge = PAYLOADS["csm_huge"]
    assert len(huge["blocks"]) <= 50
    shown = len(by_action(huge, "health_pick"))
    att_more = re.findall(r"…and (\d+) more", all_mrkdwn(huge))
    assert sum(int(n) for n in att_more) + shown == 1000


def test_csm_digest_lists_what_the_daily_playbook_cap_held_back() -> None:
    held = [("Acme", "into risk", "moved from Fine to At risk")] * 11
    payload = csm_digest(CsmDigest("Priscilla Tan", AS_OF, 40, [], [], 0, held_back=held))
    text = str(payload["blocks"])
    assert "Held back by your daily playbook limit* (11)" in text
    assert text.count("moved from Fine to At risk") == 8 and "and 3 more" in text
    assert validate_message(payload) == []


def test_csm_digest_with_nothing_to_do() -> None:
    body = all_mrkdwn(PAYLOADS["csm_empty"])
    assert "Nothing needs your attention today." in body and "None today." in body
    assert "nothing needs attention today" in PAYLOADS["csm_empty"]["text"]


def test_manager_digest_figures() -> None:
    payload = manager_digest(
        manager(
            [line(1, owner_name="Erin O'Neill")],
            [line(2, score=87.6, change=52.3, health_tier="healthy")],
        )
    )
    body = all_mrkdwn(payload)
    assert payload["blocks"][0]["text"]["text"] == "Portfolio health — Enterprise CS"
    assert "*475* accounts scored on 2026-11-25 (vs 2026-11-18)" in body
    assert "Average health *76.4*, -0.3 since last run" in body
    assert "At-risk ARR *$1.79M* of $8.49M (*$392k* renewing within 90 days)" in body
    assert "251 accounts (+11) · $4.49M" in body and "156 accounts (-4)" in body
    assert "*Biggest drops*" in body and "58.7 → 49.2 (*-9.5*)" in body and "Erin O'Neill" in body
    assert "*Biggest rises*" in body and "35.3 → 87.6 (*+52.3*)" in body
    assert "*Renewals in the next 90 days by risk*" in body
    assert "High risk: 25 accounts, $392k" in body and "Low risk: 100 accounts, $1.40M" in body
    assert "At-risk ARR $1.79M of $8.49M" in payload["text"]


def test_manager_digest_retention_says_where_each_figure_came_from() -> None:
    payload = manager_digest(replace(manager([], []), retention=RETENTION))
    body = all_mrkdwn(payload)
    assert "*Retention, 12 months to 2026-11-25*" in body
    assert "GRR *91.1%*: $4.10M kept of $4.50M starting ARR (412 accounts)" in body
    assert "NRR *104.0%*: $4.50M → $4.68M for the same accounts" in body
    assert "Logo churn *5.1%*: 21 of 412 accounts churned" in body
    assert ("Expansion forecast *$120k*: 14 open expansion opportunities ($310k) × stage "
            "probability") in body
    assert ("Retention over 12 months: GRR 91.1%, NRR 104.0% ($4.50M → $4.68M), logo churn "
            "5.1%; expansion forecast $120k.") in payload["text"]
    assert validate_message(payload) == []
    nothing = replace(RETENTION, accounts_start=0, arr_start=0.0, kept_arr=0.0,
                      arr_end_cohort=0.0, churned_accounts=0, grr=None, nrr=None,
                      logo_churn_rate=None, expansion_opportunities=1,
                      expansion_forecast=400.0, expansion_amount=1000.0)
    body = all_mrkdwn(manager_digest(replace(manager([], []), retention=nothing)))
    assert "GRR and NRR n/a: no account had ARR when the period began (2025-11-26)" in body
    assert "1 open expansion opportunity ($1k)" in body
    assert "Retention" not in all_mrkdwn(manager_digest(manager([], [])))  # no ledger yet


def test_manager_digest_cuts_movers() -> None:
    payload = manager_digest(manager(huge_portfolio(30), []), limit=5)
    body = all_mrkdwn(payload)
    assert body.count("\n• ") >= 5 and "…and 25 more" in body
    assert validate_message(payload) == []


def test_manager_digest_first_run_has_no_change() -> None:
    d = replace(
        manager([], []),
        prev_as_of=None,
        average_change=None,
        distribution=[TierRow("healthy", 3, None, 10.0)],
        renewals=[],
    )
    payload = manager_digest(d)
    body = all_mrkdwn(payload)
    assert "since last run" not in body and "(vs" not in body
    assert "No renewals in the window." in body
    assert validate_message(payload) == []


def test_not_scored_message_is_distinct_from_the_refusal() -> None:
    from digests.cards import REFUSAL_TEXT, not_scored
    from digests.limits import validate_message

    payload = not_scored()
    assert validate_message(payload) == []
    assert "no health score yet" in payload["text"]
    assert REFUSAL_TEXT not in payload["text"]
