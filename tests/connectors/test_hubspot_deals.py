"""HubSpot deals and the ARR of HubSpot accounts, end to end: the real hubspot-api-client
against :class:`tests.fakes.hubspot_api.FakeHubSpot`, then the sync's ARR step
(:func:`pulse.services.arr.fill_arr`) on what was stored."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from fakes.hubspot_api import FakeHubSpot
from sqlalchemy import select

from connectors.hubspot import HubSpotConnector
from pulse.kernel.config import HubSpotSourceConfig, PulseConfig, SourcesConfig, StripeSourceConfig
from pulse.kernel.records import Batch
from pulse.services.arr import fill_arr
from pulse.services.identity import resolve_identities
from pulse.services.sync import run_sync
from storage.arr_ledger import record_arr_ledger
from storage.db import session_factory
from storage.loader import load_batch
from storage.models import Account, ArrChange, Opportunity

T0 = datetime(2026, 11, 1, 9, 0)
TODAY = date(2026, 11, 25)
CONFIG = PulseConfig(sources=SourcesConfig(hubspot=HubSpotSourceConfig()))


@pytest.fixture
def fake(hubspot_portal: FakeHubSpot) -> FakeHubSpot:
    return hubspot_portal


def _deal(fake: FakeHubSpot, oid: str, companies: list[str], n: int = 0, **props: str) -> None:
    fake.put("deals", oid, T0 + timedelta(seconds=n), dealname=f"Deal {oid}", **props)
    fake.deal_companies[oid] = companies


def _won(closed: str, **props: str) -> dict[str, str]:
    return {"dealstage": "closedwon", "hs_is_closed": "true", "hs_is_closed_won": "true",
            "closedate": f"{closed}T00:00:00.000Z", **props}


def _sync(db_url: str, config: PulseConfig = CONFIG, **kwargs: object) -> list[float]:
    slept: list[float] = []
    conn = HubSpotConnector(config, sleep=slept.append, **kwargs)  # type: ignore[arg-type]
    report = run_sync(db_url, config, "hubspot", connector=conn)
    assert report.status == "ok", report.as_dict()
    return slept


def _association_inputs(fake: FakeHubSpot) -> list[list[dict[str, str]]]:
    return [r.body["inputs"] for r in fake.calls("/crm/v4/associations/deals/companies/batch/read")
            if r.status == 200]


def _deal_accounts(db_url: str) -> dict[str, str]:
    with session_factory(db_url)() as s:
        rows = s.execute(select(Opportunity.external_id, Account.external_id)
                         .join(Account, Account.id == Opportunity.account_id)).all()
    return dict(rows)  # type: ignore[arg-type]


def _arr(db_url: str, config: PulseConfig = CONFIG) -> dict[str, float | None]:
    """Run the sync's ARR step as of TODAY; each HubSpot company's ARR."""
    with session_factory(db_url)() as s:
        fill_arr(s, config, TODAY)
        s.commit()
        return dict(s.execute(select(Account.external_id, Account.arr)
                              .where(Account.source == "hubspot")).all())  # type: ignore[arg-type]


# --- deals and their companies (associations v4) -------------------------------------------


def test_a_deal_with_two_companies_belongs_to_its_primary_one_across_association_pages(
    fake: FakeHubSpot, db_url: str
) -> None:
    for company in ("3", "9"):
        fake.put("companies", company, T0, name=f"Co {company}")
    _deal(fake, "d1", ["9", "3"])  # primary 9, listed second (by id) on a page of its own
    _deal(fake, "d2", ["3"], n=1)
    _deal(fake, "d3", [], n=2)  # no company: not importable
    fake.association_page_size = 1
    _sync(db_url)
    assert _deal_accounts(db_url) == {"d1": "9", "d2": "3"}
    assert _association_inputs(fake) == [
        [{"id": "d1"}, {"id": "d2"}, {"id": "d3"}],
        [{"id": "d1", "after": "1"}],  # the rest of d1's companies, asked for again
    ]


def test_associations_are_read_100_deals_a_request(fake: FakeHubSpot, db_url: str) -> None:
    fake.put("companies", "1", T0, name="Co 1")
    for n in range(150):
        _deal(fake, f"{n + 1000}", ["1"], n=n)
    _sync(db_url, page_size=150)
    assert [len(inputs) for inputs in _association_inputs(fake)] == [100, 50]
    assert len(_deal_accounts(db_url)) == 150


def test_a_throttled_association_read_waits_for_retry_after(
    fake: FakeHubSpot, db_url: str
) -> None:
    fake.put("companies", "1", T0, name="Co 1")
    _deal(fake, "d1", ["1"])
    fake.fail("/crm/v4/associations/", 429, retry_after="3")
    assert _sync(db_url) == [3.0]
    statuses = [r.status for r in fake.calls("/crm/v4/associations/")]
    assert statuses == [429, 200]
    assert _deal_accounts(db_url) == {"d1": "1"}


# --- ARR -----------------------------------------------------------------------------------


def _customer_portal(fake: FakeHubSpot) -> None:
    fake.put("companies", "1", T0, name="Acme", annualrevenue="5000000")
    fake.put("companies", "2", T0, name="Globex", annualrevenue="1000000")
    _deal(fake, "d1", ["1"], n=1, **_won("2026-06-01", hs_arr="24000", amount="30000"))
    _deal(fake, "d2", ["1"], n=2, **_won("2026-09-01", amount="6000"))  # no line items
    _deal(fake, "d3", ["1"], n=3, **_won("2025-06-01", hs_arr="20000"))  # renewed since
    _deal(fake, "d4", ["1"], n=4, dealstage="contractsent", hs_arr="50000")  # still open
    _deal(fake, "d5", ["2"], n=5, dealstage="closedlost", hs_is_closed="true",
          hs_is_closed_won="false", closedate="2026-10-01T00:00:00.000Z", hs_arr="9000")


def test_arr_comes_from_deals_won_in_the_last_year_never_from_annualrevenue(
    fake: FakeHubSpot, db_url: str
) -> None:
    _customer_portal(fake)
    _sync(db_url)
    deal_search = fake.calls("/objects/deals/search")[0].body
    assert "hs_arr" in deal_search["properties"]
    company_search = fake.calls("/objects/companies/search")[0].body
    assert "annualrevenue" not in company_search["properties"]
    # d1 counts its line-item ARR (not its amount), d2 its amount; d3 is over a year old,
    # d4 is open; Globex's only deal was lost: no ARR, and 1,000,000 of revenue is not ARR
    assert _arr(db_url) == {"1": 30000.0, "2": None}
    with session_factory(db_url)() as s:
        record_arr_ledger(s, TODAY)
        s.commit()
        assert s.scalars(select(ArrChange.arr)).all() == [30000.0]
    assert _arr(db_url) == {"1": 30000.0, "2": None}  # a second run changes nothing


def test_without_arr_from_deals_accounts_have_no_arr(fake: FakeHubSpot, db_url: str) -> None:
    _customer_portal(fake)
    _sync(db_url)
    assert _arr(db_url)["1"] == 30000.0
    off = PulseConfig(sources=SourcesConfig(hubspot=HubSpotSourceConfig(arr_from_deals=False)))
    _sync(db_url, off)
    assert _arr(db_url, off) == {"1": None, "2": None}  # the ARR deals gave is gone too


def test_a_mapped_arr_property_wins_over_deals(fake: FakeHubSpot, db_url: str) -> None:
    _customer_portal(fake)
    fake.define_property("arr_custom", "number")
    fake.put("companies", "1", T0, arr_custom="42000")
    mapped = PulseConfig(sources=SourcesConfig(hubspot=HubSpotSourceConfig(
        company_properties={"arr": "arr_custom"})))
    _sync(db_url, mapped)
    assert _arr(db_url, mapped) == {"1": 42000.0, "2": None}


def test_stripe_subscriptions_come_before_deals(fake: FakeHubSpot, db_url: str) -> None:
    _customer_portal(fake)
    billing = PulseConfig(sources=SourcesConfig(hubspot=HubSpotSourceConfig(),
                                                stripe=StripeSourceConfig()))
    _sync(db_url, billing)
    with session_factory(db_url)() as s:  # what the Stripe source stores for Acme
        load_batch(s, "stripe", Batch("accounts", [
            {"external_id": "cus_1", "name": "Acme Inc", "stripe_customer_id": "cus_1",
             "custom": {"crm_account_id": "1"}}]))
        load_batch(s, "stripe", Batch("subscriptions", [
            {"external_id": "sub_1", "account_external_id": "cus_1", "status": "active",
             "mrr": 2000.0},
            {"external_id": "sub_2", "account_external_id": "cus_1", "status": "canceled",
             "mrr": 0.0}]))
        resolve_identities(s, billing)
        s.commit()
    assert _arr(db_url, billing) == {"1": 24000.0, "2": None}
