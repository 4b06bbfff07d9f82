"""`pulse backtest` and `pulse tune` on the sample workspace: output, files, errors."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.sample import SampleConnector
from pulse.cli.main import app
from pulse.kernel.config import load_config, parse_config
from storage.db import get_engine, session_scope
from storage.loader import load_batch
from storage.migrate import upgrade

runner = CliRunner()
END = date(2025, 6, 30)
EXAMPLE = Path(__file__).parents[2] / "pulse.example.yml"
RANGE = ["--from", "2025-01-31", "--to", "2025-06-30", "--horizon", "60d"]


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The default sample workspace (500 accounts, 180 days to END) in a SQLite file."""
    url = f"sqlite:///{tmp_path_factory.mktemp('backtest') / 'pulse.db'}"
    upgrade(url)
    cfg = parse_config({"sources": {"sample": {"end_date": END}}})
    with session_scope(url) as session:
        for batch in SampleConnector(cfg).pull(None, full=True):
            load_batch(session, "sample", batch)
    yield url
    get_engine(url).dispose()


@pytest.fixture
def env(sample_db: str, tmp_path: Path) -> dict[str, str]:
    """The sample database and a private copy of pulse.example.yml as pulse.yml."""
    config = tmp_path / "pulse.yml"
    shutil.copy(EXAMPLE, config)
    return {"DATABASE_URL": sample_db, "PULSE_CONFIG": str(config), "COLUMNS": "200"}


def test_backtest_prints_a_table_and_names_censored_dates(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["backtest", *RANGE], env=env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "2025-01-31" in out and "2025-04-30" in out and "all dates" in out
    assert "AUC" in out and "Bottom-decile lift" in out and "median" in out
    # May 31 + 60 days is after the data's last day (June 30): left out, and said so
    assert "2025-05-31" not in out
    assert "Left out 2 as-of date(s)" in result.stderr
    assert "2025-05-31, 2025-06-30" in result.stderr


def test_backtest_json_on_stdout_and_chart(env: dict[str, str], tmp_path: Path) -> None:
    chart = tmp_path / "deciles.png"
    result = runner.invoke(app, ["backtest", *RANGE, "--json", "-", "--chart", str(chart)],
                           env=env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["parameters"]["horizon"] == "60d"
    assert doc["parameters"]["renewal_dates"] == "reconstructed"
    assert doc["as_of_dates"] == ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30"]
    assert doc["censored_dates"] == ["2025-05-31", "2025-06-30"]
    pooled = doc["pooled"]
    assert 0.5 < pooled["auc"] <= 1.0
    assert pooled["churners"] > 0 and pooled["as_of_dates"] == 4
    assert len(doc["per_date"]) == 4 and len(doc["deciles"]) == 10
    assert set(doc["lead_time"]) == {"churned_accounts", "alerted", "never_alerted",
                                     "median_days"}
    png = chart.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    json_file = tmp_path / "bt.json"
    again = runner.invoke(app, ["backtest", *RANGE, "--json", str(json_file)], env=env)
    assert again.exit_code == 0 and "all dates" in again.stdout
    assert json.loads(json_file.read_text())["pooled"] == pooled


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2025-13-01", "--to", "2025-06-30"], "--from: '2025-13-01' is not a date"),
        (["--from", "2025-06-30", "--to", "2025-01-31"], "is after --to"),
        ([*RANGE[:4], "--horizon", "ninety"], "--horizon: 'ninety' is not a span"),
        ([*RANGE[:4], "--every", "0d"], "--every: '0d' must be longer than zero"),
        (["--from", "2025-06-01", "--to", "2025-06-30"], "no churn outcome is known yet"),
        (["--from", "2025-01-31", "--to", "2025-01-31", "--horizon", "7d"],
         "AUC needs at least one churner and one non-churner"),
    ],
)
def test_backtest_errors_exit_2(env: dict[str, str], args: list[str], message: str) -> None:
    result = runner.invoke(app, ["backtest", *args], env=env)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_tune_without_write_leaves_pulse_yml_untouched(env: dict[str, str]) -> None:
    config = Path(env["PULSE_CONFIG"])
    before = config.read_bytes()
    result = runner.invoke(app, ["tune", "--weights", *RANGE], env=env)
    assert result.exit_code == 0, result.output
    for text in ("Cross-validation", "Signal weights", "Held-out AUC", "current", "suggested"):
        assert text in result.stdout
    assert config.read_bytes() == before


def test_tune_write_changes_only_the_weights(env: dict[str, str]) -> None:
    config = Path(env["PULSE_CONFIG"])
    before = load_config(config)
    result = runner.invoke(app, ["tune", "--weights", *RANGE, "--write"], env=env)
    assert result.exit_code == 0, result.output
    after = load_config(config)
    assert "only scoring.weights changed" in result.stdout
    assert after.scoring.weights != before.scoring.weights
    assert after.model_copy(update={"scoring": before.scoring, "source_file": None}) == (
        before.model_copy(update={"source_file": None})
    )
    assert "# Relative weights of the health components" in config.read_text()  # comments kept
