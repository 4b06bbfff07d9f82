"""The HubSpot source and writeback, end to end against a fake HubSpot API.

The real hubspot-api-client talks HTTP to :class:`tests.fakes.hubspot_api.FakeHubSpot`,
so paging, error statuses, Retry-After and request bodies cross a real socket.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import urllib3
from factories import add_snapshot
from fakes.hubspot_api import FakeHubSpot
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.hubspot import (
    BATCH_SIZE,
    HEALTH_PROPERTIES,
    HubSpotConnector,
    HubSpotError,
    check_properties,
    classify,
    ensure_properties,
    make_client,
    parse_cursor,
    write_back,
)
from pulse.kernel.config import HubSpotSourceConfig, PulseConfig, SourcesConfig
from pulse.kernel.records import Batch
from pulse.services.sync import run_sync
from scoring.signals.accounts import accounts_stmt
from storage.db import session_factory
from storage.loader import load_batch
from storage.models import Account, Contact, CrmWriteback, Opportunity, Owner

T0 = datetime(2026, 11, 1, 9, 0)
NOW = datetime(2026, 11, 25, 6, 0)
CONFIG = PulseConfig(sources=SourcesConfig(hubspot=HubSpotSourceConfig()))


@pytest.fixture
def fake(hubspot_portal: FakeHubSpot) -> FakeHubSpot:
    return hubspot_portal


def _portal(fake: FakeHubSpot, companies: int = 5) -> None:
    fake.add_owner("101", "ana@vendor.io", "Ana", "Lopez", team="Enterprise")
    fake.add_owner("102", "ben@vendor.io", "Ben", "Ng")
    fake.add_owner("103", "cy@vendor.io", "Cy", "Park")
    for n in range(1, companies + 1):
        fake.put(
            "companies",
            str(n),
            T0 + timedelta(minutes=n),
            name=f"Co {n}",
            domain=f"co{n}.example",
            hubspot_owner_id="101" if n % 2 else "102",
            tier="Gold",
            segment="Mid-market",
            annualrevenue="120000.5",
            renewal_date="2027-03-31",
        )
    fake.put(
        "contacts",
        "c1",
        T0,
        firstname="Jo",
        lastname="Kim",
        email="jo@co1.example",
        associatedcompanyid="1",
        createdate="2026-01-05T10:00:00.000Z",
    )
    fake.put("contacts", "c2", T0 + timedelta(seconds=1), email="x@nowhere.example")
    fake.put(
        "deals",
        "d1",
        T0,
        dealname="Co 1 renewal",
        dealtype="existingbusiness",
        pipeline="renewals",
        dealstage="contractsent",
        amount="50000",
        closedate="2027-03-01T00:00:00.000Z",
        hubspot_owner_id="101",
        hs_is_closed="false",
        hs_is_closed_won="false",
    )
    fake.put(
        "deals",
        "d2",
        T0 + timedelta(seconds=1),
        dealname="Co 2 upsell",
        dealtype="newbusiness",
        dealstage="closedwon",
        amount="9000",
        closedate="2026-10-01T00:00:00.000Z",
    )
    fake.deal_companies = {"d1": ["1", "3"], "d2": ["2"]}


def _connector(**kwargs: object) -> tuple[HubSpotConnector, list[float]]:
    slept: list[float] = []
    conn = HubSpotConnector(CONFIG, sleep=slept.append, **kwargs)  # type: ignore[arg-type]
    return conn, slept


def _count(url: str, model: type) -> int:
    with session_factory(url)() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _search_bodies(fake: FakeHubSpot, kind: str) -> list[dict]:
    return [r.body for r in fake.calls(f"/objects/{kind}/search") if r.status == 200]


# --- pulling -----------------------------------------------------------------------------


def test_pull_pages_through_owners_companies_contacts_and_deals(
    fake: FakeHubSpot, db_url: str
) -> None:
    _portal(fake)
    conn, _ = _connector(page_size=2)
    conn.owners_page_size = 2
    report = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert report.status == "ok", report.as_dict()
    assert len(fake.calls("/crm/v3/owners")) == 2  # 3 owners, 2 a page
    assert report.by_entity["owners"].fetched == 3
    assert len(_search_bodies(fake, "companies")) == 3  # 5 companies, 2 a page
    first = _search_bodies(fake, "companies")[0]
    assert first["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert first["filterGroups"] == []  # first run: everything
    assert _search_bodies(fake, "companies")[1]["after"] == "2"
    assert all(r.authorization == f"Bearer {fake.token}" for r in fake.requests)

    with session_factory(db_url)() as s:
        owners = {o.external_id: o for o in s.scalars(select(Owner))}
        assert owners["101"].name == "Ana Lopez" and owners["101"].team == "Enterprise"
        assert owners["101"].crm_owner_id == "101"
        acme = s.scalars(select(Account).where(Account.external_id == "1")).one()
        assert (acme.hubspot_id, acme.domain, acme.name) == ("1", "co1.example", "Co 1")
        assert (acme.tier, acme.segment) == ("Gold", "Mid-market")
        assert acme.arr is None  # annualrevenue is the company's own revenue, never ARR
        assert acme.renewal_date == date(2027, 3, 31)
        assert acme.owner_id == owners["101"].id
        assert _count(db_url, Account) == 5
        contact = s.scalars(select(Contact)).one()  # c2 has no company
        assert (contact.external_id, contact.name, contact.created_on) == (
            "c1",
            "Jo Kim",
            date(2026, 1, 5),
        )
        assert contact.account_id == acme.id
        deals = {d.external_id: d for d in s.scalars(select(Opportunity))}
        d1, d2 = deals["d1"], deals["d2"]
        assert (d1.kind, d1.stage, d1.amount, d1.close_date) == (
            "renewal",
            "contractsent",
            50000.0,
            date(2027, 3, 1),
        )
        assert d1.account_id == acme.id  # the primary association, not company 3
        assert not d1.is_closed and d1.owner_id == owners["101"].id
        assert (d2.kind, d2.is_closed, d2.is_won) == ("new", True, True)
    assert any("1 HubSpot contacts without an associated company" in w for w in report.warnings)
    cursor = parse_cursor(report.cursor)
    assert cursor["companies"] == _epoch_ms(T0 + timedelta(minutes=5))  # the last one seen
    assert cursor["deals"] == _epoch_ms(T0 + timedelta(seconds=1))


def _epoch_ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def test_empty_portal_and_trailing_empty_page(fake: FakeHubSpot, db_url: str) -> None:
    conn, _ = _connector()
    report = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert report.status == "ok" and report.totals.inserted == 0

    fake.trailing_empty_page = True  # a last page that says "next", then an empty one
    fake.put("companies", "1", T0, name="Solo")
    conn, _ = _connector()
    report = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert report.status == "ok", report.errors
    assert _count(db_url, Account) == 1
    assert [len(b["filterGroups"]) for b in _search_bodies(fake, "companies")[-2:]] == [0, 0]


def test_429_with_retry_after_then_success(fake: FakeHubSpot, db_url: str) -> None:
    _portal(fake)
    fake.fail("/objects/companies/search", 429, retry_after="0")
    conn, slept = _connector()
    report = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert report.status == "ok", report.errors
    assert slept == [0.0]  # the server's Retry-After, not the client's own retry
    statuses = [r.status for r in fake.calls("/objects/companies/search")]
    assert statuses == [429, 200]
    assert _count(db_url, Account) == 5


def test_500_then_success_backs_off(fake: FakeHubSpot, db_url: str) -> None:
    _portal(fake)
    fake.fail("/crm/v3/owners", 500, times=2)
    conn, slept = _connector()
    report = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert report.status == "ok", report.errors
    assert slept == [1.0, 2.0]
    assert [r.status for r in fake.calls("/crm/v3/owners")] == [500, 500, 200]


def test_401_is_a_clear_error_and_not_retried(
    fake: FakeHubSpot, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-revoked")
    conn, slept = _connector()
    report = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert report.status == "failed"
    assert "401" in report.errors[0] and "HUBSPOT_ACCESS_TOKEN" in report.errors[0]
    assert slept == [] and len(fake.requests) == 1


def test_missing_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    with pytest.raises(HubSpotError, match="HUBSPOT_ACCESS_TOKEN"):
        make_client()


def test_incremental_run_reads_only_changes(fake: FakeHubSpot, db_url: str) -> None:
    _portal(fake)
    conn, _ = _connector()
    first = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert first.status == "ok"
    fake.put("companies", "2", T0 + timedelta(days=3), name="Co 2 renamed")
    fake.requests.clear()
    conn, _ = _connector()
    second = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert second.status == "ok", second.errors
    body = _search_bodies(fake, "companies")[0]
    floor = parse_cursor(first.cursor)["companies"]
    assert body["filterGroups"] == [
        {
            "filters": [
                {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(floor)}
            ]
        }
    ]
    assert (
        _search_bodies(fake, "contacts")[0]["filterGroups"][0]["filters"][0]["propertyName"]
        == "lastmodifieddate"
    )
    companies = second.by_entity["accounts"]
    assert companies.updated == 1 and companies.inserted == 0
    assert companies.fetched == 2  # the change, and the boundary record re-read unchanged
    with session_factory(db_url)() as s:
        assert s.scalar(select(Account.name).where(Account.external_id == "2")) == "Co 2 renamed"
    assert parse_cursor(second.cursor)["companies"] > floor


def test_deleted_and_merged_companies_stop_being_scored_and_restored_ones_return(
    fake: FakeHubSpot, db_url: str
) -> None:
    """The search never returns an archived company: read only through it, a company
    deleted or merged away in HubSpot stayed scored, alerted and written back for good."""
    _portal(fake)
    assert run_sync(db_url, CONFIG, "hubspot", connector=_connector()[0]).status == "ok"
    fake.archive("2", datetime(2026, 11, 10, 8, 0))
    fake.put("companies", "4", datetime(2026, 11, 12, 9, 0), hs_merged_object_ids="3;4;77")
    fake.archive("d1", datetime(2026, 11, 11, 7, 0), kind="deals")
    fake.put("companies", "99", datetime(2026, 11, 9), name="Never synced")
    fake.archive("99", datetime(2026, 11, 9, 12, 0))

    fake.requests.clear()

    def deleted() -> dict[str, datetime | None]:
        with session_factory(db_url)() as s:
            rows = s.execute(select(Account.external_id, Account.deleted_at)).all()
            return {str(e): d for e, d in rows}

    report = run_sync(db_url, CONFIG, "hubspot", connector=_connector()[0])
    assert report.status == "ok", report.errors
    assert [c.path for c in fake.requests if c.method == "GET"
            and c.query.get("archived", "").lower() == "true"] == [
        "/crm/v3/objects/companies", "/crm/v3/objects/deals"]
    # merged-away 77 and archived 99 were never stored: nothing is created for them
    assert deleted() == {"1": None, "2": datetime(2026, 11, 10, 8, 0),
                         "3": datetime(2026, 11, 12, 9, 0), "4": None, "5": None}
    with session_factory(db_url)() as s:
        deals = dict(s.execute(select(Opportunity.external_id, Opportunity.deleted_at)).all())
    assert deals == {"d1": datetime(2026, 11, 11, 7, 0), "d2": None}
    with session_factory(db_url)() as s:
        alive = set(s.scalars(select(Account.name).where(
            Account.id.in_(select(accounts_stmt(date(2026, 11, 20)).subquery().c.account_id)))))
    assert alive == {"Co 1", "Co 4", "Co 5"}
    with session_factory(db_url)() as s:
        merged = dict(s.execute(select(Account.external_id, Account.merged_into)).all())
    assert merged == {"1": None, "2": None, "3": "4", "4": None, "5": None}
    with session_factory(db_url)() as s:  # what was stored of the deleted ones is kept
        gone = s.scalars(select(Account).where(Account.external_id.in_(["2", "3"]))).all()
        assert {(a.name, a.domain, a.owner_id is not None) for a in gone} == {
            ("Co 2", "co2.example", True), ("Co 3", "co3.example", True)}

    fake.objects["companies"]["2"]["archived"] = False  # restored from the recycle bin
    fake.put("companies", "2", datetime(2026, 11, 14), name="Co 2")
    assert run_sync(db_url, CONFIG, "hubspot", connector=_connector()[0]).status == "ok"
    assert deleted()["2"] is None


def test_killed_run_resumes_without_gaps_or_duplicates(fake: FakeHubSpot, db_url: str) -> None:
    _portal(fake, companies=7)
    # the connection dies for good on the third page of companies
    fake.fail("/objects/companies/search", 500, times=5, when=lambda b: b.get("after") == "4")
    conn, _ = _connector(page_size=2)
    broken = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert broken.status == "failed"
    assert _count(db_url, Account) == 4  # two pages stored
    stored = parse_cursor(broken.cursor)
    assert stored["companies"] is not None and stored["contacts"] is None

    fake.requests.clear()
    conn, _ = _connector(page_size=2)
    resumed = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert resumed.status == "ok", resumed.errors
    assert _search_bodies(fake, "companies")[0]["filterGroups"][0]["filters"][0]["value"] == str(
        stored["companies"]
    )
    assert resumed.by_entity["accounts"].inserted == 3  # 5, 6, 7: no gap
    with session_factory(db_url)() as s:
        ids = list(s.scalars(select(Account.external_id)))
    assert sorted(ids) == [str(n) for n in range(1, 8)]  # no duplicates
    assert _count(db_url, Contact) == 1 and _count(db_url, Opportunity) == 2


def test_run_dying_between_objects_keeps_each_cursor(fake: FakeHubSpot, db_url: str) -> None:
    _portal(fake)
    fake.fail("/objects/deals/search", 503, times=5)
    conn, _ = _connector()
    broken = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert broken.status == "failed"
    state = parse_cursor(broken.cursor)
    assert state["companies"] and state["contacts"] and state["deals"] is None
    fake.requests.clear()
    conn, _ = _connector()
    resumed = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert resumed.status == "ok"
    assert _search_bodies(fake, "deals")[0]["filterGroups"] == []  # deals from the start
    assert _search_bodies(fake, "companies")[0]["filterGroups"] != []
    assert _count(db_url, Opportunity) == 2


def test_a_failed_full_sync_keeps_the_cursors_it_did_not_reach(
    fake: FakeHubSpot, db_url: str
) -> None:
    _portal(fake)
    first = run_sync(db_url, CONFIG, "hubspot", connector=_connector()[0])
    assert first.status == "ok"
    before = parse_cursor(first.cursor)
    assert before["deals"] is not None
    fake.fail("/objects/deals/search", 503, times=5)
    fake.requests.clear()
    full = run_sync(db_url, CONFIG, "hubspot", connector=_connector()[0], full=True)
    assert full.status == "failed"
    assert _search_bodies(fake, "companies")[0]["filterGroups"] == []  # full: from the start
    assert parse_cursor(full.cursor) == before  # companies, contacts re-read; deals kept
    fake.requests.clear()
    after = run_sync(db_url, CONFIG, "hubspot", connector=_connector()[0])
    assert after.status == "ok"
    assert _search_bodies(fake, "deals")[0]["filterGroups"] != []  # not from the start


def test_search_result_limit_moves_the_cursor(fake: FakeHubSpot, db_url: str) -> None:
    fake.result_limit = 4  # stands in for HubSpot's 10,000
    for n in range(1, 10):
        fake.put("companies", str(n), T0 + timedelta(minutes=n // 2), name=f"Co {n}")
    conn, _ = _connector(page_size=2, result_limit=4)
    report = run_sync(db_url, CONFIG, "hubspot", connector=conn)
    assert report.status == "ok", report.errors
    bodies = _search_bodies(fake, "companies")
    assert all(r.status == 200 for r in fake.calls("/search"))  # never paged past the limit
    assert [b.get("after") for b in bodies] == [None, "2", None, "2", None, "2"]  # 2 restarts
    floors = [b["filterGroups"][0]["filters"][0]["value"] for b in bodies if b["filterGroups"]]
    assert floors == sorted(floors) and len(set(floors)) == 2  # the cursor moved forward
    accounts = report.by_entity["accounts"]
    assert accounts.inserted == 9 and accounts.fetched == 9  # nothing yielded twice


def test_classifier_reads_status_and_retry_after() -> None:
    from hubspot.crm.companies.exceptions import ApiException

    exc = ApiException(status=429, reason="Too Many Requests")
    exc.headers = {"retry-after": "3"}
    assert classify(exc) is not None and classify(exc).after == 3.0  # type: ignore[union-attr]
    assert classify(ApiException(status=400)) is None
    assert classify(ValueError("x")) is None
    # the client's own retries are off, so a refused connection surfaces at once: retry it
    dropped = urllib3.exceptions.MaxRetryError(None, "/crm/v3/owners", reason=None)
    assert classify(dropped) is not None


# --- writeback ---------------------------------------------------------------------------


def _scored_accounts(session: Session, hubspot_ids: list[str], score: float = 60.0) -> None:
    load_batch(
        session,
        "hubspot",
        Batch(
            "accounts",
            [{"external_id": h, "name": f"Co {h}", "hubspot_id": h} for h in hubspot_ids],
        ),
    )
    for account in session.scalars(select(Account)):
        add_snapshot(
            session,
            account.id,
            date(2026, 11, 24),
            score,
            computed_at=NOW,
            tier="fine",
            expansion_score=12.4,
            renewal_risk="medium",
            renewal_risk_score=40.0,
            flush=False,
        )
    session.flush()


def _updates(fake: FakeHubSpot) -> list[dict]:
    return [r.body for r in fake.calls("/objects/companies/batch/update")]


def test_writeback_creates_properties_and_keeps_per_record_failures(
    fake: FakeHubSpot, session: Session
) -> None:
    for h in ("1", "2", "3"):
        fake.put("companies", h, T0, name=f"Co {h}")
    _scored_accounts(session, ["1", "2", "3", "999"])  # 999 was deleted in HubSpot
    before = check_properties(None, CONFIG, sleep=lambda _: None)
    assert {c.name for c in before if not c.ok} >= {p.name for p in HEALTH_PROPERTIES.values()}
    fake.requests.clear()

    report = write_back(session, CONFIG, now=NOW)
    assert fake.groups["customer_health"]["label"] == "Customer health"
    created = {p.name: fake.properties[p.name] for p in HEALTH_PROPERTIES.values()}
    assert created["health_score"]["type"] == "number"
    assert created["health_updated"]["type"] == "datetime"
    assert created["health_tier"]["type"] == "enumeration"
    assert {o["value"] for o in created["health_tier"]["options"]} == {"Healthy", "Fine", "At risk"}
    assert all(p["groupName"] == "customer_health" for p in created.values())

    # one read-back, the first update refused (no such properties), then 2 listings, the
    # group and 6 properties created, and the update sent again: every request is counted
    assert (report.requests, report.setup_requests) == (1, 10) and report.succeeded == 3
    assert report.read_requests == 1 and len(fake.requests) == 12
    assert len(_updates(fake)) == 2
    assert report.failed == [
        (
            "Co 999 (999)",
            "OBJECT_NOT_FOUND: Could not get some COMPANY "
            "objects, they may be deleted or not exist.",
        )
    ]
    sent = _updates(fake)[-1]["inputs"][0]
    assert sent["properties"] == {
        "health_score": 60.0,
        "health_tier": "Fine",
        "health_reasons": "Seats: 3 of 10 seats active (30%)",
        "expansion_score": 12.4,
        "renewal_risk": "medium",
        "health_updated": "2026-11-25T06:00:00Z",
    }
    assert fake.objects["companies"]["1"]["properties"]["health_score"] == 60
    rows = {w.record_id: w for w in session.scalars(select(CrmWriteback))}
    assert rows["999"].last_error and rows["1"].last_error is None
    assert all(c.ok for c in check_properties(None, CONFIG) if c.kind != "read")

    # next run: only the failed record is retried, the properties are not created again
    fake.requests.clear()
    again = write_back(session, CONFIG, now=NOW)
    assert again.requests == 1 and again.unchanged == 3
    assert [i["id"] for i in _updates(fake)[0]["inputs"]] == ["999"]
    assert not fake.calls("/crm/v3/properties")  # set up already: not even read again


def _portal_set_up(fake: FakeHubSpot) -> None:
    """The health group and properties exist already (any run after the first)."""
    ensure_properties(make_client(), CONFIG, sleep=lambda _: None)
    fake.requests.clear()


def test_writeback_twice_without_changes_sends_nothing(fake: FakeHubSpot, session: Session) -> None:
    _portal_set_up(fake)
    for h in ("1", "2"):
        fake.put("companies", h, T0, name=f"Co {h}")
    _scored_accounts(session, ["1", "2"])
    first = write_back(session, CONFIG, now=NOW)
    assert first.requests == 1 and first.succeeded == 2
    fake.requests.clear()
    second = write_back(session, CONFIG, now=NOW)
    assert second.requests == 0 and second.unchanged == 2
    # one read-back, no update, not even the property check
    assert [r.path for r in fake.requests] == ["/crm/v3/objects/companies/batch/read"]


def test_250_changed_companies_take_3_batch_requests(fake: FakeHubSpot, session: Session) -> None:
    _portal_set_up(fake)
    ids = [str(n) for n in range(1, 251)]
    for h in ids:
        fake.put("companies", h, T0, name=f"Co {h}")
    _scored_accounts(session, ids)
    report = write_back(session, CONFIG, now=NOW)
    assert report.requests == 3 and report.succeeded == 250 and not report.failed
    assert [len(b["inputs"]) for b in _updates(fake)] == [BATCH_SIZE, BATCH_SIZE, 50]


def test_writeback_retries_a_throttled_batch(fake: FakeHubSpot, session: Session) -> None:
    _portal_set_up(fake)
    fake.put("companies", "1", T0, name="Co 1")
    _scored_accounts(session, ["1"])
    fake.fail("/objects/companies/batch/update", 429, retry_after="0")
    slept: list[float] = []
    report = write_back(session, CONFIG, now=NOW, sleep=slept.append)
    assert report.succeeded == 1 and report.requests == 1 and slept == [0.0]


def test_whole_batch_4xx_naming_ids_drops_them_and_sends_the_rest(
    fake: FakeHubSpot, session: Session
) -> None:
    for h in ("1", "2"):
        fake.put("companies", h, T0, name=f"Co {h}")
    _scored_accounts(session, ["1", "2"])
    write_back(session, CONFIG, now=NOW)  # properties now exist
    _scored_accounts_day2(session)
    fake.fail(
        "/objects/companies/batch/update",
        404,
        body={
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "gone",
            "context": {"ids": ["2"]},
        },
    )
    report = write_back(session, CONFIG, now=NOW)
    assert report.failed == [("Co 2 (2)", "OBJECT_NOT_FOUND: gone")]
    assert report.succeeded == 1 and report.requests == 2
    assert [i["id"] for i in _updates(fake)[-1]["inputs"]] == ["1"]


def _scored_accounts_day2(session: Session) -> None:
    for account in session.scalars(select(Account)):
        add_snapshot(
            session,
            account.id,
            date(2026, 11, 25),
            40.0,
            computed_at=NOW,
            tier="at_risk",
            expansion_score=12.4,
            renewal_risk="medium",
            renewal_risk_score=40.0,
            reasons=[],
            flush=False,
        )
    session.flush()


def test_cursor_is_compact_json() -> None:
    state = {"companies": 1764064800000, "contacts": 1764064800000, "deals": 1764064800000}
    from connectors.hubspot import dump_cursor

    text = dump_cursor(state)  # type: ignore[arg-type]
    assert len(text) < 200 and json.loads(text) == state
    assert parse_cursor(text) == state


def test_owner_pages_are_counted_for_the_progress_line(fake: FakeHubSpot) -> None:
    _portal(fake)
    conn, _ = _connector(page_size=2)
    conn.owners_page_size = 2
    owners = next(b for b in conn.pull(None) if b.entity == "owners")
    assert (len(owners.records), owners.pages) == (3, 2)  # gathered from two pages
