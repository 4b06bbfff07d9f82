"""HubSpot writeback with the read-back: one decimal, hand edits put back, batched reads.

The real hubspot-api-client talks HTTP to :class:`tests.fakes.hubspot_api.FakeHubSpot`,
which answers the companies batch read and update and lets a test edit a company by hand.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from factories import add_snapshot
from fakes.hubspot_api import FakeHubSpot
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.hubspot import BATCH_SIZE, ensure_properties, make_client, write_back
from pulse.kernel.config import HubSpotSourceConfig, PulseConfig, SourcesConfig
from pulse.kernel.records import Batch
from storage.loader import load_batch
from storage.models import Account

T0 = datetime(2026, 11, 1, 9, 0)
NOW = datetime(2026, 11, 25, 6, 0)
CONFIG = PulseConfig(sources=SourcesConfig(hubspot=HubSpotSourceConfig()))
READ = "/crm/v3/objects/companies/batch/read"
UPDATE = "/crm/v3/objects/companies/batch/update"


@pytest.fixture
def fake(hubspot_portal: FakeHubSpot) -> FakeHubSpot:
    ensure_properties(make_client(), CONFIG, sleep=lambda _: None)  # a set-up portal
    hubspot_portal.requests.clear()
    return hubspot_portal


def _scored(fake: FakeHubSpot, session: Session, n: int, score: float = 60.94) -> list[str]:
    ids = [str(i) for i in range(1, n + 1)]
    for company_id in ids:
        fake.put("companies", company_id, T0, name=f"Co {company_id}")
    rows = [{"external_id": h, "name": f"Co {h}", "hubspot_id": h} for h in ids]
    load_batch(session, "hubspot", Batch("accounts", rows))
    for account_id in session.scalars(select(Account.id)):
        add_snapshot(session, account_id, date(2026, 11, 24), score, computed_at=NOW,
                     expansion_score=12.46, renewal_risk="medium", flush=False)
    session.flush()
    return ids


def _props(fake: FakeHubSpot, company_id: str) -> dict:
    return dict(fake.objects["companies"][company_id]["properties"])


def _last_update(fake: FakeHubSpot) -> dict[str, dict]:
    body = fake.calls(UPDATE)[-1].body
    return {i["id"]: i["properties"] for i in body["inputs"]}


def test_a_score_of_60_94_is_written_as_60_9(fake: FakeHubSpot, session: Session) -> None:
    _scored(fake, session, 1)
    report = write_back(session, CONFIG, now=NOW)
    assert report.succeeded == 1
    sent = _last_update(fake)["1"]
    assert sent["health_score"] == 60.9 and sent["expansion_score"] == 12.5
    read = fake.calls(READ)[0].body
    assert read["inputs"] == [{"id": "1"}] and "health_score" in read["properties"]


def test_a_property_edited_by_hand_is_put_back_and_counted(
    fake: FakeHubSpot, session: Session
) -> None:
    _scored(fake, session, 3)
    write_back(session, CONFIG, now=NOW)
    fake.edit("2", health_score="95", health_tier="Healthy")
    fake.edit("3", health_reasons="")

    report = write_back(session, CONFIG, now=NOW)  # the score did not change
    assert report.restored == 3 and report.succeeded == 2 and report.unchanged == 1
    assert report.read_requests == 1 and report.requests == 1
    assert _last_update(fake) == {
        "2": {"health_score": 60.9, "health_tier": "Fine",
              "health_updated": "2026-11-25T06:00:00Z"},
        "3": {"health_reasons": "Seats: 3 of 10 seats active (30%)",
              "health_updated": "2026-11-25T06:00:00Z"},
    }
    assert _props(fake, "2")["health_score"] == 60.9

    fake.requests.clear()
    again = write_back(session, CONFIG, now=NOW)
    assert again.sent == 0 and again.restored == 0
    assert [r.path for r in fake.requests] == [READ]


def test_an_unchanged_company_whose_value_matches_is_not_written(
    fake: FakeHubSpot, session: Session
) -> None:
    _scored(fake, session, 2)
    write_back(session, CONFIG, now=NOW)
    fake.requests.clear()
    report = write_back(session, CONFIG, now=NOW)
    assert (report.sent, report.requests, report.unchanged) == (0, 0, 2)
    assert report.read_requests == 1 and not fake.calls(UPDATE)


def test_250_companies_are_read_back_in_3_batch_reads(
    fake: FakeHubSpot, session: Session
) -> None:
    ids = _scored(fake, session, 250)
    report = write_back(session, CONFIG, now=NOW)
    assert report.read_requests == 3 and report.requests == 3 and report.succeeded == 250
    assert [len(r.body["inputs"]) for r in fake.calls(READ)] == [BATCH_SIZE, BATCH_SIZE, 50]

    fake.edit(ids[-1], renewal_risk="low")
    again = write_back(session, CONFIG, now=NOW)
    assert again.read_requests == 3 and again.requests == 1 and again.restored == 1
    assert list(_last_update(fake)) == [ids[-1]]


def test_a_deleted_company_is_still_tried_and_reported(
    fake: FakeHubSpot, session: Session
) -> None:
    _scored(fake, session, 2)
    del fake.objects["companies"]["2"]  # merged away in HubSpot: the read answers 207
    report = write_back(session, CONFIG, now=NOW)
    assert report.succeeded == 1 and [who for who, _ in report.failed] == ["Co 2 (2)"]
    assert fake.calls(READ)[0].status == 207
