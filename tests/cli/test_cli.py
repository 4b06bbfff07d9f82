"""The terminal commands a newcomer runs: demo, explain, score, sources, sync errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from pulse.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One `pulse demo` on a private SQLite file, shared by the module's tests."""
    home = tmp_path_factory.mktemp("cli")
    env = {
        "DATABASE_URL": f"sqlite:///{home / 'pulse.db'}",
        "PULSE_CONFIG": str(Path(__file__).parents[2] / "pulse.example.yml"),
        "COLUMNS": "160",
    }
    result = runner.invoke(app, ["demo"], env=env)
    assert result.exit_code == 0, result.output
    env["DEMO_OUTPUT"] = result.output
    yield env


def _run(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    clean = {k: v for k, v in env.items() if k != "DEMO_OUTPUT"}
    return runner.invoke(app, list(args), env=clean)


def test_demo_prints_portfolio_attention_list_and_an_explanation(
    demo_env: dict[str, str],
) -> None:
    out = demo_env["DEMO_OUTPUT"]
    assert "sample: ok" in out
    assert "Portfolio health" in out and "At-risk ARR" in out
    assert "Health distribution" in out and "Biggest drops" in out
    assert "need attention today" in out
    assert "Change since" in out  # the explained account has a previous snapshot


def test_explain_shows_components_flags_and_change(demo_env: dict[str, str]) -> None:
    result = _run(demo_env, "explain", "northwind")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Northwind Analytics" in out
    for label in ("Usage", "Seats", "Engagement", "Contract", "total"):
        assert label in out
    assert "Main contact silent" in out
    assert "Change since" in out


def test_terminal_shows_tier_labels_and_numbers_with_their_scale(
    demo_env: dict[str, str],
) -> None:
    demo = demo_env["DEMO_OUTPUT"]
    explain = _run(demo_env, "explain", "northwind").output
    alerts = _run(demo_env, "alerts", "--dry-run")
    assert alerts.exit_code == 0, alerts.output
    for out in (demo, explain, alerts.output):
        assert "at_risk" not in out
    assert "At risk" in demo and "expansion score" in demo
    assert not re.search(r"Expansion candidates: .*\(\d+, ", demo)
    assert re.search(r"Score [\d.]+/100 \((Healthy|Fine|At risk)\)", explain)
    assert re.search(r"Expansion score [\d.]+/100", explain)
    assert re.search(r"Renewal risk \w+ \(\d+/100\)", explain)


def test_explain_ambiguous_name_lists_candidates(demo_env: dict[str, str]) -> None:
    result = _run(demo_env, "explain", "acme")
    assert result.exit_code == 1
    assert "matches several accounts" in result.output
    assert "Acme Corp" in result.output and "Acme Logistics" in result.output


def test_explain_unknown_name_suggests_closest(demo_env: dict[str, str]) -> None:
    result = _run(demo_env, "explain", "Northwnd Analytic")
    assert result.exit_code == 1
    assert "No account matches" in result.output and "Northwind Analytics" in result.output


def test_sources_lists_last_run(demo_env: dict[str, str]) -> None:
    result = _run(demo_env, "sources")
    assert result.exit_code == 0
    assert "sample" in result.output and "ok" in result.output


def test_unknown_source_is_named(demo_env: dict[str, str]) -> None:
    result = _run(demo_env, "sync", "--source", "salesfarce")
    assert result.exit_code == 2
    assert "unknown source 'salesfarce'" in result.output


def test_bad_as_of_date_is_named(demo_env: dict[str, str]) -> None:
    result = _run(demo_env, "score", "--as-of", "2026-13-01")
    assert result.exit_code == 2
    assert "--as-of: '2026-13-01' is not a date" in result.output


def test_commands_refuse_a_database_without_schema(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "PULSE_CONFIG": ""}
    env.pop("PULSE_CONFIG")
    result = runner.invoke(app, ["score"], env=env)
    assert result.exit_code == 1
    assert "pulse db upgrade" in result.output


def test_score_defaults_to_the_workspace_date(tmp_path: Path) -> None:
    """At 23:30 UTC on 30 June it is already 1 July in Auckland: that is the day scored,
    as the daily pipeline would."""
    from storage.db import get_engine
    from storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'pulse.db'}"
    upgrade(url)
    config = tmp_path / "pulse.yml"
    config.write_text("workspace:\n  timezone: Pacific/Auckland\n")
    env = {"DATABASE_URL": url, "PULSE_CONFIG": str(config)}
    with time_machine.travel(datetime(2025, 6, 30, 23, 30, tzinfo=UTC), tick=False):
        result = runner.invoke(app, ["score"], env=env)
    get_engine(url).dispose()
    assert result.exit_code == 0, result.output
    assert "as of 2025-07-01" in result.output
