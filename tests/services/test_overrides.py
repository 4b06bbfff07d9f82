"""CSM sentiments and overrides: they count in every scoring run until they end, end on
their date, warn their author a few days before, and are audited."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from fakes.slack_api import FakeSlack
from sqlalchemy import select
from sqlalchemy.orm import Session
from workspace import D1, load_workspace

from bot.delivery import SlackDelivery, web_client
from bot.overrides import is_override, parse_override
from digests.limits import validate_message
from digests.override_blocks import override_reply
from pulse.jobs.deliver import send_expiry_notices
from pulse.kernel.config import PulseConfig, parse_config
from pulse.services.access import resolve_viewer
from pulse.services.overrides import (
    OverrideRequest,
    apply_request,
    due_expiry_notices,
)
from scoring.engine import run_scoring
from storage.models import AuditLog, Override, ScoreSnapshot

CFG = PulseConfig()
OLGA = "UOLGA"  # CSM of Acme Corp (a1) and Initech (a4) in the shared workspace
UNTIL = D1 + timedelta(days=20)


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour))


def _set(session: Session, request: OverrideRequest, now: datetime):  # type: ignore[no-untyped-def]
    viewer = resolve_viewer(session, CFG, OLGA, None)
    return apply_request(session, CFG, viewer, request, now)


def _snapshot(session: Session, account_id: int, day: date) -> ScoreSnapshot:
    return session.scalars(
        select(ScoreSnapshot).where(
            ScoreSnapshot.account_id == account_id, ScoreSnapshot.as_of == day
        )
    ).one()


def _csm(snapshot: ScoreSnapshot) -> list[dict]:  # type: ignore[type-arg]
    return [c for c in snapshot.components if c["key"] == "csm"]


def test_parse_the_command() -> None:
    r = parse_override('acme corp sentiment red "champion left" --until 2027-01-31')
    assert (r.query, r.kind, r.sentiment, r.reason, r.until) == (
        "acme corp",
        "sentiment",
        "red",
        "champion left",
        date(2027, 1, 31),
    )
    r = parse_override("acme override 45 “pricing dispute”")
    assert (r.kind, r.score, r.reason, r.until) == ("score", 45.0, "pricing dispute", None)
    assert parse_override("acme sentiment clear").kind == "clear"
    assert is_override("acme sentiment red") and not is_override("sentiment analytics")
    for bad, problem in (
        ('acme sentiment purple "x"', "not a sentiment"),
        ('acme override 140 "x"', "outside 0-100"),
        ('acme sentiment red "x" --until 31/01/2027', "not a date"),
        ("acme sentiment", "Usage"),
    ):
        with pytest.raises(ValueError, match=problem):
            parse_override(bad)


def test_a_sentiment_survives_two_scoring_runs_and_expires_on_time(session: Session) -> None:
    ids = load_workspace(session)  # scored on D1 and D1 + 7 without any CSM entry
    data_score = _snapshot(session, ids["a1"], D1).score
    reply = _set(
        session,
        OverrideRequest(
            "acme corp", "sentiment", sentiment="red", reason="champion left", until=UNTIL
        ),
        _at(D1),
    )
    assert reply.kind == "set" and validate_message(override_reply(reply)) == []
    expected = f"red, champion left, until {UNTIL:%-d %b %Y}, by Olga CSM"
    for day in (D1, D1 + timedelta(days=1)):  # two later runs: both keep it
        run_scoring(session, CFG, day)
        snap = _snapshot(session, ids["a1"], day)
        (entry,) = _csm(snap)
        assert entry["detail"] == expected and entry["value"] == 0.0
        assert snap.reasons[0] == f"CSM: {expected}"
    assert _snapshot(session, ids["a1"], D1).score < data_score
    # On its last day it still counts; the day after it is gone from the score.
    run_scoring(session, CFG, UNTIL)
    assert _csm(_snapshot(session, ids["a1"], UNTIL))
    run_scoring(session, CFG, UNTIL + timedelta(days=1))
    assert _csm(_snapshot(session, ids["a1"], UNTIL + timedelta(days=1))) == []
    # Scoring an earlier date does not see an entry recorded later (no leakage).
    run_scoring(session, CFG, D1 - timedelta(days=1))
    assert _csm(_snapshot(session, ids["a1"], D1 - timedelta(days=1))) == []


def test_the_author_hears_before_it_ends_and_it_expires_audited(session: Session) -> None:
    load_workspace(session)
    _set(
        session,
        OverrideRequest(
            "acme", "sentiment", sentiment="yellow", reason="budget freeze", until=UNTIL
        ),
        _at(D1),
    )
    cfg = CFG  # remind 3 days before by default
    assert due_expiry_notices(session, cfg, _at(UNTIL - timedelta(days=4))) == []
    with FakeSlack(token="xoxb-t") as slack:
        delivery = SlackDelivery(web_client("xoxb-t", base_url=slack.base_url))
        assert send_expiry_notices(session, cfg, delivery, _at(UNTIL - timedelta(days=3))) == 1
        assert send_expiry_notices(session, cfg, delivery, _at(UNTIL - timedelta(days=2))) == 0
        (dm,) = slack.calls_to("chat.postMessage")
        assert "ends in 3 days" in dm.args["text"] and "Acme Corp" in dm.args["text"]
        assert slack.calls_to("conversations.open")[0].args["users"] == OLGA
    row = session.scalars(select(Override)).one()
    assert row.status == "active"
    due_expiry_notices(session, cfg, _at(UNTIL + timedelta(days=1)))
    assert (row.status, row.ended_by) == ("expired", "pulse")
    actions = [a.action for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["override_set", "override_expiry_notice", "override_expired"]


def test_replace_clear_refusals_and_a_disagreement_said_out_loud(session: Session) -> None:
    ids = load_workspace(session)
    day = D1 + timedelta(days=7)
    initech = _snapshot(session, ids["a4"], day)
    assert initech.tier == "at_risk"  # the data's view of Initech
    first = _set(
        session,
        OverrideRequest("initech", "sentiment", sentiment="green", reason="exec sponsor happy"),
        _at(day),
    )
    assert first.disagreement is not None and "CSM says green" in first.disagreement
    assert "the data says at risk" in first.disagreement
    second = _set(
        session, OverrideRequest("initech", "score", score=30.0, reason="agree now"), _at(day, 10)
    )
    assert second.previous is not None and second.previous.sentiment == "green"
    assert second.disagreement is None
    rows = session.scalars(select(Override).order_by(Override.id)).all()
    assert [r.status for r in rows] == ["replaced", "active"]
    assert rows[1].expires_on == day + timedelta(days=CFG.overrides.default_days)
    run_scoring(session, CFG, day)
    assert _snapshot(session, ids["a4"], day).score == 30.0  # pinned
    cleared = _set(session, OverrideRequest("initech", "clear"), _at(day, 11))
    assert cleared.kind == "cleared"
    assert [r.status for r in session.scalars(select(Override).order_by(Override.id))] == [
        "replaced",
        "cleared",
    ]
    for request, problem in (
        (OverrideRequest("initech", "clear"), "nothing"),
        (OverrideRequest("initech", "sentiment", sentiment="red"), "reason is required"),
        (
            OverrideRequest(
                "initech", "sentiment", sentiment="red", reason="x", until=day - timedelta(days=1)
            ),
            "in the past",
        ),
        (
            OverrideRequest(
                "initech", "sentiment", sentiment="red", reason="x", until=day + timedelta(days=400)
            ),
            "at most 180 days",
        ),
        (OverrideRequest("globex", "sentiment", sentiment="red", reason="x"), "no account"),
    ):
        reply = _set(session, request, _at(day, 12))
        assert reply.kind == "refused"
        if problem != "nothing":
            assert problem in reply.detail
    with pytest.raises(PermissionError):
        reader = resolve_viewer(
            session, parse_config({"access": {"read_only": ["UR"]}}), "UR", None
        )
        apply_request(session, CFG, reader, OverrideRequest("initech", "clear"), _at(day))
