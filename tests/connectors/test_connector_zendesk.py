"""The Zendesk connector against ``responses``-mocked HTTP (it uses ``requests``)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers
from sqlalchemy import func, select

from connectors.zendesk import OVERLAP_SECONDS, ZendeskConnector, classify_requests_error
from pulse.kernel.config import PulseConfig, ZendeskSourceConfig
from pulse.kernel.records import Batch
from pulse.services.sync import run_sync
from storage.db import session_factory
from storage.models import Account, SyncState, Ticket

BASE = "https://acme.zendesk.test"
ORGS = f"{BASE}/api/v2/organizations.json"
RATINGS = f"{BASE}/api/v2/satisfaction_ratings.json"
EXPORT = f"{BASE}/api/v2/incremental/tickets/cursor.json"
NOW = 1_767_225_600  # 2026-01-01 00:00 UTC
START = 1_700_000_000


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[responses.RequestsMock]:
    monkeypatch.setenv("ZENDESK_URL", BASE + "/")
    monkeypatch.setenv("ZENDESK_EMAIL", "agent@acme.test")
    monkeypatch.setenv("ZENDESK_API_TOKEN", "tok")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


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


def _orgs(rsps: responses.RequestsMock) -> None:
    rsps.get(
        ORGS,
        match=[matchers.query_param_matcher({"page[size]": "2"})],
        json={
            "organizations": [_org(1), _org(2)],
            "meta": {"has_more": True, "after_cursor": "org-c1"},
        },
    )
    rsps.get(
        ORGS,
        match=[matchers.query_param_matcher({"page[size]": "2", "page[after]": "org-c1"})],
        json={
            "organizations": [_org(3)],
            "meta": {"has_more": False, "after_cursor": None},
        },
    )


def _ratings(rsps: responses.RequestsMock, since: int = START) -> None:
    rsps.get(
        RATINGS,
        match=[
            matchers.query_param_matcher(
                {"score": "received", "start_time": str(since), "page[size]": "2"}
            )
        ],
        json={
            "satisfaction_ratings": [
                {"id": 1, "ticket_id": 2, "score": "bad", "updated_at": "2025-12-04T00:00:00Z"},
                {"id": 2, "ticket_id": 2, "score": "good", "updated_at": "2025-12-02T00:00:00Z"},
            ],
            "meta": {"has_more": False},
        },
    )


def _export(
    rsps: responses.RequestsMock,
    query: dict[str, str],
    tickets: list[dict],
    after: str,
    end: bool,
    metric_sets: list[dict] | None = None,
) -> None:
    rsps.get(
        EXPORT,
        match=[matchers.query_param_matcher({"include": "metric_sets", **query})],
        json={
            "tickets": tickets,
            "metric_sets": metric_sets or [],
            "after_cursor": after,
            "after_url": f"{EXPORT}?cursor={after}",
            "end_of_stream": end,
        },
    )


def _all_pages(rsps: responses.RequestsMock) -> None:
    _orgs(rsps)
    _ratings(rsps)
    _export(
        rsps,
        {"start_time": str(START)},
        [
            _ticket(1, status="solved"),
            _ticket(2, tags=["sentiment_negative", "vip"]),
        ],
        "tc1",
        False,
        metric_sets=[{"ticket_id": 1, "solved_at": "2025-12-02T09:00:00Z"}],
    )
    _export(rsps, {"cursor": "tc1"}, [_ticket(3, org=None), _ticket(4, org=2)], "tc2", False)
    _export(rsps, {"cursor": "tc2"}, [], "tc3", True)  # the empty last page


def _records(batches: list[Batch], entity: str) -> list[dict]:
    return [r for b in batches if b.entity == entity for r in b.records]  # type: ignore[union-attr]


def _queries(rsps: responses.RequestsMock, url: str) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(c.request.url).query)
        for c in rsps.calls
        if (c.request.url or "").split("?")[0] == url
    ]


def test_pages_are_followed_and_records_mapped(mocked: responses.RequestsMock) -> None:
    _all_pages(mocked)
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
        "solved_at": datetime(2025, 12, 2, 9, 0),  # from the metric set
        "satisfaction": None,
        "sentiment": None,
    }
    assert tickets["2"]["satisfaction"] == "bad"  # the latest rating wins
    assert tickets["2"]["sentiment"] == "negative" and tickets["2"]["solved_at"] is None
    assert tickets["4"]["account_external_id"] == "2"
    assert connector.warnings == ["1 ticket(s) without an organization were skipped"]
    auth = mocked.calls[0].request.headers["Authorization"]
    assert base64.b64decode(auth.removeprefix("Basic ")).decode() == "agent@acme.test/token:tok"
    assert json.loads(batches[0].cursor or "") == {"p": "orgs", "o": "org-c1", "r": START}
    assert json.loads(batches[3].cursor or "") == {"p": "tickets", "t": "tc2", "r": START}
    assert json.loads(batches[-1].cursor or "") == {"t": "tc3", "r": NOW - OVERLAP_SECONDS}


def test_solved_at_falls_back_to_updated_at_and_embedded_rating(
    mocked: responses.RequestsMock,
) -> None:
    mocked.get(ORGS, json={"organizations": [], "meta": {"has_more": False}})
    mocked.get(RATINGS, json={"satisfaction_ratings": [], "meta": {"has_more": False}})
    _export(
        mocked,
        {"start_time": str(START)},
        [
            _ticket(5, status="closed", satisfaction_rating={"score": "good_with_comment"}),
            _ticket(6, status="deleted"),
        ],
        "x",
        True,
    )
    connector = _connector()
    tickets = _records(list(connector.pull(None)), "tickets")
    assert len(tickets) == 1
    assert tickets[0]["solved_at"] == datetime(2025, 12, 3, 12, 30)
    assert tickets[0]["satisfaction"] == "good"
    assert connector.warnings == ["1 deleted ticket(s) were skipped"]


def test_429_with_retry_after_then_success(mocked: responses.RequestsMock) -> None:
    mocked.get(ORGS, status=429, headers={"Retry-After": "0"}, body="Too Many Requests")
    _all_pages(mocked)
    slept: list[float] = []
    batches = list(_connector(sleep=slept.append).pull(None))
    assert slept == [0.0]
    assert len(_records(batches, "accounts")) == 3


def test_500_then_success_uses_backoff(mocked: responses.RequestsMock) -> None:
    # of several matching responses, ``responses`` answers (and drops) the first registered
    mocked.get(EXPORT, status=500, body="oops")
    _orgs(mocked)
    _ratings(mocked)
    _export(mocked, {"start_time": str(START)}, [], "x", True)
    slept: list[float] = []
    batches = list(_connector(sleep=slept.append).pull(None))
    assert slept == [1.0]
    assert [b.entity for b in batches][-1] == "tickets"
    assert len(_queries(mocked, EXPORT)) == 2


def test_classifier() -> None:
    assert classify_requests_error(ValueError("x")) is None
    assert classify_requests_error(responses.ConnectionError("reset")) is not None


def _count(url: str, model: type) -> int:
    with session_factory(url)() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_401_is_a_clear_error_not_retried(mocked: responses.RequestsMock, db_url: str) -> None:
    mocked.get(ORGS, status=401, json={"error": "Couldn't authenticate you"})
    report = run_sync(db_url, _cfg(), "zendesk", connector=_connector())
    assert report.status == "failed"
    assert len(report.errors) == 1 and "ZENDESK_API_TOKEN" in report.errors[0]
    assert "401" in report.errors[0]
    assert len(mocked.calls) == 1


def test_second_run_resumes_from_after_cursor(mocked: responses.RequestsMock, db_url: str) -> None:
    _all_pages(mocked)
    first = run_sync(db_url, _cfg(), "zendesk", connector=_connector())
    assert first.status == "ok", first.as_dict()
    assert (_count(db_url, Account), _count(db_url, Ticket)) == (3, 3)
    with session_factory(db_url)() as s:
        ticket = s.scalar(select(Ticket).where(Ticket.external_id == "2"))
        assert ticket is not None and ticket.contact_id is None  # requester unknown
        assert ticket.satisfaction == "bad" and ticket.sentiment == "negative"
        acct = s.scalar(select(Account).where(Account.external_id == "1"))
        assert acct is not None and acct.zendesk_org_id == "1" and acct.source == "zendesk"
    mocked.reset()
    _orgs(mocked)
    _ratings(mocked, since=NOW - OVERLAP_SECONDS)
    _export(mocked, {"cursor": "tc3"}, [_ticket(2, status="solved")], "tc4", True)
    second = run_sync(db_url, _cfg(), "zendesk", connector=_connector())
    assert second.status == "ok", second.as_dict()
    assert _queries(mocked, EXPORT) == [{"include": ["metric_sets"], "cursor": ["tc3"]}]
    assert second.by_entity["tickets"].updated == 1
    assert _count(db_url, Ticket) == 3
    with session_factory(db_url)() as s:
        state = s.get(SyncState, "zendesk")
        assert state is not None and json.loads(state.cursor or "")["t"] == "tc4"


def test_run_killed_on_page_two_keeps_page_one_and_resumes(
    mocked: responses.RequestsMock, db_url: str
) -> None:
    for _ in range(2):  # registered first, so they answer before the page 2 they replace
        mocked.get(
            EXPORT,
            status=503,
            match=[matchers.query_param_matcher({"include": "metric_sets", "cursor": "tc1"})],
        )
    _all_pages(mocked)
    first = run_sync(db_url, _cfg(), "zendesk", connector=_connector(attempts=2))
    assert first.status == "failed"
    assert "503" in first.errors[0]
    assert (_count(db_url, Account), _count(db_url, Ticket)) == (3, 2)  # page 1 kept
    with session_factory(db_url)() as s:
        state = s.get(SyncState, "zendesk")
        assert state is not None
        assert json.loads(state.cursor or "") == {"p": "tickets", "t": "tc1", "r": START}
    mocked.reset()
    _ratings(mocked)
    _export(mocked, {"cursor": "tc1"}, [_ticket(3, org=None), _ticket(4, org=2)], "tc2", False)
    _export(mocked, {"cursor": "tc2"}, [], "tc3", True)
    second = run_sync(db_url, _cfg(), "zendesk", connector=_connector(attempts=2))
    assert second.status == "ok", second.as_dict()
    assert _queries(mocked, ORGS) == []  # resumed past the organizations
    assert second.by_entity["tickets"].inserted == 1
    assert second.by_entity["tickets"].unchanged == 0
    assert _count(db_url, Ticket) == 3


def test_failed_full_sync_keeps_the_tickets_cursor_it_did_not_reach(
    mocked: responses.RequestsMock, db_url: str
) -> None:
    _all_pages(mocked)
    assert run_sync(db_url, _cfg(), "zendesk", connector=_connector()).status == "ok"
    mocked.reset()
    for _ in range(2):  # the full run dies on the second page of organizations
        mocked.get(
            ORGS,
            status=503,
            match=[matchers.query_param_matcher({"page[size]": "2", "page[after]": "org-c1"})],
        )
    _orgs(mocked)
    full = run_sync(db_url, _cfg(), "zendesk", connector=_connector(attempts=2), full=True)
    assert full.status == "failed"
    with session_factory(db_url)() as s:
        state = s.get(SyncState, "zendesk")
        assert state is not None
        cursor = json.loads(state.cursor or "")
        assert (cursor["p"], cursor["o"], cursor["t"]) == ("orgs", "org-c1", "tc3")
    mocked.reset()
    _orgs(mocked)
    _ratings(mocked, since=NOW - OVERLAP_SECONDS)
    _export(mocked, {"cursor": "tc3"}, [_ticket(2, status="solved")], "tc4", True)
    after = run_sync(db_url, _cfg(), "zendesk", connector=_connector())
    assert after.status == "ok", after.as_dict()
    # the tickets were not read from the start again: the export went on from tc3
    assert _queries(mocked, EXPORT) == [{"include": ["metric_sets"], "cursor": ["tc3"]}]


def test_full_sync_reads_every_ticket_from_the_configured_start(
    mocked: responses.RequestsMock, db_url: str
) -> None:
    _all_pages(mocked)
    assert run_sync(db_url, _cfg(), "zendesk", connector=_connector()).status == "ok"
    mocked.reset()
    _all_pages(mocked)
    full = run_sync(db_url, _cfg(), "zendesk", connector=_connector(), full=True)
    assert full.status == "ok", full.as_dict()
    assert _queries(mocked, EXPORT)[0] == {
        "include": ["metric_sets"], "start_time": [str(START)]
    }
    assert _queries(mocked, RATINGS)[0]["start_time"] == [str(START)]
