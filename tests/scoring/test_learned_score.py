"""A stored learned model as the live score: points that add up, its tiers, its name on
every snapshot, and an empty at-risk tier said out loud."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from factories import CHURN_AS_OF, learned_model_document, load_churn_workspace
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from scoring.engine import EMPTY_AT_RISK, run_scoring
from scoring.learn.entries import counted, model_provenance
from scoring.learn.live import LearnedModel
from scoring.learn.scorecard import ScorecardError
from storage.models import Override, ScoreSnapshot

COMPUTED = datetime(2025, 4, 1, 6, 0)


def _snapshots(session: Session) -> list[ScoreSnapshot]:
    return list(session.scalars(select(ScoreSnapshot).where(ScoreSnapshot.as_of == CHURN_AS_OF)))


def test_the_learned_model_scores_and_its_points_add_up(session: Session) -> None:
    load_churn_workspace(session, accounts=60)
    cfg = PulseConfig()
    model = LearnedModel.from_document(learned_model_document())
    summary = run_scoring(session, cfg, CHURN_AS_OF, COMPUTED, model=model)
    assert summary.model == (
        "learned from 40 churns between 2025-04-06 and 2025-05-25, held-out AUC 0.81"
    )
    assert "with the learned model (learned from 40 churns" in str(summary)
    snaps = _snapshots(session)
    assert len(snaps) == 60
    for snap in snaps:
        entries = counted(snap.components)
        assert [e["kind"] for e in entries] == ["learned", "learned"]
        assert sum(e["points"] for e in entries) == pytest.approx(snap.score, abs=1e-9)
        assert 0.0 <= snap.score <= 100.0
        assert model_provenance(snap.components) == summary.model
        # the rules components are kept for their figures, and count nothing
        rules = [e for e in snap.components if e.get("counted") is False and "rules_points" in e]
        assert {e["key"] for e in rules} >= {"usage", "contract"}
        if snap.score < model.at_risk_below:
            assert snap.tier == "at_risk"
        elif snap.score >= model.healthy_from:
            assert snap.tier == "healthy"
        else:
            assert snap.tier == "fine"
    # more active users and a longer tenure: the most points there are
    best = max(snaps, key=lambda s: s.score)
    assert best.score == pytest.approx(100.0)
    assert {e["raw"]["bin"] for e in counted(best.components)} == {">= 4", ">= 365"}
    assert {s.tier for s in snaps} >= {"at_risk"}


def test_healthy_means_no_riskier_than_the_training_churn_rate() -> None:
    model = LearnedModel.from_document(learned_model_document(churns=40, account_dates=400))
    card = model.scorecard
    # log-odds at the healthy line is the base rate's: 40 churns in 400 account-dates
    logit = card.risk_at_zero - card.risk_per_point * model.healthy_from
    assert 1 / (1 + math.exp(-logit)) == pytest.approx(0.1)
    assert model.at_risk_below <= model.healthy_from


def test_without_a_model_the_rules_score_stays_the_score(session: Session) -> None:
    load_churn_workspace(session, accounts=30)
    summary = run_scoring(session, PulseConfig(), CHURN_AS_OF, COMPUTED)
    assert summary.model is None and "with the rules score" in str(summary)
    for snap in _snapshots(session):
        assert model_provenance(snap.components) is None
        assert all(e.get("kind") != "learned" for e in snap.components)


def test_an_empty_at_risk_tier_is_never_silent(session: Session) -> None:
    load_churn_workspace(session, accounts=30)
    model = LearnedModel.from_document(learned_model_document(below_health=0.0))
    summary = run_scoring(session, PulseConfig(), CHURN_AS_OF, COMPUTED, model=model)
    assert summary.tiers["at_risk"] == 0
    assert EMPTY_AT_RISK in summary.warnings
    assert "0 accounts at risk: thresholds may not fit this workspace; see pulse tune" in str(
        summary
    )


def test_a_model_without_its_threshold_is_refused() -> None:
    doc = learned_model_document()
    del doc["at_risk"]
    with pytest.raises(ScorecardError, match="at-risk threshold"):
        LearnedModel.from_document(doc)


def test_a_csm_score_override_pins_the_learned_score_too(session: Session) -> None:
    """A CSM who pins an account's score is not overruled by the learned model: the
    score is the override, the CSM line counts the difference (the points still add up)
    and leads the reasons; the other accounts keep the model's score."""
    load_churn_workspace(session, accounts=30)
    model = LearnedModel.from_document(learned_model_document())
    free = {s.account_id: s.score for s in _scored(session, model)}
    pinned = max(free, key=lambda a: free[a])  # the model's best: pinned to at risk
    session.add(Override(account_id=pinned, kind="score", score=12.0,
                         reason="exec sponsor left", author="U1", author_name="Ann",
                         created_at=COMPUTED - timedelta(days=2),
                         expires_on=CHURN_AS_OF + timedelta(days=30)))
    session.flush()
    after = {s.account_id: s for s in _scored(session, model)}
    snap = after[pinned]
    assert (snap.score, snap.tier) == (12.0, "at_risk")
    entries = counted(snap.components)
    assert sum(e["points"] for e in entries) == pytest.approx(12.0, abs=1e-9)
    [csm] = [e for e in entries if e["key"] == "csm"]
    assert csm["points"] == pytest.approx(12.0 - free[pinned], abs=0.05)
    assert "score set to 12, exec sponsor left" in csm["detail"]
    assert snap.reasons[0].startswith("CSM: score set to 12")
    assert model_provenance(snap.components) is not None
    for account_id, score in free.items():
        if account_id != pinned:
            assert after[account_id].score == score
            assert [e["kind"] for e in counted(after[account_id].components)] == [
                "learned", "learned"]


def _scored(session: Session, model: LearnedModel) -> list[ScoreSnapshot]:
    run_scoring(session, PulseConfig(), CHURN_AS_OF, COMPUTED, model=model)
    session.flush()
    session.expire_all()
    return _snapshots(session)
