"""Thinning old snapshots (the daily job's retention step) keeps `pulse explain`,
`pulse backtest` and `pulse metrics` answers for the dates kept.

The sample workspace is scored every day for 43 days; the retention settings are shrunk
(daily for 7 days, weekly until 21 days, monthly after) so one short history crosses all
three regimes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from connectors.sample import SampleConnector
from pulse.cli.main import app
from pulse.jobs.pipeline import thin_old_snapshots
from pulse.kernel.config import load_config, parse_config
from scoring.engine import run_scoring
from storage.db import get_engine, session_factory, session_scope
from storage.loader import load_batch
from storage.migrate import upgrade
from storage.models import Account, ScoreSnapshot

runner = CliRunner()
END = date(2025, 6, 29)  # a Sunday
DAYS_SCORED = 43  # from Sunday May 18
RETENTION = "retention:\n  snapshot_daily_days: 7\n  snapshot_weekly_days: 21\n"
BACKTEST = ["backtest", "--from", "2025-04-13", "--to", "2025-05-25", "--every", "2w",
            "--horizon", "30d", "--json", "-"]
"""Dates before and inside the thinned weeks (the sample's one churn is on 2025-04-15)."""
METRICS = ["metrics", "--from", "2025-05-26", "--to", "2025-06-29", "--json"]
"""A period whose opening (May 25) and end are kept dates."""


@pytest.fixture(scope="module")
def scored_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The sample workspace (20 accounts) scored on each of the 43 days up to END."""
    path = tmp_path_factory.mktemp("thinning") / "pulse.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    cfg = parse_config({"sources": {"sample": {"end_date": END, "accounts": 20}}})
    with session_scope(url) as session:
        for batch in SampleConnector(cfg).pull(None, full=True):
            load_batch(session, "sample", batch)
    with session_scope(url) as session:
        for back in range(DAYS_SCORED - 1, -1, -1):
            day = END - timedelta(days=back)
            run_scoring(session, cfg, day, computed_at=datetime.combine(day, datetime.min.time()))
    get_engine(url).dispose()
    yield path


@pytest.fixture
def env(scored_db: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private copy of the scored database, and a pulse.yml with the shrunk retention."""
    path = tmp_path / "pulse.db"
    shutil.copy(scored_db, path)
    config = tmp_path / "pulse.yml"
    config.write_text(RETENTION)
    yield {"DATABASE_URL": f"sqlite:///{path}", "PULSE_CONFIG": str(config), "COLUMNS": "200"}
    get_engine(f"sqlite:///{path}").dispose()


def _cli(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def _backtest(env: dict[str, str]) -> dict[str, Any]:
    """`pulse backtest --json -`'s figures (without how long it took)."""
    figures = json.loads(_cli(env, *BACKTEST))
    figures.pop("seconds")
    return dict(figures)


def _explain(env: dict[str, str], name: str, day: date) -> tuple[str, str]:
    """`pulse explain --as-of`: the snapshot shown (up to "Change since"), and that line."""
    out = _cli(env, "explain", name, "--as-of", day.isoformat())
    shown, _, change = out.partition("Change since ")
    return shown, (change.splitlines() or [""])[0]


def _dates(url: str, account_id: int) -> list[date]:
    with session_factory(url)() as session:
        stmt = select(ScoreSnapshot.as_of).where(ScoreSnapshot.account_id == account_id)
        return sorted(session.scalars(stmt))


def test_thinning_keeps_explain_backtest_and_metrics_answers(env: dict[str, str]) -> None:
    url = env["DATABASE_URL"]
    with session_factory(url)() as session:
        account = session.scalars(select(Account).order_by(Account.id)).first()
        assert account is not None
        rows_before = session.scalar(select(func.count()).select_from(ScoreSnapshot))
    name, account_id = account.name, account.id
    assert len(_dates(url, account_id)) == DAYS_SCORED
    probes = [END - timedelta(days=back) for back in range(0, DAYS_SCORED, 2)]
    explained = {day: _explain(env, name, day)[0] for day in probes}
    backtest, metrics = _backtest(env), _cli(env, *METRICS)

    thinned = thin_old_snapshots(load_config(env["PULSE_CONFIG"]).model_copy(
        update={"database_url": url}), END)

    kept = _dates(url, account_id)
    weekly_from, monthly_from = END - timedelta(days=7), END - timedelta(days=21)
    daily = [d for d in kept if d >= weekly_from]
    assert daily == [weekly_from + timedelta(days=k) for k in range(8)]  # all kept
    # each week's latest (Sundays); June 16-21 went, June 22 is their week's latest
    assert [d for d in kept if monthly_from <= d < weekly_from] == [date(2025, 6, 8),
                                                                   date(2025, 6, 15)]
    # May's latest (of its Sundays); June 1 went, June's latest is later
    assert [d for d in kept if d < monthly_from] == [date(2025, 5, 25)]
    with session_factory(url)() as session:
        rows_after = session.scalar(select(func.count()).select_from(ScoreSnapshot))
    assert thinned.removed == rows_before - rows_after > 0

    for day, shown in explained.items():
        if day < kept[0]:  # May 18-24: no snapshot on or before them any more
            continue
        answer, change = _explain(env, name, day)
        if day in kept:
            assert answer == shown  # a kept date is explained exactly as before
            earlier = [d for d in kept if d < day]
            if earlier:
                assert change.startswith(f"{max(earlier)}:")  # against the previous kept
        else:  # the kept snapshot before it
            shown_instead = max(d for d in kept if d <= day)
            assert f"as of {shown_instead}" in answer
            assert answer == explained.get(shown_instead, answer)
    assert _backtest(env) == backtest
    assert _cli(env, *METRICS) == metrics
    assert thin_old_snapshots(load_config(env["PULSE_CONFIG"]).model_copy(
        update={"database_url": url}), END).removed == 0  # idempotent
