"""The Zendesk connector through real ``requests`` against a local fake Zendesk API
(tests/fakes/zendesk_api.py): paging, cursors, retries and auth errors as Zendesk answers them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
import requests
from fakes.zendesk_api import FakeZendesk
from sqlalchemy import func, select

from connectors.zendesk import OVERLAP_SECONDS, ZendeskConnector, classify_requests_error
from pulse.kernel.config import PulseConfig, ScoringConfig, ZendeskSourceConfig
from pulse.kernel.records import Batch
from pulse.services.sync import run_sync
from scoring.signals.sources import tickets_stmt
from scoring.signals.windows import Windows
from storage.db import session_factory
from storage.models import Account, SyncState, Ticket
from storage.tuning import query_frame

NOW = 1_767_225_600  # 2026-01-01 00:00 UTC
START = 1_700_000_000


@pytest.fixture
def zendesk(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeZendesk]:
    """The fake Zendesk, exporting 2 tickets a page; the connector asks 2 items a page."""
    with FakeZendesk(email="agent@acme.test", token="tok", export_page_size=2,
                     export_trailing_empty_page=True) as fake:
        monkeypatch.setenv("ZENDESK_URL", fake.base_url + "/")
        monkeypatch.setenv("ZENDESK_EMAIL", "agent@acme.test")
        monkeypatch.setenv("ZENDESK_API_TOKEN", "tok")
        yield fake


def _cfg() -> PulseConfig:
    return PulseConfig(sources={"zendesk": ZendeskSourceConfig(start_time=START)})  # type: ignore[arg-type]


def _connector(**kw: Any) -> ZendeskConnector:
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("clock", lambda: NOW)
    kw.setdefault("page_size", 2)
    return ZendeskConnector(_cfg(), **kw)


def _org(n: int) -> dict[str, Any]:
    return {"id": n, "name": f"Org {n}", "domain_names": [f"Org{n}.example", "alt.example"]}


def _ticket(n: int, org: int | None = 1, status: str = "open", **extra: Any) -> dict[str, Any]:
    return {
        "id": n,
        "organization_id": org,
        "requester_id": 900 + n,
        "subject": f"Ticket {n}",
        "priority": None if n == 1 else "high",
        "status": status,
        "created_at": "2025-12-01T10:00:00Z",
        "updated_at": "2025-12-03T12:30:00Z",
        "tags": [],
        "satisfaction_rating": {"score": "unoffered"},
        **extra,
    }


def _rating(n: int, ticket: int, score: str, created: str, updated: str | None = None) -> dict:
    return {"id": n, "ticket_id": ticket, "score": score,
            "created_at": created, "updated_at": updated or created}


def _orgs_and_ratings(fake: FakeZendesk) -> None:
    fake.organizations[:] = [_org(1), _org(2), _org(3)]  # two pages of 2
    fake.ratings[:] = [  # received, oldest first: two pages of 2
        _rating(1, 2, "bad", "2025-12-01T00:00:00Z", "2025-12-04T00:00:00Z"),
        _rating(2, 2, "good", "2025-12-02T00:00:00Z"),
        _rating(3, 1, "offered", "2025-12-03T00:00:00Z"),  # not received: not listed
        _rating(4, 4, "good_with_comment", "2025-12-05T00:00:00Z"),
    ]


def _fill(fake: FakeZendesk) -> None:
    """3 organizations, 3 received ratings, 4 tickets: export pages [1, 2], [3, 4], []."""
    _orgs_and_ratings(fake)
    fake.tickets[:] = [
        _ticket(1, status="solved"),
        _ticket(2, tags=["sentiment_negative", "vip"]),
        _ticket(3, org=None),
        _ticket(4, org=2),
    ]
    fake.metric_sets[:] = [{"id": 71, "ticket_id": 1, "solved_at": "2025-12-02T09:00:00Z"}]


def _records(batches: list[Batch], entity: str) -> list[dict]:
    return [r for b in batches if b.entity == entity for r in b.records]  # type: ignore[union-attr]


def _queries(fake: FakeZendesk, endpoint: str) -> list[dict[str, str]]:
    return [r.query for r in fake.calls(endpoint)]


def _after(fake: FakeZendesk, endpoint: str, n: int) -> str:
    """The after_cursor the fake answered to the ``n``-th request of ``endpoint``."""
    body = fake.calls(endpoint)[n].body
    return body["after_cursor"] if endpoint == "tickets" else body["meta"]["after_cursor"]


def test_pages_are_followed_and_records_mapped(zendesk: FakeZendesk) -> None:
    _fill(zendesk)
    connector = _connector()
    batches = list(connector.pull(None))
    assert [b.entity for b in batches] == ["accounts"] * 2 + ["tickets"] * 3
    assert len(batches[-1]) == 0
    assert _records(batches, "accounts")[0] == {
        "external_id": "1",
        "zendesk_org_id": "1",
        "name": "Org 1",
        "domain": "org1.example",
    }
    assert [r["external_id"] for r in _records(batches, "accounts")] == ["1", "2", "3"]
    tickets = {r["external_id"]: r for r in _records(batches, "tickets")}
    assert set(tickets) == {"1", "2", "4"}  # ticket 3 has no organization
    assert tickets["1"] == {
        "external_id": "1",
        "account_external_id": "1",
        "contact_external_id": "901",
        "subject": "Ticket 1",
        "priority": "normal",
        "status": "solved",
        "created_at": datetime(2025, 12, 1, 10, 0),
        "solved_at": datetime(2025, 12, 2, 9, 0),  # from the sideloaded metric set
        "satisfaction": None,  # only offered
        "sentiment": None,
    }
    assert tickets["2"]["satisfaction"] == "bad"  # the latest rating wins
    assert tickets["2"]["sentiment"] == "negative" and tickets["2"]["solved_at"] is None
    assert tickets["4"]["account_external_id"] == "2"
    assert tickets["4"]["satisfaction"] == "good"  # from the second page of ratings
    assert connector.warnings == ["1 ticket(s) without an organization were skipped"]
    assert {r.auth for r in zendesk.requests} == {"agent@acme.test/token:tok"}
    org_cursor = _after(zendesk, "organizations", 0)
    assert _queries(zendesk, "organizations") == [
        {"page[size]": "2"}, {"page[size]": "2", "page[after]": org_cursor}
    ]
    ratings = _queries(zendesk, "satisfaction_ratings")
    assert ratings[0] == {"score": "received", "start_time": str(START), "page[size]": "2"}
    assert ratings[1]["page[after]"] == _after(zendesk, "satisfaction_ratings", 0)
    assert _queries(zendesk, "tickets") == [
        {"include": "metric_sets", "start_time": str(START)},
        {"include": "metric_sets", "cursor": _after(zendesk, "tickets", 0)},
        {"include": "metric_sets", "cursor": _after(zendesk, "tickets", 1)},
    ]
    assert json.loads(batches[0].cursor or "") == {"p": "orgs", "o": org_cursor, "r": START}
    assert json.loads(batches[3].cursor or "") == {
        "p": "tickets", "t": _after(zendesk, "tickets", 1), "r": START
    }
    assert json.loads(batches[-1].cursor or "") == {
        "t": _after(zendesk, "tickets", 2), "r": NOW - OVERLAP_SECONDS
    }


def test_solved_at_falls_back_to_updated_at_and_embedded_rating(zendesk: FakeZendesk) -> None:
    zendesk.tickets[:] = [
        _ticket(5, status="closed", satisfaction_rating={"score": "good_with_comment"}),
        _ticket(6, status="deleted"),
    ]
    connector = _connector()
    tickets = _records(list(connector.pull(None)), "tickets")
    assert [t["status"] for t in tickets] == ["closed", "deleted"]
    assert tickets[0]["solved_at"] == datetime(2025, 12, 3, 12, 30)
    assert tickets[0]["satisfaction"] == "good"
    assert tickets[1]["solved_at"] is None
    assert connector.warnings == []


def test_429_with_retry_after_then_success(zendesk: FakeZendesk) -> None:
    _fill(zendesk)
    zendesk.fail("organizations", 429, retry_after="7")
    slept: list[float] = []
    batches = list(_connector(sleep=slept.append).pull(None))
    assert slept == [7.0]  # Zendesk's Retry-After, not the 1 s backoff
    assert [r.status for r in zendesk.calls("organizations")] == [429, 200, 200]
    assert len(_records(batches, "accounts")) == 3


def test_500_then_success_uses_backoff(zendesk: FakeZendesk) -> None:
    _orgs_and_ratings(zendesk)  # no tickets: one empty export page
    zendesk.fail("tickets", 500)
    slept: list[float] = []
    batches = list(_connector(sleep=slept.append).pull(None))
    assert slept == [1.0]
    assert [b.entity for b in batches][-1] == "tickets"
    assert [r.status for r in zendesk.calls("tickets")] == [500, 200]


def test_classifier() -> None:
    assert classify_requests_error(ValueError("x")) is None
    with FakeZendesk() as gone:
        url = gone.base_url
    with pytest.raises(requests.ConnectionError) as refused:  # nothing listens there now
        requests.get(f"{url}/api/v2/organizations.json", timeout=5)
    assert classify_requests_error(refused.value) is not None


def _count(url: str, model: type) -> int:
    with session_factory(url)() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _stored_cursor(url: str) -> dict[str, Any]:
    with session_factory(url)() as s:
        state = s.get(SyncState, "zendesk")
        assert state is not None
        return json.loads(state.cursor or "")


def test_401_is_a_clear_error_not_retried(
    zendesk: FakeZendesk, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(zendesk)
    monkeypatch.setenv("ZENDESK_API_TOKEN", "revoked")
    report = run_sync(db_url, _cfg(), "zendesk", connector=_connector())
    assert report.status == "failed"
    assert len(report.errors) == 1 and "ZENDESK_API_TOKEN" in report.errors[0]
    assert "401" in report.errors[0]
    assert [(r.endpoint, r.status) for r in zendesk.requests] == [("organizations", 401)]
    assert zendesk.requests[0].auth == "agent@acme.test/token:revoked"


def test_403_is_a_clear_error_not_retried(zendesk: FakeZendesk, db_url: str) -> None:
    _fill(zendesk)
    zendesk.fail("organizations", 403)
    report = run_sync(db_url, _cfg(), "zendesk", connector=_connector())
    assert report.status == "failed"
    # signed in but not allowed: said as such, with what to change
    assert len(report.errors) == 1 and "denied the user of ZENDESK_EMAIL" in report.errors[0]
    assert "403" in report.errors[0] and "admin" in report.errors[0]
    assert len(zendesk.requests) == 1


def test_second_run_resumes_from_after_cursor(zendesk: FakeZendesk, db_url: str) -> None:
    _fill(zendesk)
    first = run_sync(db_url, _cfg(), "zendesk", connector=_connector())
    assert first.status == "ok", first.as_dict()
    assert (_count(db_url, Account), _count(db_url, Ticket)) == (3, 3)
    with session_factory(db_url)() as s:
        ticket = s.scalar(select(Ticket).where(Ticket.external_id == "2"))
        assert ticket is not None and ticket.contact_id is None  # requester unknown
        assert ticket.satisfaction == "bad" and ticket.sentiment == "negative"
        acct = s.scalar(select(Account).where(Account.external_id == "1"))
        assert acct is not None and acct.zendesk_org_id == "1" and acct.source == "zendesk"
    end_of_first = _after(zendesk, "tickets", 2)
    zendesk.requests.clear()
    zendesk.tickets.append(_ticket(2, status="solved", updated_at="2025-12-20T08:00:00Z"))
    second = run_sync(db_url, _cfg(), "zendesk", connector=_connector())
    assert second.status == "ok", second.as_dict()
    assert _queries(zendesk, "tickets") == [{"include": "metric_sets", "cursor": end_of_first}]
    assert _queries(zendesk, "satisfaction_ratings")[0]["start_time"] == str(
        NOW - OVERLAP_SECONDS
    )
    assert second.by_entity["tickets"].updated == 1
    assert second.by_entity["tickets"].unchanged == 0  # nothing exported twice
    assert _count(db_url, Ticket) == 3
    assert _stored_cursor(db_url)["t"] == _after(zendesk, "tickets", 0)


def test_a_ticket_deleted_in_zendesk_stops_counting(zendesk: FakeZendesk, db_url: str) -> None:
    """The export brings a deleted ticket back with status "deleted": stored so, the open
    urgent ticket it was no longer weighs on its account's health."""
    _fill(zendesk)
    assert run_sync(db_url, _cfg(), "zendesk", connector=_connector()).status == "ok"
    zendesk.tickets.append(_ticket(2, status="deleted", updated_at="2025-12-20T08:00:00Z"))
    second = run_sync(db_url, _cfg(), "zendesk", connector=_connector())
    assert second.status == "ok" and second.warnings == [], second.as_dict()
    with session_factory(db_url)() as s:
        ticket = s.scalar(select(Ticket).where(Ticket.external_id == "2"))
        assert ticket is not None and ticket.status == "deleted"
        counts = query_frame(s, tickets_stmt(Windows.build(date(2025, 12, 21), ScoringConfig())))
    assert counts["tickets_90d"].sum() == 2  # tickets 1 and 4; 2 is gone, 3 had no org
    assert counts["open_urgent_high"].sum() == 1  # ticket 4 (high, open)


def test_run_killed_on_page_two_keeps_page_one_and_resumes(
    zendesk: FakeZendesk, db_url: str
) -> None:
    _fill(zendesk)
    zendesk.fail("tickets", 503, times=2, only_later_pages=True)
    first = run_sync(db_url, _cfg(), "zendesk", connector=_connector(attempts=2))
    assert first.status == "failed"
    assert "503" in first.errors[0]
    assert (_count(db_url, Account), _count(db_url, Ticket)) == (3, 2)  # page 1 kept
    page_one = _after(zendesk, "tickets", 0)
    assert _stored_cursor(db_url) == {"p": "tickets", "t": page_one, "r": START}
    zendesk.requests.clear()
    second = run_sync(db_url, _cfg(), "zendesk", connector=_connector(attempts=2))
    assert second.status == "ok", second.as_dict()
    assert zendesk.calls("organizations") == []  # resumed past the organizations
    assert _queries(zendesk, "tickets")[0] == {"include": "metric_sets", "cursor": page_one}
    assert _queries(zendesk, "satisfaction_ratings")[0]["start_time"] == str(START)
    assert second.by_entity["tickets"].inserted == 1
    assert second.by_entity["tickets"].unchanged == 0
    assert _count(db_url, Ticket) == 3


def test_failed_full_sync_keeps_the_tickets_cursor_it_did_not_reach(
    zendesk: FakeZendesk, db_url: str
) -> None:
    _fill(zendesk)
    assert run_sync(db_url, _cfg(), "zendesk", connector=_connector()).status == "ok"
    end_of_first = _after(zendesk, "tickets", 2)
    zendesk.requests.clear()
    # the full run dies on the second page of organizations
    zendesk.fail("organizations", 503, times=2, only_later_pages=True)
    full = run_sync(db_url, _cfg(), "zendesk", connector=_connector(attempts=2), full=True)
    assert full.status == "failed"
    org_page_one = _after(zendesk, "organizations", 0)
    cursor = _stored_cursor(db_url)
    assert (cursor["p"], cursor["o"], cursor["t"]) == ("orgs", org_page_one, end_of_first)
    zendesk.requests.clear()
    zendesk.tickets.append(_ticket(2, status="solved", updated_at="2025-12-20T08:00:00Z"))
    after = run_sync(db_url, _cfg(), "zendesk", connector=_connector())
    assert after.status == "ok", after.as_dict()
    assert _queries(zendesk, "organizations") == [
        {"page[size]": "2", "page[after]": org_page_one}
    ]
    assert _queries(zendesk, "satisfaction_ratings")[0]["start_time"] == str(
        NOW - OVERLAP_SECONDS
    )
    # the tickets were not read from the start again: the export went on from the cursor
    assert _queries(zendesk, "tickets") == [{"include": "metric_sets", "cursor": end_of_first}]
    assert after.by_entity["tickets"].updated == 1


def test_full_sync_reads_every_ticket_from_the_configured_start(
    zendesk: FakeZendesk, db_url: str
) -> None:
    _fill(zendesk)
    assert run_sync(db_url, _cfg(), "zendesk", connector=_connector()).status == "ok"
    zendesk.requests.clear()
    full = run_sync(db_url, _cfg(), "zendesk", connector=_connector(), full=True)
    assert full.status == "ok", full.as_dict()
    assert _queries(zendesk, "tickets")[0] == {
        "include": "metric_sets", "start_time": str(START)
    }
    assert _queries(zendesk, "satisfaction_ratings")[0]["start_time"] == str(START)
    assert full.by_entity["tickets"].unchanged == 3  # every ticket read again
    assert full.by_entity["accounts"].unchanged == 3


@pytest.mark.parametrize(
    ("url", "said"),
    [("http://acme.zendesk.com", "in clear"), ("acme.zendesk.com", "is not a URL")],
)
def test_zendesk_url_must_be_https_off_this_machine(
    db_url: str, monkeypatch: pytest.MonkeyPatch, url: str, said: str
) -> None:
    monkeypatch.setenv("ZENDESK_URL", url)
    monkeypatch.setenv("ZENDESK_EMAIL", "agent@acme.test")
    monkeypatch.setenv("ZENDESK_API_TOKEN", "tok")
    report = run_sync(db_url, _cfg(), "zendesk", connector=_connector())
    assert report.status == "failed"
    assert len(report.errors) == 1 and "ZENDESK_URL" in report.errors[0]
    assert said in report.errors[0]
