"""How a command ends when something expected fails: one line naming the system, the call
and what to do, exit code 2 (1 for a sync that ran and failed, as before), the traceback
only with `pulse --debug`; and the sync's progress line counts pages truthfully."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.hubspot_api import FakeHubSpot
from fakes.salesforce import FakeSalesforce, stamp
from rich.console import Console
from typer.testing import CliRunner

from pulse.cli.main import app
from pulse.cli.terminal import sync_with_progress
from pulse.kernel.config import parse_config

ROOT = Path(__file__).parents[2]
runner = CliRunner()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, str]:
    """A pulse.yml with HubSpot as the source and a migrated SQLite database."""
    config = tmp_path / "pulse.yml"
    config.write_text("sources:\n  hubspot: {}\n")
    env = {"PULSE_CONFIG": str(config), "DATABASE_URL": f"sqlite:///{tmp_path / 'pulse.db'}",
           "COLUMNS": "200"}
    result = runner.invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    return env


def _pulse(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`pulse ...` in its own interpreter: what a user's terminal shows, logging included."""
    return subprocess.run(
        [sys.executable, "-m", "pulse.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        timeout=120,
    )


def test_an_unreachable_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {"PULSE_CONFIG": str(tmp_path / "none.yml"),
           "DATABASE_URL": f"postgresql://pulse:s3cret@127.0.0.1:{_closed_port()}/pulse"}
    (tmp_path / "none.yml").write_text("{}\n")
    result = runner.invoke(app, ["sources"], env=env)
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: Database: connection failed: ")
    assert "Connection refused" in line and "Check DATABASE_URL" in line
    assert "s3cret" not in result.stderr

    debug = runner.invoke(app, ["--debug", "sources"], env=env)
    assert debug.exit_code == 2
    assert "Traceback (most recent call last)" in debug.stderr
    assert "sqlalchemy.exc.OperationalError" in debug.stderr
    assert debug.stderr.splitlines()[-1] == line


def test_a_refused_api_call_is_one_line_then_shown_by_sources(
    workspace: dict[str, str],
) -> None:
    with FakeHubSpot() as fake:
        fake.fail("/crm/v3/owners", 401, times=2)
        env = {**workspace, "HUBSPOT_ACCESS_TOKEN": "pat-na1-revoked-0000-1111-2222-333344445555",
               "HUBSPOT_API_URL": fake.base_url}
        plain = _pulse(env, "sync", "--source", "hubspot")
        debug = _pulse(env, "--debug", "sync", "--source", "hubspot")
    line = ("HubSpot owners: HubSpot rejected the access token (401 Unauthorized). Check "
            "HUBSPOT_ACCESS_TOKEN (the service key or private app token, not expired or "
            "rotated).")
    assert plain.returncode == 1  # a sync that ran and failed, as before
    assert "Traceback" not in plain.stderr and "Traceback" not in plain.stdout
    assert f"sync of hubspot failed: {line}" in plain.stderr
    assert f"error: {line}" in plain.stdout
    assert "pat-na1-revoked" not in plain.stdout + plain.stderr
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr

    sources = runner.invoke(app, ["sources"], env=workspace)
    assert sources.exit_code == 0
    assert f"hubspot: {line}" in sources.stdout


@pytest.fixture
def salesforce(salesforce_org: FakeSalesforce) -> FakeSalesforce:
    salesforce_org.page_size = 2
    return salesforce_org


def test_the_salesforce_progress_line_counts_every_page(
    salesforce: FakeSalesforce, db_url: str
) -> None:
    for n in range(7):  # 4 pages of 2
        salesforce.add("Account", {"Id": f"001P{n:04d}", "Name": f"P{n}", "Website": None,
                                   "OwnerId": None, "SystemModstamp": stamp(3, n)})
    cfg = parse_config({"sources": {"salesforce": {}}}).model_copy(
        update={"database_url": db_url})
    console = Console(record=True, width=200, force_terminal=False)
    [report] = sync_with_progress(console, cfg, ["salesforce"], env=salesforce.env_token,
                                  sleep=lambda _: None)
    assert report.status == "ok", report.errors
    shown = console.export_text()
    assert "accounts: 7 records (4 pages)" in shown
    assert "owners: 0 records (1 page)" in shown
