"""`pulse people`: every owner, their Slack user and where it came from, manager and team,
who is unmatched and why; `--refresh` asks Slack (the fake) first; `--json` for tooling."""

from __future__ import annotations

import json
from pathlib import Path

from fakes.harness import TOKEN
from fakes.slack_api import FakeSlack
from typer.testing import CliRunner

from pulse.cli.main import app
from pulse.kernel.records import Batch
from storage.db import session_factory
from storage.loader import load_batch

runner = CliRunner()


def _workspace(tmp_path: Path, db_url: str) -> dict[str, str]:
    config = tmp_path / "pulse.yml"
    config.write_text(
        "sources:\n  salesforce: {}\n"
        "slack:\n  admin_channel: C0ADMIN\n"
        "people:\n  slack_users:\n    005CY: U0CY\n"
    )
    with session_factory(db_url)() as session:
        load_batch(session, "salesforce", Batch("owners", [
            {"external_id": "005M", "crm_owner_id": "005M", "name": "Maria Manager",
             "email": "maria@vendor.io"},
            {"external_id": "005A", "crm_owner_id": "005A", "name": "Ana Csm",
             "email": "ana@vendor.io", "manager_external_id": "005M"},
            {"external_id": "005U", "crm_owner_id": "005U", "name": "Uma Unmatched",
             "email": "uma@vendor.io", "manager_external_id": "005M"},
            {"external_id": "005N", "crm_owner_id": "005N", "name": "Ned Nomail",
             "email": None},
            {"external_id": "005CY", "crm_owner_id": "005CY", "name": "Cy Override",
             "email": "cy@vendor.io"},
        ]))
        session.commit()
    return {"DATABASE_URL": db_url, "PULSE_CONFIG": str(config), "COLUMNS": "220",
            "SLACK_BOT_TOKEN": ""}


def test_people_lists_every_owner_and_why_the_unmatched_are(db_url: str, tmp_path: Path) -> None:
    env = _workspace(tmp_path, db_url)
    before = runner.invoke(app, ["people"], env=env)
    assert before.exit_code == 0, before.output
    assert "Ana Csm <ana@vendor.io>: Slack not configured (SLACK_BOT_TOKEN not set)" in (
        before.output)

    with FakeSlack(token=TOKEN) as slack:
        slack.add_user("U0MARIA", "maria@vendor.io", "Maria")
        slack.add_user("U0ANA", "ana@vendor.io", "Ana")
        env |= {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.base_url}
        result = runner.invoke(app, ["people", "--refresh"], env=env)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "people: 3 owner(s) with a Slack user, 2 without (1 from overrides); 3 lookup(s)" in out
    assert "Maria Manager (manager)" in out and "U0ANA" in out and "email lookup" in out
    assert "U0CY" in out and "override" in out
    assert ("2 owner(s) without a Slack user (their alerts go to the catch-all channel: "
            "C0ADMIN)") in out
    assert "Uma Unmatched <uma@vendor.io>: users_not_found: no Slack user has this email" in out
    assert "Ned Nomail <no email>: no email in the CRM" in out

    listed = json.loads(runner.invoke(app, ["people", "--json"], env=env).output)
    by_name = {p["name"]: p for p in listed}
    assert by_name["Ana Csm"]["slack_user_id"] == "U0ANA"
    assert by_name["Ana Csm"]["manager"] == "Maria Manager"
    assert by_name["Ana Csm"]["slack_from"] == "email lookup" and by_name["Ana Csm"]["checked_at"]
    assert by_name["Uma Unmatched"]["unmatched_reason"].startswith("users_not_found")
    assert by_name["Maria Manager"]["is_manager"] is True


def test_sync_matches_owners_and_says_when_slack_is_not_configured(
    db_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "pulse.yml"
    config.write_text("sources:\n  sample:\n    accounts: 20\n    days: 30\n"
                      "    end_date: 2026-03-02\n")
    env = {"DATABASE_URL": db_url, "PULSE_CONFIG": str(config), "COLUMNS": "200",
           "SLACK_BOT_TOKEN": ""}
    result = runner.invoke(app, ["sync"], env=env)
    assert result.exit_code == 0, result.output
    assert "people: " in result.output
    assert "Slack not configured: cache and overrides only" in result.output
    listed = json.loads(runner.invoke(app, ["people", "--json"], env=env).output)
    assert listed and all(p["slack_from"] == "CRM" for p in listed)  # the sample carries ids
    assert any(p["is_manager"] for p in listed)
