"""The Salesforce connector against the fake org (HTTPS on 127.0.0.1): pull, resume, writeback."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
import requests
from factories import add_snapshot
from fakes.salesforce import ENV_LOGIN, FakeSalesforce, error, expired, stamp
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.salesforce import (
    Credentials,
    SalesforceClient,
    SalesforceConfigError,
    SalesforceConnector,
    SalesforceTokenExpired,
    check_fields,
    classify_salesforce,
    domain_of,
    opportunity_kind,
    parse_cursor,
    write_back,
)
from pulse.kernel.config import PulseConfig, parse_config
from pulse.kernel.records import Batch
from pulse.services.sync import run_sync
from scoring.signals.accounts import accounts_stmt
from storage.db import session_factory
from storage.loader import load_batch
from storage.models import Account, Contact, CrmWriteback, Opportunity, Owner, SyncState

CONFIG = parse_config({"sources": {"salesforce": {}}})
NOW = datetime(2026, 11, 25, 6, 0)


@pytest.fixture
def fake(salesforce_org: FakeSalesforce) -> FakeSalesforce:
    return salesforce_org


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_connector(
    env: dict[str, str], config: PulseConfig = CONFIG
) -> tuple[SalesforceConnector, Sleeps]:
    slept = Sleeps()
    return SalesforceConnector(config, env=env, sleep=slept), slept


def seed(fake: FakeSalesforce, accounts: int = 3) -> None:
    fake.add(
        "User",
        {
            "Id": "005M",
            "Name": "Maria Manager",
            "Email": "maria@vendor.io",
            "ManagerId": None,
            "IsActive": True,
            "SystemModstamp": stamp(1),
        },
        {
            "Id": "005C",
            "Name": "Carl Csm",
            "Email": "carl@vendor.io",
            "ManagerId": "005M",
            "IsActive": True,
            "SystemModstamp": stamp(2),
        },
    )
    for n in range(accounts):
        fake.add(
            "Account",
            {
                "Id": f"001A{n:04d}",
                "Name": f"Customer {n}",
                "Website": f"https://www.c{n}.com/x",
                "OwnerId": "005C",
                "Tier__c": "enterprise",
                "Segment__c": "Enterprise",
                "ARR__c": 120000.0 + n,
                "Renewal_Date__c": "2027-03-01",
                "SystemModstamp": stamp(3, n % 24),
            },
        )
    fake.add(
        "Contact",
        {
            "Id": "003A",
            "AccountId": "001A0000",
            "Email": "ann@c0.com",
            "Name": "Ann",
            "Title": "VP Ops",
            "Department": None,
            "LastActivityDate": "2026-11-20",
            "SystemModstamp": stamp(4),
        },
        {
            "Id": "003B",
            "AccountId": "001A0001",
            "Email": "bob@c1.com",
            "Name": "Bob",
            "Title": None,
            "Department": "Finance",
            "LastActivityDate": None,
            "SystemModstamp": stamp(4, 1),
        },
        {
            "Id": "003P",
            "AccountId": None,
            "Email": "private@x.com",
            "Name": "Private",
            "SystemModstamp": stamp(4, 2),
        },
    )
    fake.add(
        "Opportunity",
        {
            "Id": "006R",
            "AccountId": "001A0000",
            "OwnerId": "005C",
            "Name": "C0 renewal 2027",
            "Type": "Existing Customer - Renewal",
            "StageName": "Negotiation",
            "Amount": 120000,
            "CloseDate": "2027-02-15",
            "IsClosed": False,
            "IsWon": False,
            "SystemModstamp": stamp(5),
        },
        {
            "Id": "006U",
            "AccountId": "001A0001",
            "OwnerId": "005C",
            "Name": "C1 upsell",
            "Type": "Existing Customer - Upgrade",
            "StageName": "Closed Won",
            "Amount": 20000,
            "CloseDate": "2026-10-01",
            "IsClosed": True,
            "IsWon": True,
            "SystemModstamp": stamp(5, 1),
        },
    )


def by_entity(batches: list[Batch]) -> dict[str, Batch]:
    return {b.entity: b for b in batches}


# --- credentials ------------------------------------------------------------------------


def test_missing_environment_variables_are_named() -> None:
    with pytest.raises(SalesforceConfigError, match="SALESFORCE_ACCESS_TOKEN"):
        Credentials.from_env({})
    with pytest.raises(SalesforceConfigError, match="SALESFORCE_INSTANCE_URL is not set"):
        Credentials.from_env({"SALESFORCE_ACCESS_TOKEN": "x"})
    with pytest.raises(SalesforceConfigError, match="SALESFORCE_ACCESS_TOKEN is not set"):
        Credentials.from_env({"SALESFORCE_INSTANCE_URL": "https://x.my.salesforce.com"})
    with pytest.raises(SalesforceConfigError, match="SALESFORCE_PASSWORD is not set"):
        Credentials.from_env({"SALESFORCE_USERNAME": "me@x.com"})
    creds = Credentials.from_env(ENV_LOGIN)
    assert creds.can_login and creds.access_token is None


def test_value_helpers() -> None:
    assert domain_of("https://www.Acme.com/about") == "acme.com"
    assert domain_of("acme.io") == "acme.io"
    assert domain_of(None) is None and domain_of(" ") is None
    assert opportunity_kind("Existing Customer - Renewal") == "renewal"
    assert opportunity_kind("Existing Customer - Upgrade") == "expansion"
    assert opportunity_kind("New Customer") == "new"
    assert opportunity_kind(None) == "other"
    assert parse_cursor("2026-11-01T00:00:00.000Z")["Contact"] == "2026-11-01T00:00:00.000Z"


def test_classifier_retries_only_transient_failures() -> None:
    def refused(message: str) -> SalesforceRefusedRequest:
        return SalesforceRefusedRequest("u", 403, "query", error("REQUEST_LIMIT_EXCEEDED", message))

    assert classify_salesforce(refused("ConcurrentPerOrgLongTxn Limit exceeded"), "5").after == 5
    assert classify_salesforce(refused("TotalRequests Limit exceeded.")) is None
    assert classify_salesforce(SalesforceGeneralError("u", 503, "q", "")) is not None
    assert classify_salesforce(SalesforceExpiredSession("u", 401, "q", "")) is None
    assert classify_salesforce(requests.ConnectionError("reset")) is not None


# --- pull -------------------------------------------------------------------------------


def test_pull_follows_next_records_url_and_maps_records(fake: FakeSalesforce) -> None:
    fake.page_size = 2
    seed(fake, accounts=5)  # 3 pages of accounts
    connector, _ = make_connector(fake.env_token)
    batches = list(connector.pull(None))

    assert [b.entity for b in batches] == ["owners", "accounts", "contacts", "opportunities"]
    got = by_entity(batches)
    accounts = got["accounts"].records
    assert [a["external_id"] for a in accounts] == [f"001A{n:04d}" for n in range(5)]
    first = accounts[0]
    assert first["salesforce_id"] == "001A0000" and first["domain"] == "c0.com"
    assert first["owner_external_id"] == "005C" and first["tier"] == "enterprise"
    assert first["arr"] == 120000.0 and first["renewal_date"] == date(2027, 3, 1)
    carl = next(o for o in got["owners"].records if o["external_id"] == "005C")
    assert carl["manager_external_id"] == "005M" and carl["email"] == "carl@vendor.io"
    contacts = got["contacts"].records
    assert [c["external_id"] for c in contacts] == ["003A", "003B"]  # no account: not queried
    assert contacts[0]["department"] == "VP Ops" and contacts[1]["department"] == "Finance"
    assert contacts[0]["last_seen_at"] == datetime(2026, 11, 20)
    kinds = {o["external_id"]: (o["kind"], o["is_won"]) for o in got["opportunities"].records}
    assert kinds == {"006R": ("renewal", False), "006U": ("expansion", True)}

    cursor = json.loads(batches[-1].cursor or "")
    assert cursor == {
        "User": "2026-11-02T00:00:00.000Z",
        "Account": "2026-11-03T04:00:00.000Z",
        "Contact": "2026-11-04T01:00:00.000Z",
        "Opportunity": "2026-11-05T01:00:00.000Z",
    }
    assert len(batches[-1].cursor or "") <= 200  # fits sync_state.cursor
    # the Accounts query used query + 2 query_more pages; no query restarted
    assert sum(1 for q in fake.queries if "FROM Account" in q) == 1


def test_empty_org_yields_empty_batches(fake: FakeSalesforce) -> None:
    connector, _ = make_connector(fake.env_token)
    batches = list(connector.pull(None))
    assert [len(b) for b in batches] == [0, 0, 0, 0]
    assert batches[-1].cursor == "{}"
    assert connector.warnings == []


def test_throttling_honours_retry_after_then_succeeds(fake: FakeSalesforce) -> None:
    seed(fake)
    fake.fail(
        "Account",
        (429, {"Retry-After": "3"}, error("REQUEST_LIMIT_EXCEEDED", "rate limited")),
        (503, {"Retry-After": "0"}, error("SERVER_UNAVAILABLE", "try later")),
    )
    connector, slept = make_connector(fake.env_token)
    batches = by_entity(list(connector.pull(None)))
    assert slept == [3.0, 0.0]
    assert len(batches["accounts"]) == 3


def test_daily_request_limit_is_not_retried(fake: FakeSalesforce) -> None:
    seed(fake)
    fake.fail("User", (403, {}, error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")))
    connector, slept = make_connector(fake.env_token)
    with pytest.raises(SalesforceRefusedRequest):
        list(connector.pull(None))
    assert slept == []


def test_expired_access_token_says_so(fake: FakeSalesforce) -> None:
    seed(fake)
    connector, _ = make_connector(fake.env_token)
    pulled = connector.pull(None)
    next(pulled)  # Users fine
    fake.expire_session()
    with pytest.raises(SalesforceTokenExpired, match="token expired"):
        next(pulled)


def test_expired_session_logs_in_again_once(fake: FakeSalesforce) -> None:
    seed(fake)
    connector, _ = make_connector(env=ENV_LOGIN)
    pulled = connector.pull(None)
    next(pulled)
    assert fake.logins == 1
    soap = [c.request for c in fake.calls if "/services/Soap/" in c.request.url]
    assert [r.host for r in soap] == ["login.salesforce.com"]  # the default login host
    fake.expire_session()  # the session from the first login dies mid-run
    rest = by_entity(list(pulled))
    assert fake.logins == 2
    assert len(rest["accounts"]) == 3 and len(rest["opportunities"]) == 2

    fake.fail("Contact", expired(), expired())  # still expired after logging in again
    again, _ = make_connector(env=ENV_LOGIN)
    with pytest.raises(SalesforceExpiredSession):
        list(again.pull(None))


def test_mapped_field_missing_from_org_is_reported_rest_loads(fake: FakeSalesforce) -> None:
    seed(fake)
    del fake.account_fields["Tier__c"]
    connector, _ = make_connector(fake.env_token)
    accounts = by_entity(list(connector.pull(None)))["accounts"]
    assert len(accounts) == 3
    assert "tier" not in accounts.records[0] and accounts.records[0]["segment"] == "Enterprise"
    assert [r.where for r in accounts.rejected] == ["Account field Tier__c"]
    assert any("Tier__c" in w for w in connector.warnings)
    account_soql = next(q for q in fake.queries if "FROM Account" in q)
    assert "Tier__c" not in account_soql


# --- through run_sync -------------------------------------------------------------------


def _counts(url: str) -> dict[str, int]:
    with session_factory(url)() as s:
        return {
            model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
            for model in (Owner, Account, Contact, Opportunity)
        }


def test_incremental_run_queries_since_stored_cursor(fake: FakeSalesforce, db_url: str) -> None:
    seed(fake)
    connector, _ = make_connector(fake.env_token)
    first = run_sync(db_url, CONFIG, "salesforce", connector=connector)
    assert first.status == "ok", first.errors
    assert first.totals.inserted == 2 + 3 + 2 + 2
    with session_factory(db_url)() as s:
        carl = s.scalars(select(Owner).where(Owner.external_id == "005C")).one()
        assert carl.manager is not None and carl.manager.external_id == "005M"

    fake.add(
        "Account",
        {
            "Id": "001NEW",
            "Name": "Newco",
            "Website": "newco.dev",
            "OwnerId": "005C",
            "SystemModstamp": stamp(10),
        },
    )
    fake.queries.clear()
    second = run_sync(db_url, CONFIG, "salesforce", connector=make_connector(fake.env_token)[0])
    assert second.status == "ok", second.errors
    # the new account, plus each object's record of the boundary second read again (>=)
    assert (second.totals.fetched, second.totals.inserted, second.totals.unchanged) == (5, 1, 4)
    expected = {
        "User": "SystemModstamp >= 2026-11-02T00:00:00.000Z",
        "Account": "SystemModstamp >= 2026-11-03T02:00:00.000Z",
        "Contact": "SystemModstamp >= 2026-11-04T01:00:00.000Z",
        "Opportunity": "SystemModstamp >= 2026-11-05T01:00:00.000Z",
    }
    for sobject, condition in expected.items():
        soql = next(q for q in fake.queries if f"FROM {sobject}" in q)
        assert condition in soql, soql
    assert json.loads(second.cursor or "")["Account"] == "2026-11-10T00:00:00.000Z"


def test_an_account_deleted_in_salesforce_stops_being_scored_and_comes_back_restored(
    fake: FakeSalesforce, db_url: str
) -> None:
    """Query never returns a deleted (or merged-away) record, so reading Accounts through
    it kept a deleted customer scored, alerted and written back for good; QueryAll does."""
    seed(fake)
    assert run_sync(db_url, CONFIG, "salesforce", connector=make_connector(fake.env_token)[0]
                    ).status == "ok"
    fake.delete("Account", "001A0001", stamp(12, 9, 30), merged_into="001A0000")
    fake.delete("Opportunity", "006R", stamp(12, 9, 31))
    fake.queries.clear()
    second = run_sync(db_url, CONFIG, "salesforce", connector=make_connector(fake.env_token)[0])
    assert second.status == "ok", second.errors
    assert any("/queryAll/" in c.request.url and "FROM+Account" in c.request.url
               for c in fake.calls)
    assert json.loads(second.cursor or "")["Account"] == "2026-11-12T09:30:00.000Z"

    def alive(day: date) -> set[str]:
        """The Salesforce ids of the accounts scored on ``day``."""
        with session_factory(db_url)() as s:
            scored = select(accounts_stmt(day).subquery().c.account_id)
            return set(s.scalars(select(Account.external_id).where(Account.id.in_(scored))))

    with session_factory(db_url)() as s:
        deleted = s.scalars(select(Account).where(Account.external_id == "001A0001")).one()
        assert deleted.deleted_at == datetime(2026, 11, 12, 9, 30)
        assert deleted.merged_into == "001A0000"
        others = s.scalars(select(Account.deleted_at).where(Account.external_id != "001A0001"))
        assert set(others) == {None}
        deals = dict(s.execute(select(Opportunity.external_id, Opportunity.deleted_at)).all())
        assert deals == {"006R": datetime(2026, 11, 12, 9, 31), "006U": None}
    everyone = {"001A0000", "001A0001", "001A0002"}
    assert alive(date(2026, 11, 11)) == everyone
    assert alive(date(2026, 11, 12)) == {"001A0000", "001A0002"}

    fake.records["Account"][1].update(IsDeleted=False, SystemModstamp=stamp(14))  # restored
    third = run_sync(db_url, CONFIG, "salesforce", connector=make_connector(fake.env_token)[0])
    assert third.status == "ok", third.errors
    assert alive(date(2026, 11, 14)) == everyone


def test_a_record_saved_in_the_same_second_as_the_cursor_is_fetched(
    fake: FakeSalesforce, db_url: str
) -> None:
    seed(fake)
    first = run_sync(db_url, CONFIG, "salesforce", connector=make_connector(fake.env_token)[0])
    assert first.status == "ok", first.errors
    newest = json.loads(first.cursor or "")["Account"]
    # saved after that sync read the org, in the very second of its newest account
    fake.add("Account", {"Id": "001SAME", "Name": "Same Second", "Website": "same.dev",
                         "OwnerId": "005C", "SystemModstamp": stamp(3, 2)})
    assert newest == "2026-11-03T02:00:00.000Z"
    second = run_sync(db_url, CONFIG, "salesforce", connector=make_connector(fake.env_token)[0])
    assert second.status == "ok", second.errors
    accounts = second.by_entity["accounts"]
    assert (accounts.inserted, accounts.unchanged) == (1, 1)  # it, and the one synced before
    with session_factory(db_url)() as s:
        assert s.scalars(select(Account).where(Account.external_id == "001SAME")).one()
    assert _counts(db_url)["accounts"] == 4


def test_a_failed_full_sync_keeps_the_cursors_it_did_not_reach(
    fake: FakeSalesforce, db_url: str
) -> None:
    seed(fake)
    first = run_sync(db_url, CONFIG, "salesforce", connector=make_connector(fake.env_token)[0])
    assert first.status == "ok", first.errors
    before = json.loads(first.cursor or "")
    fake.fail("Contact", *[(500, {"Retry-After": "0"}, error("UNKNOWN", "boom"))] * 5)
    fake.queries.clear()
    full = run_sync(db_url, CONFIG, "salesforce", connector=make_connector(fake.env_token)[0],
                    full=True)
    assert full.status == "failed"
    assert all("SystemModstamp >" not in q for q in fake.queries)  # full: everything read
    with session_factory(db_url)() as s:
        stored = json.loads(s.scalars(select(SyncState.cursor)).one() or "")
    assert stored == before  # users and accounts re-read to the same point, the rest kept

    fake.queries.clear()
    after = run_sync(db_url, CONFIG, "salesforce", connector=make_connector(fake.env_token)[0])
    assert after.status == "ok", after.errors
    contact_soql = next(q for q in fake.queries if "FROM Contact" in q)
    assert f"SystemModstamp >= {before['Contact']}" in contact_soql  # not from the beginning


def test_run_killed_on_contacts_resumes_without_gaps_or_duplicates(
    fake: FakeSalesforce, db_url: str
) -> None:
    seed(fake)
    fake.fail("Contact", *[(500, {"Retry-After": "0"}, error("UNKNOWN", "boom"))] * 5)
    connector, slept = make_connector(fake.env_token)
    killed = run_sync(db_url, CONFIG, "salesforce", connector=connector)
    assert killed.status == "failed" and "500" in killed.errors[0]
    assert len(slept) == 4  # five attempts, then the error
    assert _counts(db_url) == {"owners": 2, "accounts": 3, "contacts": 0, "opportunities": 0}
    stored = json.loads(killed.cursor or "")
    assert set(stored) == {"User", "Account"}

    # while the run was down: one account changed, one contact added
    fake.records["Account"][1].update(Name="Customer 1 (renamed)", SystemModstamp=stamp(9))
    fake.add(
        "Contact",
        {
            "Id": "003N",
            "AccountId": "001A0002",
            "Email": "new@c2.com",
            "Name": "Nia",
            "SystemModstamp": stamp(9),
        },
    )
    fake.queries.clear()
    resumed = run_sync(db_url, CONFIG, "salesforce", connector=make_connector(fake.env_token)[0])
    assert resumed.status == "ok", resumed.errors
    contact_soql = next(q for q in fake.queries if "FROM Contact" in q)
    assert "SystemModstamp >" not in contact_soql  # contacts start from the beginning
    owners, accounts = resumed.by_entity["owners"], resumed.by_entity["accounts"]
    assert (owners.fetched, owners.unchanged) == (1, 1)  # the boundary second, read again
    assert (accounts.fetched, accounts.updated, accounts.unchanged) == (2, 1, 1)  # renamed one
    assert _counts(db_url) == {"owners": 2, "accounts": 3, "contacts": 3, "opportunities": 2}
    with session_factory(db_url)() as s:
        names = sorted(s.scalars(select(Account.name)))
    assert names == ["Customer 0", "Customer 1 (renamed)", "Customer 2"]


# --- writeback --------------------------------------------------------------------------


def _accounts_with_scores(session: Session, n: int, score: float = 60.0) -> list[int]:
    load_batch(
        session,
        "salesforce",
        Batch(
            "accounts",
            [
                {"external_id": f"001W{i:05d}", "name": f"W{i}", "salesforce_id": f"001W{i:05d}"}
                for i in range(n)
            ],
        ),
    )
    ids = list(session.scalars(select(Account.id).order_by(Account.id)))
    for account_id in ids:
        _snapshot(session, account_id, date(2026, 11, 24), score)
    return ids


def _snapshot(session: Session, account_id: int, day: date, score: float) -> None:
    add_snapshot(
        session,
        account_id,
        day,
        score,
        computed_at=NOW,
        reasons=["Seats: 3 of 10 seats active (30%)", "Usage down 40% in 30 days"],
    )


def _client(fake: FakeSalesforce) -> SalesforceClient:
    return SalesforceClient.from_env("59.0", fake.env_token, sleep=lambda _: None)


def test_writeback_sends_changes_once_then_nothing(fake: FakeSalesforce, session: Session) -> None:
    _accounts_with_scores(session, 3)
    report = write_back(session, CONFIG, _client(fake), now=NOW)
    assert report.requests == 1 and report.succeeded == 3 and report.failed == []
    sent = fake.collection_bodies[0]
    assert sent["allOrNone"] is False
    record = sent["records"][0]
    assert record["attributes"] == {"type": "Account"} and record["id"] == "001W00000"
    assert record["Health_Score__c"] == 60 and record["Health_Tier__c"] == "Fine"
    assert record["Health_Updated__c"] == "2026-11-25T06:00:00Z"
    assert record["Renewal_Risk__c"] == "low" and record["Expansion_Score__c"] == 12

    calls_before = len(fake.calls)
    again = write_back(session, CONFIG, _client(fake), now=NOW)
    assert again.requests == 0 and again.unchanged == 3 and fake.collection_requests == 1
    assert len(fake.calls) == calls_before + 2  # the describe and one read-back


def test_writeback_leaves_out_accounts_deleted_in_salesforce(
    fake: FakeSalesforce, session: Session
) -> None:
    """A deleted record cannot be updated (ENTITY_IS_DELETED): writing to it failed again
    on every run."""
    ids = _accounts_with_scores(session, 3)
    session.get_one(Account, ids[1]).deleted_at = datetime(2026, 11, 24, 18, 0)
    fake.record_errors["001W00001"] = ("ENTITY_IS_DELETED", "entity is deleted")
    report = write_back(session, CONFIG, _client(fake), now=NOW)
    assert report.failed == [] and report.succeeded == 2
    assert [r["id"] for r in fake.collection_bodies[0]["records"]] == ["001W00000", "001W00002"]


def test_writeback_of_450_accounts_takes_3_requests(fake: FakeSalesforce, session: Session) -> None:
    _accounts_with_scores(session, 450)
    report = write_back(session, CONFIG, _client(fake), now=NOW)
    assert report.requests == 3 and report.succeeded == 450
    assert [len(b["records"]) for b in fake.collection_bodies] == [200, 200, 50]


def test_per_record_errors_do_not_stop_the_rest(fake: FakeSalesforce, session: Session) -> None:
    _accounts_with_scores(session, 5)
    fake.record_errors["001W00001"] = ("ENTITY_IS_DELETED", "entity is deleted")
    fake.record_errors["001W00003"] = (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Health score needs a tier",
    )
    report = write_back(session, CONFIG, _client(fake), now=NOW)
    assert report.succeeded == 3 and report.requests == 1
    assert report.failed == [
        ("W1 (001W00001)", "ENTITY_IS_DELETED: entity is deleted"),
        ("W3 (001W00003)", "FIELD_CUSTOM_VALIDATION_EXCEPTION: Health score needs a tier"),
    ]
    errors = dict(session.execute(select(CrmWriteback.record_id, CrmWriteback.last_error)).all())
    assert errors["001W00001"].startswith("ENTITY_IS_DELETED") and errors["001W00000"] is None

    fake.record_errors.clear()
    retry = write_back(session, CONFIG, _client(fake), now=NOW)  # only the failures go again
    assert [r["id"] for r in fake.collection_bodies[-1]["records"]] == ["001W00001", "001W00003"]
    assert retry.succeeded == 2 and retry.unchanged == 3


def test_writeback_retries_throttling_and_cuts_reasons_to_field_length(
    fake: FakeSalesforce, session: Session
) -> None:
    _accounts_with_scores(session, 2)
    fake.account_fields["Health_Reasons__c"] = ("textarea", 40)
    fake.fail("collections", (503, {"Retry-After": "0"}, error("SERVER_UNAVAILABLE", "later")))
    report = write_back(session, CONFIG, _client(fake), now=NOW)
    assert report.succeeded == 2
    reasons = fake.collection_bodies[0]["records"][0]["Health_Reasons__c"]
    assert len(reasons) <= 40 and reasons.endswith("…")
    again = write_back(session, CONFIG, _client(fake), now=NOW)
    assert again.requests == 0 and again.unchanged == 2  # the cut value is what was stored


def test_writeback_with_missing_health_fields_fails_clearly(
    fake: FakeSalesforce, session: Session
) -> None:
    _accounts_with_scores(session, 1)
    del fake.account_fields["Renewal_Risk__c"]
    with pytest.raises(SalesforceConfigError, match="Renewal_Risk__c"):
        write_back(session, CONFIG, _client(fake), now=NOW)
    assert fake.collection_requests == 0


def test_check_fields_reports_presence_type_and_length(fake: FakeSalesforce) -> None:
    del fake.account_fields["Health_Tier__c"]
    fake.account_fields["Health_Updated__c"] = ("date", 0)
    checks = {c.name: c for c in check_fields(_client(fake), CONFIG)}
    assert checks["Health_Score__c"].present and checks["Health_Score__c"].problem is None
    assert checks["Health_Reasons__c"].length == 255
    assert not checks["Health_Tier__c"].present and "missing" in (
        checks["Health_Tier__c"].problem or ""
    )
    assert checks["Health_Updated__c"].problem == "type is date, expected datetime"
    assert checks["Tier__c"].present and checks["Tier__c"].expected == "any"


def test_writeback_above_bulk_threshold_uses_bulk_api_2(
    fake: FakeSalesforce, session: Session
) -> None:
    config = parse_config({"sources": {"salesforce": {"bulk_threshold": 3}}})
    _accounts_with_scores(session, 4)
    fake.record_errors["001W00002"] = ("ENTITY_IS_DELETED", "entity is deleted")
    report = write_back(session, config, _client(fake), now=NOW)
    assert fake.collection_requests == 0 and len(fake.bulk_jobs) == 1
    job = next(iter(fake.bulk_jobs.values()))
    assert job["spec"] == {
        "object": "Account",
        "operation": "update",
        "contentType": "CSV",
        "lineEnding": "LF",
    }
    header, first = job["csv"].splitlines()[:2]
    assert header.split(",")[:3] == ["Id", "Health_Score__c", "Health_Tier__c"]
    assert first.startswith("001W00000,60.0,Fine,")
    assert report.succeeded == 3
    assert report.failed == [("W2 (001W00002)", "ENTITY_IS_DELETED:entity is deleted")]
    # create, upload, close, 2 status polls, failedResults
    assert report.requests == 6
    assert fake.updated["001W00000"]["Health_Score__c"] == "60.0"

    fake.record_errors.clear()
    again = write_back(session, config, _client(fake), now=NOW)  # 1 left: below the threshold
    assert again.succeeded == 1 and fake.collection_requests == 1
