"""`pulse metrics` prints every figure with its arithmetic, `--json` parses, bad input
exits 2. Runs on the hand-computed fixture of test_metrics (see its docstring)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from metrics_data import load_metrics_fixture
from typer.testing import CliRunner

from pulse.cli.main import app
from storage.db import get_engine, session_factory
from storage.migrate import upgrade

runner = CliRunner()
PERIOD_ARGS = ["--from", "2025-01-01", "--to", "2025-12-31"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("metrics")
    url = f"sqlite:///{home / 'pulse.db'}"
    upgrade(url)
    with session_factory(url)() as session:
        load_metrics_fixture(session)
    yield {"DATABASE_URL": url,
           "PULSE_CONFIG": str(Path(__file__).parents[2] / "pulse.example.yml"),
           "COLUMNS": "200"}
    get_engine(url).dispose()


def run(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["metrics", *args], env=env)


def test_metrics_prints_each_figure_and_how_it_was_computed(env: dict[str, str]) -> None:
    result = run(env, *PERIOD_ARGS)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Metrics from 2025-01-01 to 2025-12-31 (365 days" in out
    assert ("GRR 85.7% = $180k kept of $210k starting ARR (5 accounts with ARR on 2024-12-31)"
            in out)
    assert "NRR 101.0% = $212k ARR of the same 5 accounts on 2025-12-31 / $210k" in out
    assert ("ARR bridge: $210k start + $15k new (1 account) + $32k expansion (2) - $10k "
            "contraction (1) - $20k churned (1) = $227k on 2025-12-31 (5 paying accounts)") in out
    assert "Logo churn 20.0% = 1 of 5 accounts at 0 ARR by 2025-12-31" in out
    assert "Revenue churn 9.5% = $20k churned / $210k; gross revenue churn 14.3%" in out
    assert "At-risk ARR $70k = ARR of 2 paying accounts" in out and "$40k of it (1 account)" in out
    assert "Adoption 60.0% = 3 of 5 paying accounts used a core feature on 4+ distinct days" in out
    assert "Time-to-value: median 7 days, 75th percentile 8.5 days" in out
    assert "Improvement rate 50.0% = 1 of 2 alerts" in out
    assert "Expansion forecast $22k = Σ amount × stage probability over 4 open expansion" in out
    assert "Stages without a probability" in out and "Pilot" in out
    assert "NRR by CSM portfolio" in out and "113.8%" in out  # Olga: 182 / 160


def test_metrics_by_segment_adds_breakdown_tables(env: dict[str, str]) -> None:
    result = run(env, *PERIOD_ARGS, "--by", "segment")
    assert result.exit_code == 0, result.output
    assert "Revenue retention by segment" in result.output
    assert "Enterprise" in result.output and "113.3%" in result.output  # 170 / 150
    assert "At-risk ARR by segment" in result.output


def test_metrics_json_parses_and_carries_every_figure(env: dict[str, str]) -> None:
    result = run(env, *PERIOD_ARGS, "--json", "--by", "csm")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["period"] == {"from": "2025-01-01", "to": "2025-12-31", "opening": "2024-12-31",
                              "days": 365}
    total = data["revenue"][0]
    assert total["group"] == "All accounts"
    assert total["grr"] == pytest.approx(180 / 210) and total["arr_end"] == 227_000
    assert [r["group"] for r in data["revenue"]] == ["All accounts", "Olga", "Pete"]
    assert data["expansion_forecast"]["unknown_stages"] == ["Pilot"]
    assert data["time_to_value"][0]["median_days"] == 7.0
    assert {r["health_tier"] for r in data["health_distribution"]} == {
        "healthy", "fine", "at_risk", "unscored"}


def test_default_period_is_the_twelve_months_to_the_last_scoring_day(env: dict[str, str]) -> None:
    data = json.loads(run(env, "--json").output)
    assert data["period"]["to"] == "2025-12-31" and data["period"]["from"] == "2025-01-01"


@pytest.mark.parametrize(("args", "message"), [
    (["--by", "owner"], "--by: 'owner' is not one of segment, region, tier, csm, health"),
    (["--from", "2025-06-01", "--to", "2025-01-31"], "--from 2025-06-01 is after --to 2025-01-31"),
    (["--from", "2026-06-01"], "is after the period's end 2025-12-31"),
    (["--to", "2025-02-30"], "--to: '2025-02-30' is not a date"),
])
def test_bad_input_exits_2_naming_the_problem(env: dict[str, str], args: list[str],
                                              message: str) -> None:
    result = run(env, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_metrics_refuses_a_database_without_schema(tmp_path: Path) -> None:
    result = runner.invoke(app, ["metrics"],
                           env={"DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"})
    assert result.exit_code == 1 and "pulse db upgrade" in result.output
