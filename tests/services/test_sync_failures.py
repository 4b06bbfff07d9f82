"""What a failed sync stores: one readable line per failure (the system, the call, what
happened and what to do), never the library's dump of the request or a credential."""

from __future__ import annotations

import pytest
from fakes.hubspot_api import FakeHubSpot
from fakes.salesforce import TOKEN, FakeSalesforce, error
from sqlalchemy import select

from connectors.hubspot import HubSpotConnector
from connectors.salesforce import SalesforceConnector
from pulse.kernel.config import parse_config
from pulse.services.sync import run_sync
from storage.db import session_factory
from storage.models import AuditLog, SyncState

CONFIG = parse_config({"sources": {"salesforce": {}, "hubspot": {}}})


@pytest.fixture
def salesforce(salesforce_org: FakeSalesforce) -> FakeSalesforce:
    return salesforce_org


def _stored(url: str, source: str) -> tuple[str | None, list[str], list[str]]:
    with session_factory(url)() as s:
        state = s.get(SyncState, source)
        assert state is not None and state.last_report is not None
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "sync")).all()
        return state.last_status, state.last_report["errors"], audit[-1].detail["errors"]


def _readable(line: str) -> None:
    assert "\n" not in line and len(line) <= 500
    for dump in ("%20", "%2C", "SELECT", "Authorization", "Bearer", "HTTP response headers",
                 TOKEN, "Traceback"):
        assert dump not in line, dump


def test_a_refused_salesforce_query_is_stored_as_one_line(
    salesforce: FakeSalesforce, db_url: str
) -> None:
    salesforce.fail("Account", (400, {}, error("MALFORMED_QUERY", "unexpected token: 'FROM'")))
    connector = SalesforceConnector(CONFIG, env=salesforce.env_token, sleep=lambda _: None)
    report = run_sync(db_url, CONFIG, "salesforce", connector=connector)
    status, errors, audited = _stored(db_url, "salesforce")
    assert status == "failed" and errors == audited == report.errors
    assert errors == [
        "Salesforce Account query: 400 MALFORMED_QUERY: unexpected token: 'FROM'. Check the "
        "fields mapped in sources.salesforce (pulse crm check lists them)."
    ]
    _readable(errors[0])


def test_an_expired_salesforce_token_is_stored_with_what_to_set(
    salesforce: FakeSalesforce, db_url: str
) -> None:
    salesforce.expire_session()
    connector = SalesforceConnector(CONFIG, env=salesforce.env_token, sleep=lambda _: None)
    run_sync(db_url, CONFIG, "salesforce", connector=connector)
    _, errors, _ = _stored(db_url, "salesforce")
    assert errors[0].startswith("Salesforce User query: access token expired or invalid (401 "
                                "INVALID_SESSION_ID). Set a fresh SALESFORCE_ACCESS_TOKEN")
    _readable(errors[0])


def test_a_hubspot_outage_is_stored_with_the_attempts_and_no_headers(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeHubSpot() as fake:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", fake.token)
        monkeypatch.setenv("HUBSPOT_API_URL", fake.base_url)
        fake.fail("/crm/v3/owners", 503, times=5, retry_after="0")
        run_sync(db_url, CONFIG, "hubspot", connector=HubSpotConnector(CONFIG, sleep=lambda _: 0))
    _, errors, _ = _stored(db_url, "hubspot")
    assert errors == [
        "HubSpot owners: 503 INJECTED: injected 503 after 5 attempts. HubSpot may be down or "
        "busy (https://status.hubspot.com); the next run tries again."
    ]
    _readable(errors[0])
    assert fake.token not in errors[0]
