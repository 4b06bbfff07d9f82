"""Digests and the App Home contain the expected accounts, in the expected order."""

from __future__ import annotations

from test_services_workspace import ACCOUNTS, CFG, D1, D2, NOW1, NOW2, Workspace, workspace_fixtures

from digests.views import HomeView
from pulse.services.access import resolve_viewer
from pulse.services.alerts import evaluate_alerts
from pulse.services.digest_data import csm_digest, digest_recipients, home_view, manager_digest

workspace_db, ws = workspace_fixtures()


def test_csm_digest_lists_their_accounts_needing_attention(ws: Workspace) -> None:
    session, ids = ws.session, ws.ids
    evaluate_alerts(session, CFG, NOW2)
    olga = csm_digest(session, CFG, ids["o1"], NOW2)
    assert (olga.csm_name, olga.as_of, olga.accounts_total) == ("Olga CSM", D2, 2)
    assert [a.name for a in olga.attention] == ["Initech"]
    assert olga.attention[0].open_alerts == 1 and olga.open_alerts == 1
    assert [a.name for a in olga.expansion] == ["Acme Corp"]
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
