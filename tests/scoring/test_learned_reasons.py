"""The "Why" of a score given by a learned model comes from the model's points: the
inputs that cost the account the most points, then those it earned, in plain words."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from factories import CHURN_AS_OF, learned_model_document, load_churn_workspace
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from scoring.engine import run_scoring
from scoring.learn.entries import counted
from scoring.learn.live import LearnedModel
from scoring.learn.reasons import input_words
from storage.models import ScoreSnapshot

COMPUTED = datetime(2025, 4, 1, 6, 0)
REASON = re.compile(
    r"^(?P<input>Active users|Tenure days): (?P<value>.+), (?P<points>\d+\.\d) of "
    r"(?P<most>\d+\.\d) points(?: \(-(?P<lost>\d+\.\d)\))?$"
)
"""The hand-written model's two inputs: active users (most 66.7 points), tenure (33.3)."""


@pytest.fixture
def snapshots(session: Session) -> list[ScoreSnapshot]:
    load_churn_workspace(session, accounts=60)
    model = LearnedModel.from_document(learned_model_document())
    run_scoring(session, PulseConfig(), CHURN_AS_OF, COMPUTED, model=model)
    return list(session.scalars(select(ScoreSnapshot).where(ScoreSnapshot.as_of == CHURN_AS_OF)))


def test_every_reason_names_a_learned_input_and_its_stored_points(
    snapshots: list[ScoreSnapshot],
) -> None:
    assert len(snapshots) == 60
    for snap in snapshots:
        assert snap.reasons, snap.account_id
        points = {e["label"]: e["points"] for e in counted(snap.components)}
        for reason in snap.reasons:
            found = REASON.match(reason)
            assert found, reason  # no flag, no rules component, no CSM line
            name = {"Active users": "active_users", "Tenure days": "account_tenure_days"}
            assert float(found["points"]) == pytest.approx(points[name[found["input"]]])
            assert float(found["most"]) in (66.7, 33.3)


def test_the_costliest_input_comes_first_with_the_points_it_lost(
    snapshots: list[ScoreSnapshot],
) -> None:
    worst = min(snapshots, key=lambda s: s.score)
    assert worst.score == pytest.approx(0.0)
    assert len(worst.reasons) == 2
    assert worst.reasons[0] == "Active users: 1 (< 2), 0.0 of 66.7 points (-66.7)"
    assert re.fullmatch(r"Tenure days: \d+ \(< 365\), 0\.0 of 33\.3 points \(-33\.3\)",
                        worst.reasons[1])
    best = max(snapshots, key=lambda s: s.score)
    assert best.score == pytest.approx(100.0)
    assert [REASON.match(r)["input"] for r in best.reasons] == ["Active users", "Tenure days"]
    assert all("(-" not in r and "(>= " in r for r in best.reasons)  # earned, nothing lost
    middle = next(s for s in snapshots if 0.0 < s.score < 100.0)
    lost = [float(REASON.match(r)["lost"] or 0.0) for r in middle.reasons]
    assert lost[0] > 0.0 and lost == sorted(lost, reverse=True)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("days_since_last_active", "Days since last active"),
        ("nps_latest", "NPS latest"),
        ("active_users_prev", "Active users (previous window)"),
        ("flag_onboarding_stuck", "Onboarding stuck flag"),
        ("component_breadth", "Feature breadth (rules component)"),
        ("account_segment", "Segment"),
        ("account_contract_type", "Contract type"),
    ],
)
def test_inputs_are_named_in_plain_words(name: str, words: str) -> None:
    assert input_words(name) == words
