"""What became of the alerts, per CSM: the weekly section of the manager digest."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from workspace import CFG, D1, D2, NOW1, NOW2, flag, load_people, put_snapshot

from digests.digest_blocks import manager_digest as render_manager
from digests.limits import validate_message
from pulse.kernel.config import parse_config
from pulse.services.access import resolve_viewer
from pulse.services.alert_outcomes import alert_outcomes, outcomes_due
from pulse.services.alerts import evaluate_alerts
from pulse.services.alerts.actions import acknowledge, snooze
from pulse.services.digest_data import manager_digest
from storage.models import Account, Alert

MONDAY = datetime(2026, 3, 9, 7, 0)  # D1 is a Sunday; the digest of the Monday after D2


def _alerted(session: Session) -> dict[str, int]:
    """Olga's Acme and Initech and Pete's Globex alerted on D1; Olga acknowledges Acme
    and snoozes Initech; Acme then churns, Globex's condition clears (resolved)."""
    ids = load_people(session)
    for name in ("a1", "a4", "a3"):
        put_snapshot(session, ids[name], D1, flags=[flag("invoice_overdue", detail="50 days")])
    raised = evaluate_alerts(session, CFG, NOW1).raised
    assert len(raised) == 3
    olga = resolve_viewer(session, CFG, "UOLGA", None)
    by_account = {a.account_id: a.id for a in session.scalars(select(Alert))}
    acknowledge(session, by_account[ids["a1"]], olga, NOW1 + timedelta(hours=1))
    snooze(session, by_account[ids["a4"]], olga, "7d", NOW1 + timedelta(hours=2))
    acme = session.get(Account, ids["a1"])
    assert acme is not None
    acme.lifecycle, acme.churned_on = "churned", D1 + timedelta(days=3)
    for name in ("a1", "a4"):
        put_snapshot(session, ids[name], D2, flags=[flag("invoice_overdue", detail="57 days")])
    put_snapshot(session, ids["a3"], D2)  # Globex paid: its alert resolves
    evaluate_alerts(session, CFG, NOW2)
    session.flush()
    return ids


def test_each_csm_gets_counts_and_what_became_of_the_accounts(session: Session) -> None:
    _alerted(session)
    rows = {r.owner: r for r in alert_outcomes(session, None, MONDAY)}
    olga, pete = rows["Olga CSM"], rows["Pete CSM"]
    assert (olga.raised, olga.acknowledged, olga.snoozed, olga.reopened) == (2, 1, 1, 0)
    assert (olga.churned, olga.recovered) == (1, 0)  # Acme churned; Initech still open
    assert (pete.raised, pete.acknowledged, pete.churned, pete.recovered) == (1, 0, 0, 1)
    later = MONDAY + timedelta(days=200)  # outside the window: nothing counted
    assert alert_outcomes(session, None, later) == []


def test_the_monday_manager_digest_carries_the_section(session: Session) -> None:
    ids = _alerted(session)
    maya = ids["m1"]
    monday = manager_digest(session, CFG, maya, MONDAY)
    assert monday.outcomes is not None
    assert [r.owner for r in monday.outcomes] == ["Olga CSM"]  # Maya's team only
    payload = render_manager(monday)
    assert validate_message(payload) == []
    text = str(payload["blocks"])
    assert "Alert outcomes, last 90 days" in text
    assert "*Olga CSM*: 2 raised · 1 acknowledged · 1 snoozed · 0 reopened; 1 account churned" \
        in text
    tuesday = manager_digest(session, CFG, maya, MONDAY + timedelta(days=1))
    assert tuesday.outcomes is None
    assert "Alert outcomes" not in str(render_manager(tuesday)["blocks"])


def test_monday_is_the_workspace_s_monday() -> None:
    paris = parse_config({"workspace": {"timezone": "Pacific/Auckland"}})
    sunday_utc = datetime(2026, 3, 8, 12, 0)  # already Monday 01:00 in Auckland
    assert date(2026, 3, 8).weekday() == 6
    assert outcomes_due(paris, sunday_utc) and not outcomes_due(CFG, sunday_utc)
