"""The first-run baseline: what already held when Pulse started watching is summarised,
not raised; critical states still alert; from then on changes raise alerts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from workspace import CFG, D1, D2, NOW1, NOW2, flag, load_people, put_snapshot

from connectors.files import FilesConnector
from digests.views import BaselineNote
from pulse.kernel.config import parse_config
from pulse.services.access import resolve_viewer
from pulse.services.alerts import evaluate_alerts
from pulse.services.digest_data import home_view
from pulse.services.sync import run_sync
from storage.db import session_factory
from storage.models import Alert, AuditLog, WatchedAccount

FIXTURES = Path(__file__).parents[1] / "fixtures" / "files"


def _statuses(session: Session) -> dict[tuple[int, str], str]:
    return {(a.account_id, a.rule): a.status for a in session.scalars(select(Alert))}


def test_the_first_run_records_what_already_held_and_raises_nothing(session: Session) -> None:
    ids = load_people(session, watched=False)
    put_snapshot(session, ids["a1"], D1, "fine", flags=[flag("owner_silent")])
    put_snapshot(session, ids["a2"], D1, "at_risk", flags=[flag("onboarding_stuck", "critical")])
    put_snapshot(session, ids["a3"], D1)
    first = evaluate_alerts(session, CFG, NOW1)
    assert first.raised == [] and first.reopened == []
    assert {(i.account_name, i.rule, i.status) for i in first.baselined} == {
        ("Acme Corp", "owner_silent", "baseline"),
        ("Acme Labs", "onboarding_stuck", "baseline"),
    }
    watched = set(session.scalars(select(WatchedAccount.account_id)))
    assert watched == {ids["a1"], ids["a2"], ids["a3"]}  # every scored account, flagged or not
    baselined = session.scalars(select(AuditLog).where(AuditLog.action == "alert_baselined"))
    assert len(list(baselined)) == 2
    assert not evaluate_alerts(session, CFG, NOW1 + timedelta(hours=1))  # once


def test_the_next_run_raises_only_changes(session: Session) -> None:
    ids = load_people(session, watched=False)
    put_snapshot(session, ids["a1"], D1, "fine", flags=[flag("owner_silent")], score=70)
    put_snapshot(session, ids["a3"], D1, "healthy", flags=[flag("main_contact_silent")])
    evaluate_alerts(session, CFG, NOW1)
    # a week later: a1 keeps its condition and gains one; a3 fell 30 points
    put_snapshot(session, ids["a1"], D2, "fine", score=68,
                 flags=[flag("owner_silent"), flag("integration_failing")])
    put_snapshot(session, ids["a3"], D2, "at_risk", score=45, flags=[flag("main_contact_silent")])
    later = evaluate_alerts(session, CFG, NOW2)
    assert {(i.account_name, i.rule) for i in later.raised} == {
        ("Acme Corp", "integration_failing"),
        ("Globex", "tier_crossed"),
    }
    [reopened] = later.reopened  # the baseline condition of an account that got worse
    assert (reopened.account_name, reopened.rule, reopened.status) == (
        "Globex", "main_contact_silent", "open"
    )
    assert reopened.reopen_reason is not None
    assert "since Pulse started watching" in reopened.reopen_reason
    assert _statuses(session)[(ids["a1"], "owner_silent")] == "baseline"  # still quiet


def test_a_baseline_condition_that_clears_is_resolved(session: Session) -> None:
    ids = load_people(session, watched=False)
    put_snapshot(session, ids["a1"], D1, "fine", flags=[flag("owner_silent")])
    evaluate_alerts(session, CFG, NOW1)
    put_snapshot(session, ids["a1"], D2, "fine")
    later = evaluate_alerts(session, CFG, NOW2)
    assert [i.rule for i in later.resolved] == ["owner_silent"] and not later.raised
    assert _statuses(session) == {(ids["a1"], "owner_silent"): "resolved"}


def test_critical_states_still_alert_on_the_first_run(session: Session) -> None:
    ids = load_people(session, watched=False)
    overdue = [flag("invoice_overdue", "critical", "1 unpaid invoice, oldest 64 days past due")]
    put_snapshot(session, ids["a4"], D1, "at_risk", flags=overdue)  # renews in 30 days
    put_snapshot(session, ids["a5"], D1, "fine", flags=overdue)  # renews in 100 days
    put_snapshot(session, ids["a7"], D1, "fine",  # renews in 150 days, but warning only
                 flags=[flag("invoice_overdue", "warning")])
    first = evaluate_alerts(session, CFG, NOW1)
    assert [(i.account_name, i.rule, i.severity) for i in first.raised] == [
        ("Initech", "invoice_overdue", "critical")
    ]
    assert {i.account_name for i in first.baselined} == {"Hooli", "Vandelay"}


def test_the_critical_states_are_configurable_and_capped(session: Session) -> None:
    ids = load_people(session, watched=False)
    cfg = parse_config({"alerts": {
        "baseline_still_alert": [{"rule": "owner_silent", "severity": "warning"}],
        "baseline_max_alerts": 2,
    }})
    for ext in ("a1", "a2", "a3", "a5"):
        put_snapshot(session, ids[ext], D1, "fine", flags=[flag("owner_silent")])
    first = evaluate_alerts(session, cfg, NOW1)
    # the two largest ARRs (Acme Corp 50k, Hooli 30k) alert; Globex 20k and Acme Labs 8k wait
    assert [i.account_name for i in first.raised] == ["Acme Corp", "Hooli"]
    assert {i.account_name for i in first.baselined} == {"Globex", "Acme Labs"}


def test_accounts_imported_later_get_their_own_baseline(session: Session) -> None:
    ids = load_people(session, watched=False)
    put_snapshot(session, ids["a1"], D1, "fine", flags=[flag("owner_silent")])
    evaluate_alerts(session, CFG, NOW1)  # only Acme Corp was scored: it alone is watched
    put_snapshot(session, ids["a1"], D2, "fine", flags=[flag("owner_silent"),
                                                        flag("score_drop")])
    put_snapshot(session, ids["a2"], D2, "fine", flags=[flag("owner_silent")])  # new history
    later = evaluate_alerts(session, CFG, NOW2)
    assert [(i.account_name, i.rule) for i in later.raised] == [("Acme Corp", "score_drop")]
    assert [(i.account_name, i.rule) for i in later.baselined] == [("Acme Labs", "owner_silent")]


def test_a_sources_first_sync_imports_history_and_takes_a_new_baseline(db_url: str) -> None:
    """Connecting a new source (its history arrives at once) re-baselines every account;
    its later syncs do not."""
    files = FIXTURES / "valid"
    with session_factory(db_url)() as session:
        ids = load_people(session)  # watched for a while
        put_snapshot(session, ids["a1"], D1, "fine", flags=[flag("owner_silent")])
        evaluate_alerts(session, CFG, NOW1)  # raised: a watched account
        session.commit()
    report = run_sync(db_url, CFG, "files", connector=FilesConnector(CFG, path=files))
    assert report.status == "ok"
    with session_factory(db_url)() as session:
        assert session.scalars(select(WatchedAccount)).first() is None
        [note] = session.scalars(select(AuditLog).where(AuditLog.action == "alerts_rebaselined"))
        assert note.detail == {"source": "files", "accounts": 7}  # the workspace's 7 accounts
        # what the imported history shows is the baseline; the live alert stays open
        put_snapshot(session, ids["a1"], D2, "fine",
                     flags=[flag("owner_silent"), flag("negative_sentiment")])
        later = evaluate_alerts(session, CFG, NOW2)
        assert later.raised == []
        assert [(i.account_name, i.rule) for i in later.baselined] == [
            ("Acme Corp", "negative_sentiment")]
        assert _statuses(session)[(ids["a1"], "owner_silent")] == "open"
        session.commit()
    run_sync(db_url, CFG, "files", connector=FilesConnector(CFG, path=files))
    with session_factory(db_url)() as session:
        assert session.scalars(select(WatchedAccount)).first() is not None  # not again


def test_the_app_home_says_what_was_already_so(session: Session) -> None:
    ids = load_people(session, watched=False)
    put_snapshot(session, ids["a1"], D1, "at_risk", flags=[flag("owner_silent")])
    put_snapshot(session, ids["a4"], D1, "fine", flags=[flag("onboarding_stuck")])
    put_snapshot(session, ids["a2"], D1, "at_risk", flags=[flag("owner_silent")])  # Pete's
    evaluate_alerts(session, CFG, NOW1)
    olga = home_view(session, CFG, resolve_viewer(session, CFG, "UOLGA", None), NOW1)
    assert olga.baseline == BaselineNote(accounts=2, at_risk=1, team=False)
    maya = home_view(session, CFG, resolve_viewer(session, CFG, "UMAYA", None), NOW1)
    assert maya.baseline == BaselineNote(accounts=2, at_risk=1, team=True)  # her team's
    put_snapshot(session, ids["a1"], D2, "at_risk")  # cleared: no longer "already so"
    put_snapshot(session, ids["a4"], D2, "fine")
    evaluate_alerts(session, CFG, NOW2)
    assert home_view(session, CFG, resolve_viewer(session, CFG, "UOLGA", None),
                     NOW2).baseline is None
