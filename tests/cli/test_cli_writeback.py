"""`pulse writeback` says how many values edited by hand in the CRM it put back."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from factories import add_snapshot
from fakes.hubspot_api import FakeHubSpot
from sqlalchemy import select
from typer.testing import CliRunner

from pulse.cli.main import app
from pulse.kernel.records import Batch
from storage.db import session_factory
from storage.loader import load_batch
from storage.models import Account

runner = CliRunner()
NOW = datetime(2026, 11, 25, 6, 0)


def test_writeback_counts_hand_edits_put_back(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "pulse.yml"
    config.write_text("sources:\n  hubspot: {}\n")
    with session_factory(db_url)() as session:
        load_batch(session, "hubspot", Batch("accounts", [
            {"external_id": i, "name": f"Co {i}", "hubspot_id": i} for i in ("11", "12")
        ]))
        for account in session.scalars(select(Account)):
            add_snapshot(session, account.id, date(2026, 11, 24), 72.25, computed_at=NOW,
                         flush=False)
        session.commit()
    with FakeHubSpot() as hubspot:
        for company_id in ("11", "12"):
            hubspot.put("companies", company_id, NOW, name=f"Co {company_id}")
        env = {"DATABASE_URL": db_url, "PULSE_CONFIG": str(config), "COLUMNS": "200",
               "HUBSPOT_ACCESS_TOKEN": hubspot.token, "HUBSPOT_API_URL": hubspot.base_url}
        first = runner.invoke(app, ["writeback"], env=env)
        assert first.exit_code == 0, first.output
        assert hubspot.objects["companies"]["11"]["properties"]["health_score"] == 72.2

        hubspot.edit("11", health_score="80", health_tier="Healthy", renewal_risk="high")
        second = runner.invoke(app, ["writeback"], env=env)
        assert second.exit_code == 0, second.output
        assert "hubspot: 1 of 1 sent updated (1 request(s) + 1 to read the CRM's current " \
            "values), 3 value(s) edited in the CRM put back, 1 unchanged" in second.output
        assert hubspot.objects["companies"]["11"]["properties"]["health_score"] == 72.2
