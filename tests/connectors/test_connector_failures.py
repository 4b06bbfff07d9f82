"""How connectors fail: an untrusted TLS certificate fails at once, with what to set; API
errors read as one line naming the system, the call and what to do.

The TLS tests run the real client libraries (requests for Salesforce, urllib3 for HubSpot,
the Stripe library) against an HTTPS server on 127.0.0.1 with a self-signed certificate.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from fakes.hubspot_api import FakeHubSpot
from fakes.salesforce import FakeSalesforce, error
from fakes.tls import SelfSignedServer

from connectors.hubspot import HubSpotConnector
from connectors.salesforce import SalesforceConnector
from connectors.stripe_billing import StripeConnector
from pulse.kernel.config import parse_config
from pulse.kernel.errors import UserFacingError, one_line

CONFIG = parse_config({"sources": {"salesforce": {}, "hubspot": {}, "stripe": {}}})


@pytest.fixture
def untrusted(tmp_path: Path) -> Iterator[SelfSignedServer]:
    with SelfSignedServer(tmp_path) as server:
        yield server


@pytest.fixture
def fake_salesforce(salesforce_org: FakeSalesforce) -> FakeSalesforce:
    return salesforce_org


def _salesforce(org: FakeSalesforce) -> SalesforceConnector:
    return SalesforceConnector(CONFIG, env=org.env_token, sleep=lambda _: None)


# --- TLS --------------------------------------------------------------------------------


def test_salesforce_untrusted_certificate_fails_at_once_and_names_requests_ca_bundle(
    untrusted: SelfSignedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"SALESFORCE_INSTANCE_URL": untrusted.base_url, "SALESFORCE_ACCESS_TOKEN": "00Dx!t"}
    slept: list[float] = []
    with pytest.raises(requests.exceptions.SSLError) as caught:
        list(SalesforceConnector(CONFIG, env=env, sleep=slept.append).pull(None))
    assert untrusted.connections == 1 and slept == []  # one handshake, no retry
    line = one_line(caught.value)
    assert line.startswith("Salesforce User query: TLS certificate of 127.0.0.1 not trusted (")
    assert "set REQUESTS_CA_BUNDLE" in line and "network error" not in line

    # what the line says to do works: the same pull now reaches the server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(untrusted.cert_path))
    batches = list(SalesforceConnector(CONFIG, env=env, sleep=slept.append).pull(None))
    assert [b.entity for b in batches] == ["owners", "accounts", "contacts", "opportunities"]
    assert any("FROM+User" in path for path in untrusted.paths)


def test_hubspot_untrusted_certificate_fails_at_once_and_names_ssl_cert_file(
    untrusted: SelfSignedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-0000")
    monkeypatch.setenv("HUBSPOT_API_URL", untrusted.base_url)
    slept: list[float] = []
    with pytest.raises(Exception) as caught:  # noqa: B017 - urllib3's, as the client raises it
        list(HubSpotConnector(CONFIG, sleep=slept.append).pull(None))
    assert untrusted.connections == 1 and slept == []
    line = one_line(caught.value)
    assert line.startswith("HubSpot owners: TLS certificate of 127.0.0.1 not trusted (")
    assert "set SSL_CERT_FILE" in line

    monkeypatch.setenv("SSL_CERT_FILE", str(untrusted.cert_path))  # urllib3: OpenSSL's store
    list(HubSpotConnector(CONFIG, sleep=slept.append).pull(None))
    assert any(path.startswith("/crm/v3/owners") for path in untrusted.paths)


def test_stripe_untrusted_certificate_fails_at_once(
    untrusted: SelfSignedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_untrusted")
    monkeypatch.setenv("STRIPE_API_BASE", untrusted.base_url)
    slept: list[float] = []
    with pytest.raises(UserFacingError) as caught:
        list(StripeConnector(CONFIG, sleep=slept.append).pull(None))
    assert untrusted.connections == 1 and slept == []
    line = one_line(caught.value)
    assert line.startswith("Stripe list customers: TLS certificate of 127.0.0.1 not trusted (")
    assert "own CA bundle" in line and "sk_test" not in line


# --- API errors in one line ---------------------------------------------------------------


def test_salesforce_refusal_names_the_call_without_the_query_url(
    fake_salesforce: FakeSalesforce,
) -> None:
    fake_salesforce.fail("User", (400, {}, error("MALFORMED_QUERY", "unexpected token: FROM")))
    with pytest.raises(Exception) as caught:  # noqa: B017 - simple-salesforce's own type
        list(_salesforce(fake_salesforce).pull(None))
    assert "SELECT" in str(caught.value)  # the library's text: the URL-encoded SOQL
    line = one_line(caught.value)
    assert line == (
        "Salesforce User query: 400 MALFORMED_QUERY: unexpected token: FROM. Check the fields "
        "mapped in sources.salesforce (pulse crm check lists them)."
    )


def test_salesforce_server_errors_say_how_many_attempts(
    fake_salesforce: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    fake_salesforce.fail("User", *[(503, {"Retry-After": "0"}, error("SERVER_UNAVAILABLE", "x"))]
                         * 5)
    with caplog.at_level(logging.WARNING, "pulse.connectors.retry"), pytest.raises(Exception) as caught:  # noqa: B017,E501
        list(_salesforce(fake_salesforce).pull(None))
    line = one_line(caught.value)
    assert line.startswith("Salesforce User query: 503 SERVER_UNAVAILABLE: x after 5 attempts. ")
    assert "status.salesforce.com" in line
    said = [r.getMessage() for r in caplog.records]
    assert said[-1] == "Salesforce User query: 503 server error; giving up after 5 attempts"
    assert not any("attempt 6" in s for s in said)
    assert sum("retrying in" in s for s in said) == 4


def test_expired_salesforce_token_is_one_line_with_what_to_set(
    fake_salesforce: FakeSalesforce,
) -> None:
    fake_salesforce.expire_session()
    with pytest.raises(UserFacingError) as caught:
        list(_salesforce(fake_salesforce).pull(None))
    assert caught.value.line.startswith(
        "Salesforce User query: access token expired or invalid (401 INVALID_SESSION_ID). "
        "Set a fresh SALESFORCE_ACCESS_TOKEN"
    )


def test_hubspot_server_error_is_one_line_without_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeHubSpot() as fake:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", fake.token)
        monkeypatch.setenv("HUBSPOT_API_URL", fake.base_url)
        fake.fail("/crm/v3/owners", 500, times=5, retry_after="0")
        with pytest.raises(Exception) as caught:  # noqa: B017 - the client's ApiException
            list(HubSpotConnector(CONFIG, sleep=lambda _: None).pull(None))
    assert "HTTP response headers" in str(caught.value)  # the library's own text
    line = one_line(caught.value)
    assert line.startswith("HubSpot owners: 500 INJECTED: injected 500 after 5 attempts. ")
    assert "header" not in line.lower() and fake.token not in line
