"""An alert's view model carries where its account stands, read from its snapshots."""

from __future__ import annotations

import json

from sqlalchemy import select
from workspace import CFG, D2, NOW2, Workspace, workspace_fixtures

from digests.cards import alert_card
from digests.limits import validate_message
from pulse.services.alerts import alert_item, evaluate_alerts
from storage.models import Account, Alert, ScoreSnapshot

workspace_db, ws = workspace_fixtures()


def _first_alert(ws: Workspace) -> Alert:
    evaluate_alerts(ws.session, CFG, NOW2)
    alert = ws.session.scalars(select(Alert).order_by(Alert.id)).first()
    assert alert is not None
    return alert


def test_alert_item_has_score_tier_change_renewal_and_reasons_in_points(ws: Workspace) -> None:
    alert = _first_alert(ws)
    item = alert_item(ws.session, alert)
    snaps = ws.session.scalars(
        select(ScoreSnapshot)
        .where(ScoreSnapshot.account_id == alert.account_id)
        .order_by(ScoreSnapshot.as_of.desc())
    ).all()
    assert (item.score, item.tier) == (snaps[0].score, snaps[0].tier)
    assert (item.prev_score, item.prev_tier) == (snaps[1].score, snaps[1].tier)
    account = ws.session.get(Account, alert.account_id)
    assert account is not None and item.renewal_date == account.renewal_date
    if account.renewal_date is not None:
        assert item.days_to_renewal == (account.renewal_date - D2).days
    assert item.reasons, "an alerted account loses points somewhere"
    assert all(p.points < p.most for p in item.reasons)
    losses = [p.most - p.points for p in item.reasons]
    assert losses == sorted(losses, reverse=True)
    payload = alert_card(item, NOW2)
    assert validate_message(payload) == []
    assert "/100" in payload["text"] and "at_risk" not in json.dumps(payload)


def test_alert_item_has_freshness_and_peer_standing_of_the_snapshot(ws: Workspace) -> None:
    alert = _first_alert(ws)
    snap = ws.session.scalars(
        select(ScoreSnapshot)
        .where(ScoreSnapshot.account_id == alert.account_id)
        .order_by(ScoreSnapshot.as_of.desc())
    ).first()
    assert snap is not None
    components = [dict(c) for c in snap.components]
    for c in components:
        c["data_as_of"], c["stale"] = "2026-11-24T06:00", []
    seats = next(c for c in components if c["key"] == "seats")
    seats["data_as_of"], seats["stale"] = "2026-11-20T06:00", ["CRM data 5 days old"]
    seats["raw"] = {**seats["raw"], "peer_pct": 8.0, "peer_group": "Enterprise, 50-199 seats"}
    seats["has_data"] = True
    snap.components = components
    ws.session.flush()
    item = alert_item(ws.session, alert)
    assert item.data_as_of is not None and item.data_as_of.isoformat() == "2026-11-20T06:00:00"
    assert item.stale == ("CRM data 5 days old",)
    assert item.peer_note == f"{seats['label']}: bottom 8% of Enterprise, 50-199 seats peers"
