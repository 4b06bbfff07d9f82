"""`pulse crm check` and `pulse writeback` end to end: CLI -> connector -> client -> CRM fake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import time_machine
from factories import add_snapshot
from fakes.hubspot_api import FakeHubSpot
from fakes.salesforce import FakeSalesforce
from sqlalchemy import select
from typer.testing import CliRunner

from pulse.cli.main import app
from pulse.kernel.records import Batch
from storage.db import session_factory
from storage.loader import load_batch
from storage.models import Account

runner = CliRunner()
NOW = datetime(2026, 11, 25, 6, 0)


def _workspace(tmp_path: Path, db_url: str, crm: str, ids: list[str]) -> dict[str, str]:
    """A pulse.yml naming the CRM, and scored accounts carrying that CRM's record ids."""
    config = tmp_path / "pulse.yml"
    config.write_text(f"sources:\n  {crm}: {{}}\n")
    with session_factory(db_url)() as session:
        load_batch(session, crm, Batch("accounts", [
            {"external_id": i, "name": f"Co {i}", f"{crm}_id": i} for i in ids
        ]))
        for account in session.scalars(select(Account)):
            add_snapshot(session, account.id, date(2026, 11, 24), 42.0, computed_at=NOW,
                         tier="at_risk", renewal_risk="high", renewal_risk_score=70.0,
                         expansion_score=5.0, flush=False)
        session.commit()
    return {"DATABASE_URL": db_url, "PULSE_CONFIG": str(config), "COLUMNS": "200"}


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as server:
        yield server


def test_hubspot_check_then_writeback_then_nothing_to_send(
    hubspot: FakeHubSpot, db_url: str, tmp_path: Path
) -> None:
    for h in ("11", "12"):
        hubspot.put("companies", h, NOW, name=f"Co {h}")
    env = _workspace(tmp_path, db_url, "hubspot", ["11", "12", "404"])
    env |= {"HUBSPOT_ACCESS_TOKEN": hubspot.token, "HUBSPOT_API_URL": hubspot.base_url}

    check = runner.invoke(app, ["crm", "check"], env=env)
    assert check.exit_code == 1, check.output
    assert "health_score" in check.output and "missing" in check.output

    first = runner.invoke(app, ["writeback"], env=env)
    assert first.exit_code == 1, first.output  # company 404 does not exist in HubSpot
    assert "hubspot: 2 of 3 sent updated (1 request(s) + 1 to read the CRM's current values " \
        "+ 10 to read or set up the CRM's fields)" in first.output
    assert "Co 404" in first.output
    assert hubspot.objects["companies"]["11"]["properties"]["health_tier"] == "At risk"

    after = runner.invoke(app, ["crm", "check"], env=env)  # created by the writeback
    assert "health_score: number (expected number) ok" in after.output
    assert "customer_health: property group (expected property group) ok" in after.output
    hubspot.requests.clear()
    hubspot.put("companies", "404", NOW, name="Co 404")  # restored in HubSpot
    second = runner.invoke(app, ["writeback"], env=env)
    assert second.exit_code == 0, second.output
    assert "1 of 1 sent updated (1 request(s) + 1 to read the CRM's current values), " \
        "2 unchanged" in second.output
    assert len(hubspot.requests) == 2

    hubspot.requests.clear()
    third = runner.invoke(app, ["writeback"], env=env)
    assert "0 of 0 sent updated (0 request(s) + 1 to read the CRM's current values), " \
        "3 unchanged" in third.output
    assert [r.path for r in hubspot.requests] == ["/crm/v3/objects/companies/batch/read"]


def test_salesforce_check_names_a_missing_field_and_writeback_updates_accounts(
    db_url: str, tmp_path: Path, salesforce_org: FakeSalesforce
) -> None:
    org = salesforce_org
    env = _workspace(tmp_path, db_url, "salesforce", ["001A", "001B"]) | org.env_token
    del org.account_fields["Renewal_Risk__c"]
    check = runner.invoke(app, ["crm", "check"], env=env)
    assert check.exit_code == 1, check.output
    assert "Renewal_Risk__c" in check.output and "missing" in check.output

    refused = runner.invoke(app, ["writeback", "--system", "salesforce"], env=env)
    assert refused.exit_code == 1
    assert "lacks the health fields Renewal_Risk__c" in refused.output
    assert org.updated == {} and org.collection_requests == 0

    org.account_fields["Renewal_Risk__c"] = ("picklist", 255)  # the admin adds it
    result = runner.invoke(app, ["writeback", "--system", "salesforce"], env=env)
    assert result.exit_code == 0, result.output
    assert "salesforce: 2 of 2 sent updated" in result.output
    assert org.updated["001A"]["Health_Score__c"] == 42
    assert org.updated["001B"]["Renewal_Risk__c"] == "high"

    again = runner.invoke(app, ["writeback", "--system", "salesforce"], env=env)
    assert "0 of 0 sent updated (0 request(s) + 1 to read the CRM's current values " \
        "+ 1 to read or set up the CRM's fields), 2 unchanged" in again.output


def test_writeback_without_credentials_names_the_variable(db_url: str, tmp_path: Path) -> None:
    env = _workspace(tmp_path, db_url, "hubspot", ["11"]) | {"HUBSPOT_ACCESS_TOKEN": ""}
    result = runner.invoke(app, ["writeback"], env=env)
    assert result.exit_code == 1
    assert "HUBSPOT_ACCESS_TOKEN is not set" in result.output


def _check(tmp_path: Path, sources: str, env: dict[str, str]) -> str:
    """`pulse crm check` with ``sources`` as the sources section of pulse.yml."""
    config = tmp_path / "pulse.yml"
    config.write_text("sources:\n" + "".join(f"  {line}\n" for line in sources.splitlines()))
    result = runner.invoke(app, ["crm", "check"],
                           env={"PULSE_CONFIG": str(config), "COLUMNS": "200", **env})
    return result.output


@pytest.mark.parametrize(
    ("sources", "line"),
    [
        ("hubspot: {}", "ARR: from closed-won deals (hs_arr) won in the last 365 days"),
        ("hubspot: {deal_arr_property: amount}", "ARR: from closed-won deals (amount)"),
        ("hubspot: {company_properties: {arr: arr_custom}}",
         "ARR: from HubSpot company property arr_custom\n"),
        ("hubspot: {company_properties: {arr: arr_gone}}",
         "ARR: from HubSpot company property arr_gone — but HubSpot has no company "
         "property arr_gone: create it, or remove sources.hubspot.company_properties.arr"),
        ("hubspot: {}\nstripe: {}", "ARR: from Stripe subscriptions"),
        ("hubspot: {arr_from_deals: false}",
         "ARR: none mapped — set sources.hubspot.company_properties.arr"),
    ],
)
def test_hubspot_check_says_where_arr_comes_from(
    hubspot: FakeHubSpot, tmp_path: Path, sources: str, line: str
) -> None:
    hubspot.define_property("arr_custom", "number")
    output = _check(tmp_path, sources, {"HUBSPOT_ACCESS_TOKEN": hubspot.token,
                                        "HUBSPOT_API_URL": hubspot.base_url})
    assert line in output, output
    assert output.count("ARR:") == 1
    assert "annualrevenue" not in output


@pytest.mark.parametrize(
    ("sources", "has_field", "line"),
    [
        ("salesforce: {}", True, "ARR: from Salesforce Account field ARR__c\n"),
        ("salesforce: {}", False,
         "ARR: from Salesforce Account field ARR__c — but Salesforce has no Account "
         "field ARR__c: create it, or remove sources.salesforce.account_fields.arr"),
        ("salesforce: {account_fields: {tier: Tier__c}}", True,
         "ARR: from closed-won opportunities (Amount) won in the last 365 days"),
        ("salesforce: {account_fields: {tier: Tier__c}}\nstripe: {}", True,
         "ARR: from Stripe subscriptions"),
    ],
)
def test_salesforce_check_says_where_arr_comes_from(
    tmp_path: Path, sources: str, has_field: bool, line: str, salesforce_org: FakeSalesforce
) -> None:
    org = salesforce_org
    if not has_field:
        del org.account_fields["ARR__c"]
    output = _check(tmp_path, sources, org.env_token)
    assert line in output, output


def test_sync_takes_arr_from_won_deals_as_crm_check_says(
    hubspot: FakeHubSpot, db_url: str, tmp_path: Path
) -> None:
    """Nothing mapped, no Stripe: `pulse sync` sums the deals won in the last year into
    the company's ARR (not its annualrevenue) and records it in the ledger."""
    hubspot.put("companies", "7", NOW, name="Acme", annualrevenue="5000000")
    hubspot.put("deals", "d1", NOW, dealname="Acme 2026", dealstage="closedwon",
                hs_is_closed="true", hs_is_closed_won="true", hs_arr="36000",
                closedate="2026-02-01T00:00:00.000Z")
    hubspot.deal_companies = {"d1": ["7"]}
    config = tmp_path / "pulse.yml"
    config.write_text("sources:\n  hubspot: {}\n")
    env = {"DATABASE_URL": db_url, "PULSE_CONFIG": str(config), "COLUMNS": "200",
           "HUBSPOT_ACCESS_TOKEN": hubspot.token, "HUBSPOT_API_URL": hubspot.base_url}
    with time_machine.travel(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), tick=False):
        synced = runner.invoke(app, ["sync"], env=env)
    assert synced.exit_code == 0, synced.output
    assert "ARR: hubspot from deals, 1 account(s) changed" in synced.output
    assert "ARR ledger: 1 change(s) recorded" in synced.output
    with session_factory(db_url)() as session:
        assert session.scalars(select(Account.arr)).one() == 36000.0
    check = runner.invoke(app, ["crm", "check"], env=env)
    assert "ARR: from closed-won deals (hs_arr) won in the last 365 days" in check.output
