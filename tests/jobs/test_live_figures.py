"""Live rescoring against the daily run's workspace figures, and its fallback: with no
usable figures (missing, too old, other scoring settings) one batch scores the whole
workspace, says so in the log and stores figures the next batch uses."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from fakes.harness import END, NOW, load_sample_workspace, prepare_database
from sqlalchemy import delete, select, update

from pulse.jobs.live.rescore import RescoreReport, rescore
from pulse.kernel.config import PulseConfig, parse_config
from storage.db import session_factory, session_scope
from storage.models import Account, ScoreSnapshot, ScoringFigures

CONFIG = parse_config({"sources": {"sample": {}}})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = prepare_database(request, request.param, tmp_path_factory.mktemp("live_figures"))
    load_sample_workspace(url, CONFIG, watched=False)
    return url


def _account(url: str, n: int) -> int:
    with session_factory(url)() as session:
        ids = session.scalars(select(Account.id).where(Account.lifecycle == "paid")
                              .order_by(Account.id)).all()
        return ids[n]


def _snapshot(url: str, account: int) -> tuple[float, str]:
    with session_factory(url)() as session:
        row = session.scalars(select(ScoreSnapshot).where(
            ScoreSnapshot.account_id == account, ScoreSnapshot.as_of == END)).one()
        return row.score, row.tier


def _rescore(url: str, account: int, config: PulseConfig = CONFIG) -> RescoreReport:
    report = rescore(url, config, [account], NOW)
    assert report.as_of == END and report.snapshots == 1 and not report.errors
    return report


def test_a_batch_scores_its_accounts_against_the_stored_figures(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    account = _account(url, 3)
    daily = _snapshot(url, account)
    with caplog.at_level(logging.WARNING, logger="pulse.jobs.live"):
        report = _rescore(url, account)
    assert not report.whole_workspace and "whole workspace" not in caplog.text
    assert _snapshot(url, account) == daily  # nothing changed: the daily run's score


@pytest.mark.parametrize("spoil", ["missing", "old", "settings"])
def test_without_usable_figures_one_batch_scores_the_whole_workspace(
    url: str, caplog: pytest.LogCaptureFixture, spoil: str
) -> None:
    account = _account(url, 5)
    daily = _snapshot(url, account)
    config = CONFIG
    with session_scope(url) as session:
        if spoil == "missing":
            session.execute(delete(ScoringFigures))
        elif spoil == "old":
            session.execute(update(ScoringFigures).values(computed_at=NOW - timedelta(hours=37)))
        else:
            config = parse_config({"sources": {"sample": {}},
                                   "scoring": {"weights": {"usage": 30}}})
    with caplog.at_level(logging.WARNING, logger="pulse.jobs.live"):
        first = _rescore(url, account, config)
    why = {"missing": "no workspace figures stored for 2026-03-02",
           "old": "are 37 h old (limit live.figures_max_age_hours = 36)",
           "settings": "the scoring settings changed"}[spoil]
    assert first.whole_workspace and why in caplog.text
    assert "scoring the whole workspace once" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pulse.jobs.live"):
        second = _rescore(url, account, config)
    assert not second.whole_workspace and caplog.text == ""
    if spoil != "settings":
        assert _snapshot(url, account) == daily
    with session_scope(url) as session:  # the daily run's settings again
        session.execute(delete(ScoringFigures))
    _rescore(url, account)
