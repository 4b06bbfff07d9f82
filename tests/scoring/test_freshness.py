"""Freshness: a source past its interval marks the signals it feeds stale, on the card,
in the stored explanation, and in `pulse sources`."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from workspace import D2, load_workspace

from digests.cards import health_card
from digests.limits import validate_message
from pulse.kernel.config import parse_config
from pulse.services.access import resolve_viewer
from pulse.services.health import health_card as card_service
from scoring.engine import run_scoring
from scoring.freshness import DomainFreshness, freshness, source_status, stale_parts
from storage.models import ScoreSnapshot, SyncState

NOW = datetime(2026, 3, 8, 9, 0)
CFG = parse_config(
    {
        "sources": {"files": {"path": "./data"}, "zendesk": {}},
        "freshness": {"sources": {"files": 48}},
    }
)


def _synced(session: Session, source: str, ago: timedelta | None) -> None:
    session.add(
        SyncState(
            source=source, last_success_at=None if ago is None else NOW - ago, last_status="ok"
        )
    )
    session.flush()


def test_age_words() -> None:
    def text(ago: timedelta | None) -> str:
        return DomainFreshness(
            "support", None if ago is None else NOW - ago, ("z",), (), NOW
        ).age_text()

    assert text(timedelta(days=3, hours=4)) == "support data 3 days old"
    assert text(timedelta(hours=1, minutes=50)) == "support data 1 hour old"
    assert text(None) == "support data never synced successfully"


def test_a_source_past_its_interval_makes_what_it_feeds_stale(session: Session) -> None:
    _synced(session, "files", timedelta(hours=40))  # within its own 48 h
    _synced(session, "zendesk", timedelta(days=3))  # past the default 36 h
    fresh = freshness(session, CFG, NOW)
    assert {d: f.stale for d, f in fresh.items()} == {
        "crm": False,
        "usage": False,
        "billing": False,
        "support": True,
    }
    assert stale_parts(fresh) == ["support data 3 days old (zendesk)"]
    assert source_status(CFG, "zendesk", NOW - timedelta(days=3), NOW) == (
        "STALE, 3 days old (limit 36 h): support"
    )
    assert source_status(CFG, "files", NOW - timedelta(hours=40), NOW) == "fresh, 40 hours old"
    assert source_status(CFG, "zendesk", None, NOW).startswith("STALE, never synced")
    # A configured source Pulse never ran is not judged (its data came another way).
    session.execute(SyncState.__table__.delete().where(SyncState.source == "zendesk"))
    assert "support" not in freshness(session, CFG, NOW) or not freshness(
        session, CFG, NOW
    )["support"].stale


def test_a_stale_source_is_flagged_on_the_card_and_in_the_explanation(session: Session) -> None:
    """Stripe last synced 3 days ago: the contract component (invoices) rests on stale
    billing data; the stored explanation leads with it and the card says so."""
    cfg = parse_config({"sources": {"files": {"path": "./data"}, "stripe": {}}})
    ids = load_workspace(session)
    _synced(session, "files", timedelta(hours=2))
    _synced(session, "stripe", timedelta(days=3))
    run_scoring(session, cfg, D2, computed_at=NOW)
    snap = session.scalars(
        select(ScoreSnapshot).where(
            ScoreSnapshot.account_id == ids["a1"], ScoreSnapshot.as_of == D2
        )
    ).one()
    by_key = {c["key"]: c for c in snap.components}
    assert by_key["contract"]["has_data"]
    assert by_key["contract"]["stale"] == ["billing data 3 days old"]
    assert by_key["usage"]["stale"] == []
    assert by_key["usage"]["data_as_of"] == (NOW - timedelta(hours=2)).isoformat(timespec="minutes")
    assert snap.reasons[0] == "Stale data: billing data 3 days old (Contract)"
    viewer = resolve_viewer(session, cfg, "UOLGA", None)
    card = card_service(session, cfg, viewer, ids["a1"], NOW)
    assert card.stale == ["billing data 3 days old (stripe)"]
    payload = health_card(card)
    assert validate_message(payload) == []
    text = str(payload["blocks"])
    assert ":hourglass: Stale: billing data 3 days old (stripe)" in text
    assert "_(stale: billing data 3 days old)_" in text  # on the contract line
    # Once Stripe syncs again the card no longer says so.
    session.execute(
        SyncState.__table__.update()
        .where(SyncState.source == "stripe")
        .values(last_success_at=NOW - timedelta(hours=1))
    )
    assert card_service(session, cfg, viewer, ids["a1"], NOW).stale == []
