"""Salesforce writeback with the read-back: one decimal, hand edits put back, batched reads.

simple-salesforce talks to :class:`tests.fakes.salesforce.FakeSalesforce`, which answers the
sObject Collections retrieve and update and lets a test edit a field by hand.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from factories import add_snapshot
from fakes.salesforce import FakeSalesforce
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.salesforce import SalesforceClient, check_fields, write_back
from pulse.kernel.config import parse_config
from pulse.kernel.records import Batch
from storage.loader import load_batch
from storage.models import Account

CONFIG = parse_config({"sources": {"salesforce": {}}})
NOW = datetime(2026, 11, 25, 6, 0)


@pytest.fixture
def fake(salesforce_org: FakeSalesforce) -> FakeSalesforce:
    return salesforce_org


def _client(fake: FakeSalesforce) -> SalesforceClient:
    return SalesforceClient.from_env("59.0", fake.env_token, sleep=lambda _: None)


def _record_id(n: int) -> str:
    return f"001R{n:05d}"


def _scored(session: Session, n: int, score: float = 60.94, expansion: float = 12.46) -> None:
    rows = [
        {"external_id": _record_id(i), "name": f"R{i}", "salesforce_id": _record_id(i)}
        for i in range(n)
    ]
    load_batch(session, "salesforce", Batch("accounts", rows))
    for account_id in session.scalars(select(Account.id)):
        add_snapshot(session, account_id, date(2026, 11, 24), score, computed_at=NOW,
                     expansion_score=expansion, flush=False)
    session.flush()


def _sent(fake: FakeSalesforce, body: int = -1) -> dict[str, dict]:
    """Record id -> the fields sent for it in one Collections update (default: the last)."""
    return {
        r["id"]: {k: v for k, v in r.items() if k not in ("attributes", "id")}
        for r in fake.collection_bodies[body]["records"]
    }


def test_a_score_of_60_94_is_written_as_60_9(fake: FakeSalesforce, session: Session) -> None:
    _scored(session, 1)
    report = write_back(session, CONFIG, _client(fake), now=NOW)
    assert report.succeeded == 1
    sent = _sent(fake)[_record_id(0)]
    assert sent["Health_Score__c"] == 60.9 and sent["Expansion_Score__c"] == 12.5
    current = fake.current(_record_id(0)) or {}
    assert current["Health_Score__c"] == 60.9  # what an admin sees on the Account


def test_a_field_edited_by_hand_is_put_back_and_counted(
    fake: FakeSalesforce, session: Session
) -> None:
    _scored(session, 3)
    write_back(session, CONFIG, _client(fake), now=NOW)
    fake.edit(_record_id(1), Health_Score__c=95.0, Health_Tier__c="Healthy")
    fake.edit(_record_id(2), Renewal_Risk__c="high")

    report = write_back(session, CONFIG, _client(fake), now=NOW)  # the score did not change
    assert report.restored == 3 and report.succeeded == 2 and report.unchanged == 1
    assert report.read_requests == 1 and report.requests == 1
    assert _sent(fake) == {
        _record_id(1): {
            "Health_Score__c": 60.9,
            "Health_Tier__c": "Fine",
            "Health_Updated__c": "2026-11-25T06:00:00Z",
        },
        _record_id(2): {"Renewal_Risk__c": "low", "Health_Updated__c": "2026-11-25T06:00:00Z"},
    }
    assert (fake.current(_record_id(1)) or {})["Health_Score__c"] == 60.9

    again = write_back(session, CONFIG, _client(fake), now=NOW)
    assert again.sent == 0 and again.restored == 0 and fake.collection_requests == 2


def test_an_unchanged_account_whose_value_matches_is_not_written(
    fake: FakeSalesforce, session: Session
) -> None:
    _scored(session, 2)
    write_back(session, CONFIG, _client(fake), now=NOW)
    report = write_back(session, CONFIG, _client(fake), now=NOW)
    assert (report.sent, report.requests, report.unchanged) == (0, 0, 2)
    assert report.read_requests == 1 and fake.collection_requests == 1
    assert fake.retrieve_bodies[-1]["ids"] == [_record_id(0), _record_id(1)]
    assert "Health_Score__c" in fake.retrieve_bodies[-1]["fields"]


def test_the_read_back_takes_2000_records_a_request(
    fake: FakeSalesforce, session: Session
) -> None:
    _scored(session, 2001)
    report = write_back(session, CONFIG, _client(fake), now=NOW)  # above bulk_threshold: Bulk API
    assert report.succeeded == 2001 and report.read_requests == 2
    assert [len(b["ids"]) for b in fake.retrieve_bodies] == [2000, 1]

    fake.edit(_record_id(2000), Health_Score__c=10.0)  # a bulk-written record, edited
    again = write_back(session, CONFIG, _client(fake), now=NOW)
    assert again.restored == 1 and again.unchanged == 2000 and again.read_requests == 2
    assert list(_sent(fake)) == [_record_id(2000)]


def test_a_score_field_without_decimals_is_reported_and_not_rewritten_every_run(
    fake: FakeSalesforce, session: Session
) -> None:
    fake.number_fields["Health_Score__c"] = (3, 0)  # created as Number(3,0)
    checks = {c.name: c for c in check_fields(_client(fake), CONFIG)}
    assert "make it Number(4,1)" in (checks["Health_Score__c"].problem or "")
    assert checks["Expansion_Score__c"].problem is None

    _scored(session, 1)
    write_back(session, CONFIG, _client(fake), now=NOW)
    assert _sent(fake)[_record_id(0)]["Health_Score__c"] == 61  # what the field can hold
    again = write_back(session, CONFIG, _client(fake), now=NOW)
    assert again.sent == 0 and again.restored == 0


def test_a_missing_score_field_is_to_be_created_as_number_4_1(fake: FakeSalesforce) -> None:
    del fake.account_fields["Expansion_Score__c"]
    checks = {c.name: c for c in check_fields(_client(fake), CONFIG)}
    assert checks["Expansion_Score__c"].problem == "missing on Account (create it as Number(4,1))"
