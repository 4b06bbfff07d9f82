"""`pulse --help` starts without loading what only some commands need.

Building the app must not import the data libraries, the ORM, Slack's SDK or the
configuration's validation library: a user waits for each of them on every command.
Checked in a fresh interpreter, since this test process has imported them all already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
HEAVY = (
    "pandas",
    "numpy",
    "matplotlib",
    "sqlalchemy",
    "slack_sdk",
    "slack_bolt",
    "pydantic",
    "scoring",
    "connectors",
    "storage",
    "bot",
    "digests",
    "pulse.services",
    "pulse.jobs",
)


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(
        name for name in modules
        if any(name == heavy or name.startswith(heavy + ".") for heavy in HEAVY)
    )


def test_importing_the_cli_app_loads_no_heavy_module() -> None:
    assert _heavy(_modules_after("import pulse.cli.main")) == []


def test_help_loads_no_heavy_module() -> None:
    code = (
        "from pulse.cli.main import app\n"
        "try:\n"
        "    app(['--help'], prog_name='pulse')\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    assert _heavy(_modules_after(code)) == []


def test_python_dash_m_runs_the_same_app() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pulse.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: pulse" in result.stdout
    for command in ("sync", "score", "serve", "writeback", "backtest", "metrics", "crm"):
        assert f"│ {command} " in result.stdout
