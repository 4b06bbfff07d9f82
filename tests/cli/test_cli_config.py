"""`pulse config example`: the annotated example configuration, printed or written."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from pulse.cli.main import app
from pulse.kernel.config import load_config

runner = CliRunner()
EXAMPLE = Path(__file__).parents[2] / "pulse.example.yml"


def test_prints_the_committed_example() -> None:
    result = runner.invoke(app, ["config", "example"])
    assert result.exit_code == 0, result.output
    assert result.stdout == EXAMPLE.read_text()
    assert "bulk_threshold: 2000" in result.stdout  # the Salesforce section, commented out
    assert yaml.safe_load(result.stdout)["sources"] == {"sample": {
        "seed": 42, "end_date": None, "accounts": 500, "days": 180}}


def test_writes_a_file_pulse_starts_with(tmp_path: Path) -> None:
    target = tmp_path / "pulse.yml"
    result = runner.invoke(app, ["config", "example", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {target}" in result.stdout.replace("\n", "")
    assert load_config(target).scoring.weights.seats == 20
