"""The learned model file as scoring runs read it (`live_model`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import learned_model_document

from pulse.services.model_file import live_model, write_model
from scoring.learn.scorecard import ScorecardError


def test_no_file_means_the_rules_score(tmp_path: Path) -> None:
    assert live_model(tmp_path / "pulse-model.yml") is None


def test_a_written_model_is_read_with_its_thresholds(tmp_path: Path) -> None:
    path = write_model(learned_model_document(below_health=42.0), tmp_path / "pulse-model.yml")
    model = live_model(path)
    assert model is not None
    assert model.at_risk_below == 42.0 and model.healthy_from >= 42.0
    assert model.provenance.startswith("learned from 40 churns between 2025-04-06")


def test_a_broken_file_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "pulse-model.yml"
    path.write_text("kind: points scorecard\nversion: 1\ninputs: [\n")
    with pytest.raises(ScorecardError) as raised:
        live_model(path)
    message = str(raised.value)
    assert str(path) in message and "pulse tune --write" in message
    assert "remove the file to score with the rules" in message
