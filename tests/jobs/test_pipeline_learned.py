"""The daily run's score step with a learned model beside pulse.yml: it scores with it,
and an unreadable file falls back to the rules score, said in the step's outcome."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from factories import CHURN_AS_OF, learned_model_document, load_churn_workspace
from sqlalchemy import select

from pulse.jobs.pipeline import PartlyFailed, RunContext, step_score
from pulse.kernel.config import parse_config
from pulse.services.model_file import write_model
from scoring.learn.entries import model_provenance
from storage.db import session_factory, session_scope
from storage.models import ScoreSnapshot

MORNING = datetime(2025, 3, 31, 6, 0)


@pytest.fixture
def ctx(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunContext:
    with session_scope(db_url) as session:
        load_churn_workspace(session, accounts=30)
    (tmp_path / "pulse.yml").write_text("{}\n")
    monkeypatch.setenv("PULSE_CONFIG", str(tmp_path / "pulse.yml"))
    cfg = parse_config({}).model_copy(update={"database_url": db_url})
    return RunContext(config=cfg, now=MORNING)


def _provenances(url: str) -> set[str | None]:
    with session_factory(url)() as session:
        rows = session.scalars(select(ScoreSnapshot).where(ScoreSnapshot.as_of == CHURN_AS_OF))
        return {model_provenance(s.components) for s in rows}


def test_the_score_step_scores_with_the_stored_model(ctx: RunContext, tmp_path: Path) -> None:
    write_model(learned_model_document(), tmp_path / "pulse-model.yml")
    detail = step_score(ctx)
    assert "with the learned model (learned from 40 churns" in detail
    assert _provenances(ctx.url) == {
        "learned from 40 churns between 2025-04-06 and 2025-05-25, held-out AUC 0.81"
    }


def test_an_unreadable_model_scores_with_the_rules_and_the_step_says_so(
    ctx: RunContext, tmp_path: Path
) -> None:
    (tmp_path / "pulse-model.yml").write_text("kind: points scorecard\nversion: 7\n")
    with pytest.raises(PartlyFailed, match="scored with the rules: .*pulse-model.yml"):
        step_score(ctx)
    assert _provenances(ctx.url) == {None}  # the rules score was stored all the same
