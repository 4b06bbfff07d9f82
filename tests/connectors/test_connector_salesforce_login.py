"""Salesforce logins against the fake org's token endpoints (HTTPS on 127.0.0.1, the JWT
assertion verified with the app's public key): JWT bearer, client credentials, the errors an
admin sees, and a token renewed in the middle of a sync or a writeback."""

from __future__ import annotations

import re
import socket
import time
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from factories import add_snapshot
from fakes.salesforce import MY_DOMAIN, FakeSalesforce, stamp
from fakes.salesforce_oauth import CONSUMER_KEY, CONSUMER_SECRET, INTEGRATION_USER
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.salesforce import (
    CRM,
    Credentials,
    SalesforceClient,
    SalesforceConfigError,
    SalesforceConnector,
    SalesforceLoginError,
)
from pulse.kernel.config import parse_config
from pulse.kernel.records import Batch
from pulse.services.sync import run_sync
from storage.db import session_factory
from storage.loader import load_batch
from storage.models import Account, CrmWriteback

CONFIG = parse_config({"sources": {"salesforce": {}}})
NOW = datetime(2026, 11, 25, 6, 0)


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    """The key pair whose certificate the admin uploaded to the connected app."""
    return _pem_pair()


@pytest.fixture
def fake(salesforce_org: FakeSalesforce, app_key: tuple[str, str]) -> FakeSalesforce:
    salesforce_org.public_key = app_key[1]
    return salesforce_org


@pytest.fixture
def jwt_env(app_key: tuple[str, str], tmp_path: Path) -> dict[str, str]:
    key_file = tmp_path / "pulse-salesforce.key"
    key_file.write_text(app_key[0])
    return {
        "SALESFORCE_CLIENT_ID": CONSUMER_KEY,
        "SALESFORCE_USERNAME": INTEGRATION_USER,
        "SALESFORCE_PRIVATE_KEY_FILE": str(key_file),
    }


CLIENT_ENV = {
    "SALESFORCE_CLIENT_ID": CONSUMER_KEY,
    "SALESFORCE_CLIENT_SECRET": CONSUMER_SECRET,
    "SALESFORCE_LOGIN_URL": f"https://{MY_DOMAIN}",
}


@pytest.fixture
def my_domain_env(fake: FakeSalesforce) -> dict[str, str]:
    """The client-credentials login at the fake org's My Domain listener."""
    return {**CLIENT_ENV, "SALESFORCE_LOGIN_URL": fake.instance_url}


def seed(fake: FakeSalesforce, accounts: int) -> list[str]:
    fake.add("User", {"Id": "005C", "Name": "Carl Csm", "Email": "carl@vendor.io",
                      "ManagerId": None, "IsActive": True, "SystemModstamp": stamp(1)})
    ids = [f"001A{i:05d}" for i in range(accounts)]
    fake.add("Account", *(
        {"Id": record_id, "Name": f"Acme {i}", "Website": f"acme{i}.example", "OwnerId": "005C",
         "SystemModstamp": stamp(2, hour=i // 60, minute=i % 60)}
        for i, record_id in enumerate(ids)
    ))
    return ids


def pull(env: dict[str, str]) -> dict[str, list[Batch]]:
    out: dict[str, list[Batch]] = {}
    connector = SalesforceConnector(CONFIG, env=env, sleep=lambda _: None)
    for batch in connector.pull(None):
        out.setdefault(batch.entity, []).append(batch)
    return out


# --- JWT bearer ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", [None, "login", "test", "instance"],
                         ids=["default", "production", "sandbox", "my-domain"])
def test_jwt_bearer_login_reads_the_org(
    fake: FakeSalesforce, jwt_env: dict[str, str], host: str | None
) -> None:
    """Unset, SALESFORCE_LOGIN_URL is https://login.salesforce.com (reached through the
    fake's proxy); else the fake's listener for that host (My Domain with a slash)."""
    seed(fake, 3)
    urls = {"login": fake.login_url, "test": fake.sandbox_url, "instance": fake.instance_url + "/"}
    login_url = urls.get(host or "")
    if login_url:
        jwt_env["SALESFORCE_LOGIN_URL"] = login_url
    batches = pull(jwt_env)
    assert len(batches["accounts"][0].records) == 3

    [request] = fake.token_requests  # one login for the whole sync
    aud = (login_url or "https://login.salesforce.com").rstrip("/")
    assert request["host"] == aud.removeprefix("https://")
    assert request["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert request["header"]["alg"] == "RS256"
    claims = request["claims"]  # the fake verified the signature with the public key
    assert (claims["iss"], claims["sub"], claims["aud"]) == (CONSUMER_KEY, INTEGRATION_USER, aud)
    assert 0 < claims["exp"] - time.time() <= 180
    # the API calls went to the instance_url the token endpoint answered, with its token
    api = [c for c in fake.calls if "/services/data/" in c.request.url]
    assert api and all(c.request.url.startswith(fake.instance_url) for c in api)
    assert {c.request.headers["Authorization"] for c in api} == {"Bearer 00Dfake!oauth-1"}


def test_jwt_key_may_be_given_as_pem_text(
    fake: FakeSalesforce, app_key: tuple[str, str]
) -> None:
    seed(fake, 1)
    env = {"SALESFORCE_CLIENT_ID": CONSUMER_KEY, "SALESFORCE_USERNAME": INTEGRATION_USER,
           "SALESFORCE_PRIVATE_KEY": app_key[0].replace("\n", "\\n")}  # one .env line
    assert len(pull(env)["accounts"][0].records) == 1


def test_jwt_signed_with_another_key_gives_one_line_naming_the_certificate(
    fake: FakeSalesforce, jwt_env: dict[str, str]
) -> None:
    seed(fake, 1)
    Path(jwt_env["SALESFORCE_PRIVATE_KEY_FILE"]).write_text(_pem_pair()[0])
    with pytest.raises(SalesforceLoginError) as caught:
        pull(jwt_env)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Salesforce JWT bearer login: refused (400 invalid_grant: "
                              "invalid assertion). The JWT signature")
    assert "certificate" in message and "SALESFORCE_PRIVATE_KEY_FILE" in message
    assert not fake.queries  # nothing read with a login that failed


def test_user_not_pre_authorized_says_what_the_admin_must_do(
    fake: FakeSalesforce, jwt_env: dict[str, str]
) -> None:
    jwt_env["SALESFORCE_USERNAME"] = "someone.else@example.com"
    with pytest.raises(SalesforceLoginError, match=(
        r"^Salesforce JWT bearer login: refused \(400 invalid_grant: user hasn't approved "
        r"this consumer\)\. Pre-authorize the integration user.*profile or permission set\.$"
    )):
        pull(jwt_env)


def test_unknown_consumer_key_and_wrong_audience_are_named(
    fake: FakeSalesforce, jwt_env: dict[str, str]
) -> None:
    with pytest.raises(SalesforceLoginError, match="SALESFORCE_CLIENT_ID is not the consumer"):
        pull({**jwt_env, "SALESFORCE_CLIENT_ID": "3MVG9other"})
    jwt_env["SALESFORCE_LOGIN_URL"] = fake.login_url
    # a login host Salesforce knows by another name (as behind a proxy) wants that as aud
    fake.audiences["login"] = "https://login.salesforce.com"
    with pytest.raises(SalesforceLoginError, match="Set SALESFORCE_LOGIN_URL to"):
        pull(jwt_env)


# --- client credentials -------------------------------------------------------------------


def test_client_credentials_login_reads_the_org(
    fake: FakeSalesforce, my_domain_env: dict[str, str]
) -> None:
    seed(fake, 2)
    batches = pull(my_domain_env)
    assert len(batches["accounts"][0].records) == 2
    [request] = fake.token_requests
    assert request == {"host": fake.instance, "grant_type": "client_credentials",
                       "client_id": CONSUMER_KEY, "client_secret": CONSUMER_SECRET}


def test_wrong_client_secret_gives_one_line(my_domain_env: dict[str, str]) -> None:
    with pytest.raises(SalesforceLoginError) as caught:
        pull({**my_domain_env, "SALESFORCE_CLIENT_SECRET": "not-the-secret"})
    assert str(caught.value) == (
        "Salesforce client credentials login: refused (400 invalid_client: invalid client "
        "credentials). SALESFORCE_CLIENT_SECRET is not the connected app's consumer secret: "
        "copy it again from the app's Consumer Key and Secret page."
    )


def test_client_credentials_at_login_salesforce_com_asks_for_my_domain(
    fake: FakeSalesforce,
) -> None:
    env = {k: v for k, v in CLIENT_ENV.items() if k != "SALESFORCE_LOGIN_URL"}
    with pytest.raises(SalesforceLoginError, match=(
        r"request not supported on this domain\)\. Set SALESFORCE_LOGIN_URL to the org's My "
        r"Domain URL"
    )):
        pull(env)


def test_unreachable_login_host_names_the_login_url(fake: FakeSalesforce) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{probe.getsockname()[1]}"
    env = {**CLIENT_ENV, "SALESFORCE_LOGIN_URL": closed}
    with pytest.raises(SalesforceLoginError, match=(
        rf"^Salesforce login: {re.escape(closed)} could not be reached "
        r"\(ConnectionError\)\. Check SALESFORCE_LOGIN_URL"
    )):
        pull(env)


# --- which login, and what is missing -----------------------------------------------------


def test_which_login_the_variables_choose(jwt_env: dict[str, str]) -> None:
    assert Credentials.from_env(jwt_env).flow == "jwt"
    both = {**jwt_env, "SALESFORCE_CLIENT_SECRET": CONSUMER_SECRET}
    assert Credentials.from_env(both).flow == "jwt"  # the key wins over the secret
    assert Credentials.from_env(CLIENT_ENV).flow == "client_credentials"
    legacy = {**CLIENT_ENV, "SALESFORCE_USERNAME": "me@x.com", "SALESFORCE_PASSWORD": "pw",
              "SALESFORCE_SECURITY_TOKEN": "tok"}
    assert Credentials.from_env(legacy).flow == "password"
    token = {"SALESFORCE_INSTANCE_URL": f"https://{MY_DOMAIN}", "SALESFORCE_ACCESS_TOKEN": "00D!x"}
    assert Credentials.from_env(token).flow == "token"
    assert not Credentials.from_env(token).can_login
    sandbox = Credentials.from_env({**CLIENT_ENV, "SALESFORCE_LOGIN_URL": "test.salesforce.com"})
    assert sandbox.token_url == "https://test.salesforce.com/services/oauth2/token"
    assert "private_key" not in repr(Credentials.from_env(jwt_env))  # no secret in logs


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SALESFORCE_CLIENT_ID": CONSUMER_KEY},
         "SALESFORCE_PRIVATE_KEY_FILE (JWT login, with SALESFORCE_USERNAME) or "
         "SALESFORCE_CLIENT_SECRET (client credentials) is not set"),
        ({"SALESFORCE_CLIENT_ID": CONSUMER_KEY, "SALESFORCE_PRIVATE_KEY_FILE": "KEY"},
         "SALESFORCE_USERNAME is not set"),
        ({"SALESFORCE_CLIENT_ID": CONSUMER_KEY, "SALESFORCE_USERNAME": INTEGRATION_USER},
         "SALESFORCE_PRIVATE_KEY_FILE is not set"),
        ({**CLIENT_ENV, "SALESFORCE_PASSWORD": "pw"},
         "SALESFORCE_USERNAME is not set (it goes with SALESFORCE_PASSWORD)"),
        ({"SALESFORCE_CLIENT_ID": CONSUMER_KEY, "SALESFORCE_USERNAME": INTEGRATION_USER,
          "SALESFORCE_PRIVATE_KEY_FILE": "/nowhere/pulse.key"},
         "SALESFORCE_PRIVATE_KEY_FILE '/nowhere/pulse.key' cannot be read"),
        ({"SALESFORCE_CLIENT_ID": CONSUMER_KEY, "SALESFORCE_USERNAME": INTEGRATION_USER,
          "SALESFORCE_PRIVATE_KEY": "-----BEGIN CERTIFICATE-----\nMIIB\n"},
         "SALESFORCE_PRIVATE_KEY is not an unencrypted PEM private key"),
        ({**CLIENT_ENV, "SALESFORCE_LOGIN_URL": "ftp://x"}, "SALESFORCE_LOGIN_URL 'ftp://x'"),
        ({}, "SALESFORCE_CLIENT_ID is not set"),
    ],
    ids=["id-alone", "no-username", "no-key", "password-no-username", "missing-key-file",
         "not-a-key", "bad-url", "nothing"],
)
def test_missing_pieces_name_the_variable(
    env: dict[str, str], named: str, jwt_env: dict[str, str]
) -> None:
    if env.get("SALESFORCE_PRIVATE_KEY_FILE") == "KEY":
        env = {**env, "SALESFORCE_PRIVATE_KEY_FILE": jwt_env["SALESFORCE_PRIVATE_KEY_FILE"]}
    with pytest.raises(SalesforceConfigError) as caught:
        Credentials.from_env(env)
    assert caught.value.problem.startswith(named) and "\n" not in str(caught.value)


# --- renewal ------------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["jwt", "client_credentials"])
def test_token_expiring_mid_paged_sync_is_renewed_without_losing_or_repeating_a_page(
    fake: FakeSalesforce, db_url: str, jwt_env: dict[str, str], my_domain_env: dict[str, str],
    login: str,
) -> None:
    """ACCEPTANCE: 9 accounts in pages of 2 (5 pages); a token lives 5 API calls, so the
    first dies in the middle of the Account pages. Every page is served once, the page that
    met the expired token is asked twice (401, then 200 with the new token), and the stored
    accounts are exactly the org's."""
    org_ids = seed(fake, 9)
    fake.page_size = 2
    fake.calls_per_token = 5  # User query, describe, Account pages 1-3; page 4 gets a 401
    env = jwt_env if login == "jwt" else my_domain_env
    connector = SalesforceConnector(CONFIG, env=env, sleep=lambda _: None)
    result = run_sync(db_url, CONFIG, "salesforce", connector=connector)
    assert result.status == "ok", result.errors
    assert len(fake.tokens_issued) == 2  # logged in, then renewed once

    with session_factory(db_url)() as s:
        stored = list(s.scalars(select(Account.external_id).order_by(Account.external_id)))
    assert stored == org_ids  # nothing lost, nothing twice

    account_pages = [c for c in fake.calls
                     if "/query/01g" in c.request.url or "FROM+Account" in c.request.url]
    asked = Counter(c.request.url for c in account_pages)
    served = Counter(c.request.url for c in account_pages if c.response.status_code == 200)
    refused = [c.request.url for c in account_pages if c.response.status_code == 401]
    assert len(served) == 5 and set(served.values()) == {1}  # each page served once
    assert len(refused) == 1 and asked[refused[0]] == 2  # the expired page asked again
    assert "/query/01g" in refused[0]  # ... and it was a query_more page (page 4)


def test_clients_share_one_login_and_one_renewal(
    fake: FakeSalesforce, jwt_env: dict[str, str]
) -> None:
    """Two clients of one process (a sync and a live writeback in ``pulse serve``): one
    login between them; when the token expires both go on with one new login, not two."""
    first = SalesforceClient.from_env("59.0", jwt_env, sleep=lambda _: None)
    second = SalesforceClient.from_env("59.0", jwt_env, sleep=lambda _: None)
    first.describe("Account")
    second.describe("Account")
    assert fake.tokens_issued == ["00Dfake!oauth-1"]
    fake.expire_session()  # hours later
    first.describe("Account")  # renews
    second.describe("Account")  # its token is stale too: takes the renewed one
    assert fake.tokens_issued == ["00Dfake!oauth-1", "00Dfake!oauth-2"]


def _accounts_with_scores(session: Session, n: int) -> None:
    rows = [{"external_id": f"001W{i:05d}", "name": f"W{i}", "salesforce_id": f"001W{i:05d}"}
            for i in range(n)]
    load_batch(session, "salesforce", Batch("accounts", rows))
    for account_id in session.scalars(select(Account.id)):
        add_snapshot(session, account_id, date(2026, 11, 24), 60.0, computed_at=NOW,
                     reasons=["Seats: 3 of 10 seats active (30%)"])


def test_writeback_renews_an_expired_token_and_serve_keeps_one_login(
    fake: FakeSalesforce, session: Session, monkeypatch: pytest.MonkeyPatch,
    my_domain_env: dict[str, str],
) -> None:
    """Writeback through the CRM face ``pulse serve`` and the pipeline use: the login is
    kept between writebacks, and a token that expired meanwhile is renewed mid-writeback."""
    for name, value in my_domain_env.items():
        monkeypatch.setenv(name, value)
    for name in ("SALESFORCE_ACCESS_TOKEN", "SALESFORCE_USERNAME", "SALESFORCE_PASSWORD",
                 "SALESFORCE_PRIVATE_KEY", "SALESFORCE_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    _accounts_with_scores(session, 450)  # 3 sObject Collections requests of 200, 200, 50
    fake.calls_per_token = 3  # the describe, the read-back, the first 200 records: expired

    report = CRM.write_back(session, CONFIG, now=NOW)
    assert report.succeeded == 450 and report.failed == []
    assert len(fake.tokens_issued) == 2
    assert [len(b["records"]) for b in fake.collection_bodies] == [200, 200, 50]  # none twice
    assert len(fake.updated) == 450
    session.commit()
    assert session.scalar(select(CrmWriteback.record_id).where(
        CrmWriteback.last_error.is_not(None))) is None

    fake.calls_per_token = None  # a second, later writeback with new scores
    for account_id in session.scalars(select(Account.id)):
        add_snapshot(session, account_id, date(2026, 11, 25), 40.0, computed_at=NOW,
                     reasons=["Usage down 40% in 30 days"])
    again = CRM.write_back(session, CONFIG, now=NOW)
    assert again.succeeded == 450
    assert len(fake.tokens_issued) == 2  # no new login: the process kept its token
