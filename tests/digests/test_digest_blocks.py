"""The CSM's morning DM and the manager's portfolio digest: figures, rows and cuts."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from digest_samples import (
    AS_OF,
    NASTY,
    RETENTION,
    all_mrkdwn,
    by_action,
    huge_portfolio,
    line,
    manager,
)

from digests.digest_blocks import csm_digest, manager_digest
from digests.limits import validate_message
from digests.views import CsmDigest, TierRow


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
    assert "_Why:_ Customer admin silent; score -9.5 since last run" in body
    assert "*Expansion candidates* (1)" in body and "expansion score 88/100" in body
    assert [e["value"] for e in by_action(payload, "health_pick")] == ["1", "2", "9"]
    assert "2 accounts need attention" in payload["text"] and "4 open alerts" in payload["text"]


def test_csm_digest_truncates_with_counts() -> None:
    big = huge_portfolio()
    payload = csm_digest(CsmDigest("Priscilla Tan", AS_OF, 500, big, big[:40], 12), limit=10)
    body = all_mrkdwn(payload)
    assert "…and 490 more — open Pulse's Home tab" in body
    assert "…and 35 more — open Pulse's Home tab" in body
    assert len(by_action(payload, "health_pick")) == 15
    huge = csm_digest(
        CsmDigest(NASTY * 20, AS_OF, 500, big, big, 300,
                  held_back=[(NASTY * 9, NASTY * 4, NASTY * 30)] * 40),
        limit=500, expansion_limit=500,
    )
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
    payload = csm_digest(CsmDigest("Priscilla Tan", AS_OF, 40, [], [], 0))
    body = all_mrkdwn(payload)
    assert "Nothing needs your attention today." in body and "None today." in body
    assert "nothing needs attention today" in payload["text"]


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
    assert "Average health *76.4/100*, -0.3 since last run" in body
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


def test_digests_say_when_scores_rest_on_stale_data() -> None:
    stale = ["support data 3 days old (zendesk)"]
    note = ":hourglass: Stale: support data 3 days old (zendesk) — scores rest partly on old data."
    csm = csm_digest(CsmDigest("Priscilla Tan", AS_OF, 40, [], [], 0, stale=stale))
    assert csm["blocks"][2] == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": note}]}
    portfolio = manager_digest(replace(manager([], []), stale=stale))
    assert portfolio["blocks"][1]["elements"][0]["text"] == note
    assert " Stale: support data 3 days old (zendesk)." in portfolio["text"]


def test_manager_digest_lists_csm_entries_disagreements_first() -> None:
    entries = [("Acme: CSM green", None), ("Birch: CSM red", "the data scores it 85")]
    payload = manager_digest(replace(manager([], []), csm_entries=entries))
    body = all_mrkdwn(payload)
    assert (
        "*CSM entries in force (2)* · :warning: 1 disagrees with the data\n"
        "• Birch: CSM red\n    :warning: _the data scores it 85_\n"
        "• Acme: CSM green"
    ) in body
    assert payload["text"].endswith(" 1 CSM entry disagree with the data.")
    quiet = manager_digest(replace(manager([], []), csm_entries=entries[:1]))
    assert "disagree" not in all_mrkdwn(quiet) and "disagree" not in quiet["text"]


def test_manager_digest_with_more_tiers_than_fields_lists_them_in_sections() -> None:
    tiers = [TierRow(f"tier{i}", i, None, 1e3) for i in range(11)]
    payload = manager_digest(replace(manager([], []), distribution=tiers))
    assert not any("fields" in block for block in payload["blocks"])
    body = all_mrkdwn(payload)
    assert "*Health distribution*\n*:white_circle: tier0*\n0 accounts · $1k" in body
    assert validate_message(payload) == []


def test_manager_digest_says_how_many_alerts_went_to_the_catch_all() -> None:
    d = replace(manager([], []), catch_all_alerts=3, catch_all_channel="C0ADMIN",
                unreachable=["Uma <Unmatched>", *(f"P{i}" for i in range(6))])
    payload = manager_digest(d)
    body = all_mrkdwn(payload)
    assert "*3 open alert(s)* went to <#C0ADMIN>: their account's owner has no Slack user" in body
    assert "Uma &lt;Unmatched&gt;" in body and "and 2 more" in body
    assert "`pulse people` says why" in body
    assert "3 open alerts went to the catch-all channel." in payload["text"]
    assert validate_message(payload) == []
    quiet = all_mrkdwn(manager_digest(replace(manager([], []), unreachable=["Uma"])))
    assert "Not reachable in Slack: Uma." in quiet
    assert "catch-all" not in all_mrkdwn(manager_digest(manager([], [])))
