"""Digests and the App Home contain the expected accounts, in the expected order."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from workspace import ACCOUNTS, CFG, D1, D2, NOW1, NOW2, Workspace, workspace_fixtures

from digests.views import HomeView
from pulse.kernel.records import Batch
from pulse.services.access import resolve_viewer
from pulse.services.alerts import evaluate_alerts
from pulse.services.digest_data import csm_digest, digest_recipients, home_view, manager_digest
from storage.arr_ledger import record_arr_ledger
from storage.loader import load_batch
from storage.models import Account, ArrChange

workspace_db, ws = workspace_fixtures()


def test_csm_digest_lists_their_accounts_needing_attention(ws: Workspace) -> None:
    session, ids = ws.session, ws.ids
    evaluate_alerts(session, CFG, NOW2)
    olga = csm_digest(session, CFG, ids["o1"], NOW2)
    assert (olga.csm_name, olga.as_of, olga.accounts_total) == ("Olga CSM", D2, 2)
    assert [a.name for a in olga.attention] == ["Initech"]
    assert olga.attention[0].open_alerts == 1 and olga.open_alerts == 1
    assert [a.name for a in olga.expansion] == ["Acme Corp"]
    assert olga.expansion[0].why == "8 of 8 seats active (100%): at or over the licence cap"
    # On D1 Acme Corp's overdue invoice puts it on the list too, after the at-risk Initech.
    earlier = csm_digest(session, CFG, ids["o1"], NOW1)
    assert earlier.as_of == D1
    assert [a.name for a in earlier.attention] == ["Initech", "Acme Corp"]
    assert "Invoice overdue" in earlier.attention[1].why
    pete = csm_digest(session, CFG, ids["o2"], NOW2)
    assert (pete.accounts_total, pete.attention, pete.open_alerts) == (2, [], 0)


def test_manager_digest_covers_the_team_or_everything(ws: Workspace) -> None:
    session, ids = ws.session, ws.ids
    team = manager_digest(session, CFG, ids["m1"], NOW2)
    assert (team.scope, team.as_of, team.prev_as_of, team.accounts_total) == (
        "Enterprise",
        D2,
        D1,
        4,
    )
    assert {t.tier: t.count for t in team.distribution} == {"healthy": 3, "fine": 0, "at_risk": 1}
    assert team.at_risk_arr == team.at_risk_arr_renewing == 12_000.0
    assert team.total_arr == 50_000 + 12_000 + 30_000 + 9_000
    assert team.drops[0].name == "Initech" and team.drops[0].change is not None
    assert {r.name for r in team.rises} == {"Acme Corp"}
    assert {r.risk: r.accounts for r in team.renewals} == {"high": 1, "medium": 0, "low": 1}
    everyone = manager_digest(session, CFG, None, NOW2)
    assert (everyone.scope, everyone.accounts_total) == ("All accounts", len(ACCOUNTS))
    smb = manager_digest(session, CFG, ids["m2"], NOW2)
    assert (smb.scope, smb.accounts_total, smb.at_risk_arr) == ("SMB", 2, 0.0)


def test_home_view_sorts_the_scope_by_need(ws: Workspace) -> None:
    session = ws.session
    evaluate_alerts(session, CFG, NOW1)
    maya = resolve_viewer(session, CFG, "UMAYA", None)
    home = home_view(session, CFG, maya, NOW1)
    assert (home.viewer_name, home.role, home.as_of, home.open_alerts) == (
        "Maya Manager",
        "manager",
        D1,
        2,
    )
    names = [a.name for a in home.accounts]
    assert names[:2] == ["Initech", "Acme Corp"]  # needing attention, most urgent first
    assert set(names) == {"Acme Corp", "Initech", "Hooli", "Vandelay"}
    assert home.accounts[2].why == ""
    nobody = home_view(session, CFG, resolve_viewer(session, CFG, "UNOBODY", None), NOW1)
    assert nobody == HomeView("UNOBODY", "none", None, [], 0)


def test_digest_recipients_are_owners_with_slack_ids_and_accounts_or_a_team(ws: Workspace) -> None:
    session, ids = ws.session, ws.ids
    assert digest_recipients(session) == [
        (ids["m1"], "UMAYA", True),
        (ids["o1"], "UOLGA", False),
        (ids["m2"], "UNATE", True),
        (ids["o2"], "UPETE", False),
        (ids["o4"], "UQUINN", False),
    ]  # Rita has no Slack id
    quinns = session.scalars(select(Account).where(Account.owner_id == ids["o4"])).all()
    for account in quinns:  # all deleted in the CRM: nothing left to tell Quinn about
        account.deleted_at = datetime(2026, 3, 1)
    session.flush()
    assert ids["o4"] not in {owner for owner, _, _ in digest_recipients(session)}


def test_manager_digest_retention_over_twelve_months(ws: Workspace) -> None:
    """The ledger caught up on D1 (every account from its contract start, 400 days
    before D1), then Acme Corp expanded 50k -> 60k and Initech (12k) churned."""
    session, ids = ws.session, ws.ids
    assert manager_digest(session, CFG, ids["m1"], NOW2).retention is None  # no ledger yet
    assert record_arr_ledger(session, D1).added == len(ACCOUNTS)
    session.add_all(
        [
            ArrChange(
                account_id=ids["a1"],
                effective_on=D1 - timedelta(days=30),
                arr=60_000.0,
                reason="expansion",
                source="test",
            ),
            ArrChange(
                account_id=ids["a4"],
                effective_on=D1 - timedelta(days=10),
                arr=0.0,
                reason="churn",
                source="test",
            ),
        ]
    )
    load_batch(
        session,
        "t",
        Batch(
            "opportunities",
            [
                {
                    "external_id": "x1",
                    "account_external_id": "a1",
                    "kind": "expansion",
                    "stage": "Proposal",
                    "amount": 10_000.0,
                },
                {
                    "external_id": "x2",
                    "account_external_id": "a3",
                    "kind": "expansion",
                    "stage": "Negotiation",
                    "amount": 20_000.0,
                },  # SMB team's
            ],
        ),
    )
    session.flush()
    r = manager_digest(session, CFG, ids["m1"], NOW2).retention
    assert r is not None
    # Enterprise: Acme 50k, Initech 12k, Hooli 30k, Vandelay 9k on 2025-03-08
    assert (r.start, r.end, r.months) == (date(2025, 3, 9), D2, 12)
    assert (r.accounts_start, r.arr_start) == (4, 101_000)
    assert r.kept_arr == 50_000 + 0 + 30_000 + 9_000
    assert r.arr_end_cohort == 60_000 + 0 + 30_000 + 9_000
    assert r.grr == pytest.approx(89 / 101) and r.nrr == pytest.approx(99 / 101)
    assert (r.churned_accounts, r.logo_churn_rate) == (1, 0.25)
    assert (r.expansion_opportunities, r.expansion_amount) == (1, 10_000)
    assert r.expansion_forecast == pytest.approx(4_000)  # 10k x Proposal 0.4
    smb = manager_digest(session, CFG, ids["m2"], NOW2).retention
    assert smb is not None and (smb.grr, smb.nrr) == (1.0, 1.0)
    assert smb.expansion_forecast == pytest.approx(14_000)  # 20k x Negotiation 0.7
    everyone = manager_digest(session, CFG, None, NOW2).retention
    assert everyone is not None and everyone.accounts_start == len(ACCOUNTS)


def test_digests_show_csm_entries_disagreements_and_stale_sources(ws: Workspace) -> None:
    """The manager sees CSM entries in force, a sharp disagreement with the data pointed
    out (Olga says green, the data puts Initech at risk); both digests say which source
    is stale; the rendered messages pass Slack's limits."""
    from digests.digest_blocks import csm_digest as csm_blocks
    from digests.digest_blocks import manager_digest as manager_blocks
    from digests.limits import validate_message
    from pulse.kernel.config import parse_config
    from pulse.services.overrides import OverrideRequest, apply_request
    from storage.models import SyncState

    session, ids = ws.session, ws.ids
    cfg = parse_config({"sources": {"files": {"path": "."}, "zendesk": {}}})
    olga = resolve_viewer(session, cfg, "UOLGA", None)
    apply_request(
        session,
        cfg,
        olga,
        OverrideRequest("initech", "sentiment", sentiment="green", reason="exec sponsor happy"),
        NOW2,
    )
    session.add_all(
        [
            SyncState(source="files", last_success_at=NOW2 - timedelta(hours=3), last_status="ok"),
            SyncState(source="zendesk", last_success_at=NOW2 - timedelta(days=4), last_status="ok"),
        ]
    )
    session.flush()
    team = manager_digest(session, cfg, ids["m1"], NOW2)
    ((text, disagreement),) = team.csm_entries
    assert text.startswith("*Initech*: CSM: :large_green_circle: green, exec sponsor happy")
    assert disagreement is not None and "the data says at risk" in disagreement
    assert team.stale == ["support data 4 days old (zendesk)"]
    payload = manager_blocks(team)
    assert validate_message(payload) == []
    body = str(payload["blocks"])
    assert "CSM entries in force (1)" in body and "disagrees with the data" in body
    assert ":hourglass: Stale: support data 4 days old (zendesk)" in body
    assert "1 CSM entry disagree" in payload["text"] or "CSM entry" in payload["text"]
    mine = csm_digest(session, cfg, ids["o1"], NOW2)
    assert mine.stale == ["support data 4 days old (zendesk)"]
    assert validate_message(csm_blocks(mine)) == []
    assert ":hourglass: Stale" in str(csm_blocks(mine)["blocks"])


def test_home_view_says_where_each_account_stands_among_peers(ws: Workspace) -> None:
    """All seven accounts made one segment (8 seats each: one peer group of 7) and scored
    again: each App Home row names its weakest usage signal among those peers, as stored."""
    from sqlalchemy import update

    from digests.home import home_view as home_blocks
    from digests.limits import validate_home
    from scoring.engine import run_scoring
    from scoring.peers import peer_phrase
    from storage.models import Account, ScoreSnapshot

    session = ws.session
    session.execute(update(Account).values(segment="SMB", licensed_seats=8))
    run_scoring(session, CFG, D2)
    maya = resolve_viewer(session, CFG, "UMAYA", None)
    home = home_view(session, CFG, maya, NOW2)
    noted = 0
    for line in home.accounts:
        snap = (
            session.query(ScoreSnapshot)
            .filter(ScoreSnapshot.account_id == line.account_id, ScoreSnapshot.as_of == D2)
            .one()
        )
        ranked = [
            (c["raw"]["peer_pct"], c)
            for c in snap.components
            if c["key"] in ("usage", "breadth", "seats", "trend")
            and c["raw"].get("peer_pct") is not None
        ]
        pct, comp = min(ranked, key=lambda r: r[0])
        assert line.peer_note == f"{comp['label']}: {peer_phrase(pct, comp['raw']['peer_group'])}"
        assert "of SMB, 1-9 seats peers" in line.peer_note
        noted += 1
    assert noted == len(home.accounts) == 4
    view = home_blocks(home)
    assert validate_home(view) == [] and "_Peers:_" in str(view["blocks"])
