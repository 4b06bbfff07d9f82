"""A small hand-made workspace for the service tests, and checks that it scores as planned.

Two teams: Enterprise (manager Maya; CSMs Olga and Rita, who has no Slack id) and SMB
(manager Nate; CSM Pete), plus Quinn, an account executive with one account. Other
``test_services_*`` modules import :func:`load_people`, :func:`load_workspace`,
:func:`put_snapshot` and the constants from here.

Read-mostly tests share one scored workspace per module and backend
(:func:`workspace_fixtures`): building and scoring it is most of a test's time, and each
test runs inside a transaction that is rolled back, so tests cannot see each other's
changes. Services never commit, which is what makes this safe. A module using these
fixtures must not also use ``db_url`` (its PostgreSQL truncation would wipe the shared
workspace mid-module).
"""

from __future__ import annotations

from workspace import ACCOUNTS, D1, D2, Workspace, workspace_fixtures

from pulse.services.portfolio import load_portfolio

workspace_db, ws = workspace_fixtures()


def test_workspace_scores_as_planned(ws: Workspace) -> None:
    session, ids = ws.session, ws.ids
    d1 = load_portfolio(session, D1).set_index("account_id")
    d2 = load_portfolio(session, D2).set_index("account_id")
    assert len(d2) == len(ACCOUNTS)
    assert [f["code"] for f in d1.loc[ids["a1"], "flags"]] == ["invoice_overdue"]
    assert d2.loc[ids["a1"], "flags"] == []
    assert d2.loc[ids["a4"], "health_tier"] == "at_risk"
    assert d2.loc[ids["a3"], "health_tier"] == "healthy"
