"""`/health` and the lists: scope-safe lookup, the card, attention/risk/expansion lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session
from workspace import CFG, D1, D2, NOW1, NOW2, Workspace, workspace_fixtures

from digests.views import HealthCard, PickList
from pulse.kernel.config import parse_config
from pulse.kernel.records import Batch
from pulse.services.access import Viewer, resolve_viewer
from pulse.services.alerts import evaluate_alerts
from pulse.services.health import (
    Refused,
    expansion_list,
    health_card,
    health_lookup,
    my_attention,
    risk_list,
)
from storage.loader import load_batch
from storage.models import Account

ACCESS = parse_config({"access": {"admins": ["UBOSS"], "read_only": ["UREADER"]}})
workspace_db, ws = workspace_fixtures()


def _viewer(session: Session, slack_id: str) -> Viewer:
    return resolve_viewer(session, ACCESS, slack_id, None)


def test_another_teams_account_is_indistinguishable_from_a_missing_one(ws: Workspace) -> None:
    session, ids = ws.session, ws.ids
    olga = _viewer(session, "UOLGA")
    # Globex exists (Pete's, SMB team) ...
    hidden = health_lookup(session, CFG, olga, "Globex", NOW2)
    by_domain = health_lookup(session, CFG, olga, "globex.com", NOW2)
    # ... and the answer is exactly the one given once no account of that name exists.
    session.execute(
        update(Account).where(Account.id == ids["a3"]).values(name="Zzyzx Ltd", domain="zzyzx.io")
    )
    missing = health_lookup(session, CFG, olga, "Globex", NOW2)
    assert hidden == missing == PickList(query="Globex", candidates=[], closest=[])
    assert by_domain == PickList(query="globex.com", candidates=[], closest=[])
    # A near miss suggests only visible names.
    near = health_lookup(session, CFG, olga, "Acme Lab", NOW2)
    assert isinstance(near, PickList) and near.candidates == []
    assert "Acme Labs" not in near.closest
    # A substring matching a visible and an invisible account is a unique visible match.
    card = health_lookup(session, CFG, olga, "acme", NOW2)
    assert isinstance(card, HealthCard) and card.account.name == "Acme Corp"
    # By id (a button value): invisible and unknown ids get the same refusal.
    assert health_card(session, CFG, olga, ids["a3"], NOW2) == Refused(str(ids["a3"]))
    assert health_card(session, CFG, olga, 999_999, NOW2) == Refused("999999")
    # No access at all: refused whatever the query.
    nobody = _viewer(session, "UNOBODY")
    assert health_lookup(session, CFG, nobody, "acme", NOW2) == Refused("acme")


def test_managers_see_their_team_and_admins_everything(ws: Workspace) -> None:
    session = ws.session
    maya = _viewer(session, "UMAYA")
    card = health_lookup(session, CFG, maya, "vandelay", NOW2)  # Rita reports to Maya
    assert isinstance(card, HealthCard) and card.account.owner_name == "Rita CSM"
    acme = health_lookup(session, CFG, maya, "acme", NOW2)
    assert isinstance(acme, HealthCard) and acme.account.name == "Acme Corp"
    nate = _viewer(session, "UNATE")
    acme = health_lookup(session, CFG, nate, "acme", NOW2)
    assert isinstance(acme, HealthCard) and acme.account.name == "Acme Labs"
    admin_view = health_lookup(session, CFG, _viewer(session, "UBOSS"), "acme", NOW2)
    assert isinstance(admin_view, PickList)
    assert [c.name for c in admin_view.candidates] == ["Acme Corp", "Acme Labs"]
    assert all(c.score > 0 for c in admin_view.candidates)


def test_card_has_trend_change_flags_alerts_and_crm_link(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, ids = ws.session, ws.ids
    evaluate_alerts(session, CFG, NOW2)
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", "https://acme.my.salesforce.com/")
    card = health_card(session, CFG, _viewer(session, "UOLGA"), ids["a4"], NOW2)
    assert isinstance(card, HealthCard)
    assert card.as_of == D2 and card.account.health_tier == "at_risk"
    assert [d for d, _ in card.trend] == [D1, D2]
    assert card.account.change == round(card.trend[1][1] - card.trend[0][1], 1)
    assert card.change_lines[0].startswith(f"{card.trend[0][1]:.1f} -> {card.trend[1][1]:.1f}")
    assert [f["code"] for f in card.flags] == ["main_contact_silent"]
    assert [a.rule for a in card.alerts] == ["main_contact_silent"]
    assert card.account.open_alerts == 1
    assert card.account.last_activity == D2 - timedelta(days=25)  # Initech went quiet
    assert card.account.crm_url == ("https://acme.my.salesforce.com/lightning/r/Account/001A4/view")
    assert card.can_act is True
    assert card.reasons and card.components

    monkeypatch.delenv("SALESFORCE_INSTANCE_URL")
    monkeypatch.setenv("HUBSPOT_PORTAL_ID", "12345")
    reader = health_card(session, CFG, _viewer(session, "UREADER"), ids["a4"], NOW2)
    assert isinstance(reader, HealthCard) and reader.can_act is False
    assert reader.account.crm_url == "https://app.hubspot.com/contacts/12345/company/94"
    monkeypatch.delenv("HUBSPOT_PORTAL_ID")
    plain = health_card(session, CFG, _viewer(session, "UOLGA"), ids["a4"], NOW2)
    assert isinstance(plain, HealthCard) and plain.account.crm_url is None
    # As of D1 the card shows D1's state: no change lines, one trend point.
    earlier = health_card(session, CFG, _viewer(session, "UOLGA"), ids["a4"], NOW1)
    assert isinstance(earlier, HealthCard)
    assert earlier.as_of == D1 and earlier.change_lines == [] and len(earlier.trend) == 1


def test_a_visible_account_not_scored_yet_is_refused_as_not_scored(ws: Workspace) -> None:
    session = ws.session
    load_batch(
        session,
        "t",
        Batch("accounts", [{"external_id": "a9", "name": "Newco", "owner_external_id": "o1"}]),
    )
    answer = health_lookup(session, CFG, _viewer(session, "UOLGA"), "newco", NOW2)
    assert answer == Refused("newco", reason="not_scored")
    # ... while for someone who cannot see it, it does not exist.
    assert health_lookup(session, CFG, _viewer(session, "UPETE"), "newco", NOW2) == PickList(
        "newco"
    )


def test_lists_are_limited_to_the_scope(ws: Workspace) -> None:
    session = ws.session
    olga, maya, pete = (_viewer(session, s) for s in ("UOLGA", "UMAYA", "UPETE"))
    attention = my_attention(session, CFG, olga, NOW2)
    assert [a.name for a in attention] == ["Initech"]
    assert "Main contact silent" in attention[0].why
    assert "at risk, renews in 23 days" in attention[0].why
    assert [a.name for a in my_attention(session, CFG, pete, NOW2)] == []
    risks = risk_list(session, CFG, maya, NOW2)
    assert [(a.name, a.why) for a in risks] == [("Initech", "at risk, renews in 23 days")]
    assert risk_list(session, CFG, pete, NOW2) == []
    upsell = expansion_list(session, CFG, maya, NOW2)
    assert {a.name for a in upsell} == {"Acme Corp", "Hooli", "Vandelay"}
    assert all(a.expansion_score >= 60 for a in upsell)
    for line in upsell:  # the signals behind the score, never the score again
        assert line.why and "expansion score" not in line.why.lower(), line.why
        assert any(w in line.why for w in ("seats active", "activity up", "strong ")), line.why
    assert {a.name for a in expansion_list(session, CFG, pete, NOW2)} == {"Globex"}
