"""Errors a user can fix end in one line and exit code 2, found before any long work
(an output path that cannot be written, a bad date, a missing variable, a database that
cannot be reached); a command that only reads creates no database file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pulse.cli.main import app
from storage.db import session_scope
from storage.models import PipelineRun

ROOT = Path(__file__).parents[2]
runner = CliRunner()
BACKTEST = ["backtest", "--from", "2026-01-31", "--to", "2026-03-31"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pulse(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`pulse ...` in its own interpreter, as a user's terminal runs it."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PULSE_CONFIG")}
    return subprocess.run(
        [sys.executable, "-m", "pulse.cli", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
        env={**base, "PYTHONPATH": str(ROOT), "COLUMNS": "80", **env},
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def unreachable(tmp_path: Path) -> dict[str, str]:
    """A PostgreSQL URL nothing listens on: any command that got to the database fails.
    (No pulse.yml in ``tmp_path``, the commands' folder: the defaults apply.)"""
    return {"DATABASE_URL": f"postgresql+psycopg://pulse:pw@127.0.0.1:{_closed_port()}/pulse"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*BACKTEST, "--chart", "/no/such/dir/x.png"],
         "--chart: folder /no/such/dir does not exist; create it or give another path"),
        ([*BACKTEST, "--json", "/no/such/dir/figures.json"],
         "--json: folder /no/such/dir does not exist; create it or give another path"),
        ([*BACKTEST, "--chart", "."], "--chart: . is a directory; give a file name"),
        (["config", "example", "--output", "/no/such/dir/pulse.yml"],
         "--output: folder /no/such/dir does not exist; create it or give another path"),
    ],
)
def test_an_output_path_that_cannot_be_written_stops_before_any_work(
    tmp_path: Path, unreachable: dict[str, str], args: list[str], message: str
) -> None:
    # PULSE_CONFIG names no file and the database is unreachable: the path comes first.
    result = _pulse(tmp_path, {**unreachable, "PULSE_CONFIG": str(tmp_path / "none.yml")},
                    *args)
    assert result.returncode == 2
    assert _one_line(result.stderr) == message
    assert result.stdout == ""


def test_a_bad_date_is_one_line_and_exit_2(tmp_path: Path, unreachable: dict[str, str]) -> None:
    result = _pulse(tmp_path, unreachable, "backtest", "--from", "2026-02-30", "--to",
                    "2026-03-31", "--chart", str(tmp_path / "chart.png"))
    assert result.returncode == 2
    assert _one_line(result.stderr) == "--from: '2026-02-30' is not a date (expected YYYY-MM-DD)"
    assert not (tmp_path / "chart.png").exists()


def test_an_unreachable_database_stops_the_backtest_in_one_line(
    tmp_path: Path, unreachable: dict[str, str]
) -> None:
    result = _pulse(tmp_path, unreachable, *BACKTEST)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert line.startswith("Error: Database: ") and "Check DATABASE_URL" in line
    assert "pw@" not in line

    debug = _pulse(tmp_path, unreachable, "--debug", *BACKTEST)
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.splitlines()[-1] == line


@pytest.mark.parametrize(
    ("command", "missing", "given"),
    [("digest", "SLACK_BOT_TOKEN", {}),
     ("serve", "SLACK_SIGNING_SECRET", {"SLACK_BOT_TOKEN": "xoxb-0-not-a-token"})],
)
def test_a_missing_variable_is_named_in_one_line(
    tmp_path: Path, db_url: str, command: str, missing: str, given: dict[str, str]
) -> None:
    result = _pulse(tmp_path, {"DATABASE_URL": db_url, missing: "", **given}, command)
    assert result.returncode == 2
    assert _one_line(result.stderr) == f"{missing} is not set (see docs/configuration.md)"


@pytest.mark.parametrize(
    "args",
    [["sources"], ["runs"], ["explain", "Acme"], ["people"], ["identities"], ["audit"],
     ["metrics"], ["alerts"], BACKTEST, ["tune", "--as-of", "2026-01-31"]],
    ids=lambda args: args[0],
)
def test_a_command_that_reads_creates_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args, env={"DATABASE_URL": None, "PULSE_CONFIG": None,
                                           "COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"No database at {tmp_path / 'pulse.db'}: run `pulse demo` for sample data, or "
        "`pulse db upgrade` then `pulse sync` for yours."
    )
    assert list(tmp_path.iterdir()) == []


def test_runs_lists_the_newest_runs_first(db_url: str) -> None:
    """`pulse runs` reads the table itself (it starts without loading the services)."""
    with session_scope(db_url) as session:
        for day, status in ((1, "ok"), (2, "failed"), (3, "ok")):
            session.add(PipelineRun(
                run_date=date(2026, 12, day), kind="scheduled", status=status,
                started_at=datetime(2026, 12, day, 6), finished_at=datetime(2026, 12, day, 6, 1),
                steps=[{"name": "sync", "status": status, "detail": "", "seconds": 1.0}]))
    result = runner.invoke(app, ["runs", "--limit", "2"],
                           env={"DATABASE_URL": db_url, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    days = [day for day in ("2026-12-01", "2026-12-02", "2026-12-03") if day in result.output]
    assert days == ["2026-12-02", "2026-12-03"]  # --limit 2: the two newest
    assert result.output.index("2026-12-03") < result.output.index("2026-12-02")
    assert "sync:failed" in result.output
