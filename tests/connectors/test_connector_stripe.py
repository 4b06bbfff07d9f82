"""The Stripe connector through the real ``stripe`` package against a local fake API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import pytest
from fakes.stripe_api import FakeStripe
from sqlalchemy import func, select

from connectors.stripe_billing import (
    OVERLAP_SECONDS,
    StripeConnector,
    classify_stripe_error,
    map_invoice,
    map_subscription,
)
from pulse.kernel.config import PulseConfig, StripeSourceConfig
from pulse.kernel.records import Batch
from pulse.services.sync import run_sync
from storage.db import session_factory
from storage.models import Account, Invoice, Subscription, SyncState

DAY = 86_400
T0 = 1_767_225_600  # 2026-01-01 00:00 UTC
NOW = T0 + 60 * DAY


def _customer(n: int, crm: str | None = None, email: str | None = None) -> dict:
    return {
        "id": f"cus_{n}",
        "object": "customer",
        "created": T0 + n,
        "name": f"Customer {n}",
        "email": email or f"billing@c{n}.example",
        "metadata": {"pulse_account_id": crm} if crm else {},
    }


def _price(nickname: str, amount: int, interval: str = "month", currency: str = "usd") -> dict:
    return {
        "id": f"price_{nickname}",
        "object": "price",
        "nickname": nickname,
        "currency": currency,
        "unit_amount": amount,
        "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
    }


def _sub(
    n: int,
    customer: int,
    status: str = "active",
    created: int | None = None,
    items: list[dict] | None = None,
) -> dict:
    return {
        "id": f"sub_{n}",
        "object": "subscription",
        "created": created if created is not None else T0 + n * DAY,
        "customer": f"cus_{customer}",
        "status": status,
        "start_date": T0 + n * DAY,
        "trial_end": None,
        "canceled_at": T0 + 40 * DAY if status == "canceled" else None,
        "items": {
            "object": "list",
            "data": items
            or [
                {
                    "id": f"si_{n}",
                    "quantity": 10,
                    "price": _price("Pro", 5000),
                    "current_period_end": T0 + 70 * DAY,
                }
            ],
        },
    }


def _invoice(n: int, customer: int, status: str, created: int, sub: int | None = None) -> dict:
    return {
        "id": f"in_{n}",
        "object": "invoice",
        "created": created,
        "customer": f"cus_{customer}",
        "currency": "usd",
        "status": status,
        "amount_due": 50_000,
        "total": 50_000,
        "due_date": created + 30 * DAY,
        "status_transitions": {"paid_at": created + 2 * DAY if status == "paid" else None},
        "parent": {"subscription_details": {"subscription": f"sub_{sub}"}} if sub else None,
    }


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        monkeypatch.setenv("STRIPE_API_KEY", server.api_key)
        monkeypatch.setenv("STRIPE_API_BASE", server.base_url)
        yield server


def _fill(fake: FakeStripe) -> None:
    fake.objects["customers"] = [_customer(i, crm=f"001CRM{i}") for i in (1, 2, 3)]
    fake.objects["subscriptions"] = [
        _sub(1, 1),
        _sub(2, 2, status="canceled"),
        _sub(3, 3, status="trialing"),
    ]
    fake.objects["invoices"] = [
        _invoice(1, 1, "paid", T0 + 5 * DAY, sub=1),
        _invoice(2, 2, "open", T0 + 10 * DAY, sub=2),
        _invoice(3, 1, "open", T0 + 20 * DAY, sub=1),
    ]


def _connector(cfg: PulseConfig | None = None, **kw: object) -> StripeConnector:
    kw.setdefault("page_size", 2)
    kw.setdefault("clock", lambda: NOW)
    kw.setdefault("sleep", lambda s: None)
    return StripeConnector(cfg or PulseConfig(), **kw)  # type: ignore[arg-type]


def _records(batches: list[Batch], entity: str) -> list[dict]:
    return [r for b in batches if b.entity == entity for r in b.records]  # type: ignore[union-attr]


def test_pages_are_followed_and_records_mapped(fake: FakeStripe) -> None:
    _fill(fake)
    fake.trailing_empty_page.add("invoices")
    batches = list(_connector().pull(None))
    # customers 2+1, subscriptions 2+1, invoices 2+1 and the empty page that follows
    assert [b.entity for b in batches] == ["accounts"] * 2 + ["subscriptions"] * 2 + [
        "invoices"
    ] * 3
    assert len(batches[-1]) == 0
    accounts = {r["external_id"]: r for r in _records(batches, "accounts")}
    assert accounts["cus_2"] == {
        "external_id": "cus_2",
        "stripe_customer_id": "cus_2",
        "name": "Customer 2",
        "domain": "c2.example",
        "custom": {"crm_account_id": "001CRM2"},
    }
    subs = {r["external_id"]: r for r in _records(batches, "subscriptions")}
    assert subs["sub_1"]["mrr"] == 500.0 and subs["sub_1"]["quantity"] == 10
    assert subs["sub_1"]["plan"] == "Pro"
    assert subs["sub_1"]["current_period_end"] == date(2026, 3, 12)
    assert subs["sub_2"]["mrr"] == 0.0 and subs["sub_2"]["canceled_on"] == date(2026, 2, 10)
    assert subs["sub_3"]["mrr"] == 0.0  # trialing
    invoices = {r["external_id"]: r for r in _records(batches, "invoices")}
    assert invoices["in_1"]["paid_on"] == date(2026, 1, 8)
    assert invoices["in_1"]["amount"] == 500.0
    assert invoices["in_1"]["subscription_external_id"] == "sub_1"
    assert invoices["in_2"]["due_on"] == date(2026, 2, 10) and invoices["in_2"]["paid_on"] is None
    # the real client paginated with starting_after and asked for canceled subscriptions
    subs_calls = fake.calls("subscriptions")
    assert subs_calls[0].query["status"] == "all"
    assert subs_calls[1].query["starting_after"] == "sub_2"
    # each page's cursor says where to resume; the last one holds the floors only
    assert json.loads(batches[0].cursor or "") == {
        "s": None,
        "i": None,
        "p": "customers",
        "a": "cus_2",
        "t": NOW,
        "fs": None,
        "fi": None,
    }
    assert json.loads(batches[-1].cursor or "") == {"s": T0 + 1 * DAY, "i": T0 + 10 * DAY}


def test_mrr_normalises_intervals_and_zero_decimal_currencies() -> None:
    sub = _sub(
        9,
        1,
        items=[
            {"id": "si_a", "quantity": 3, "price": _price("Annual", 120_000, "year")},
            {"id": "si_b", "quantity": 2, "price": _price("Yen", 1000, "month", "jpy")},
            {
                "id": "si_c",
                "price": {
                    **_price("Usage", 1),
                    "recurring": {"interval": "month", "usage_type": "metered"},
                },
            },
        ],
    )
    record, notes = map_subscription(sub)
    assert record["mrr"] == pytest.approx(3 * 100.0 + 2 * 1000.0)
    assert record["quantity"] == 5 and record["plan"] == "Annual + Yen + Usage"
    assert notes == []
    legacy = {**_invoice(1, 1, "open", T0), "parent": None, "subscription": "sub_7"}
    assert map_invoice(legacy)["subscription_external_id"] == "sub_7"


def test_429_with_retry_after_then_success(fake: FakeStripe) -> None:
    _fill(fake)
    fake.fail("customers", 429, retry_after="3")
    slept: list[float] = []
    batches = list(_connector(sleep=slept.append).pull(None))
    assert slept == [3.0]
    assert len(_records(batches, "accounts")) == 3
    assert [c.status for c in fake.calls("customers")][:2] == [429, 200]


def test_500_then_success_uses_backoff_and_stripe_does_not_retry_itself(
    fake: FakeStripe,
) -> None:
    _fill(fake)
    fake.fail("invoices", 500)
    slept: list[float] = []
    batches = list(_connector(sleep=slept.append).pull(None))
    assert slept == [1.0]
    assert len(_records(batches, "invoices")) == 3
    # one failed call and the retried ones: the stripe client made no retries of its own
    assert [c.status for c in fake.calls("invoices")] == [500, 200, 200]


def test_classifier_leaves_client_errors_alone() -> None:
    import stripe

    assert classify_stripe_error(stripe.InvalidRequestError("bad", None, http_status=400)) is None
    assert classify_stripe_error(ValueError("x")) is None
    no = stripe.APIError("x", http_status=500, headers={"stripe-should-retry": "false"})
    assert classify_stripe_error(no) is None
    conn = classify_stripe_error(stripe.APIConnectionError("reset"))
    assert conn is not None and conn.after is None


def test_401_is_a_clear_error_not_retried(
    fake: FakeStripe, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(fake)
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_wrong")
    report = run_sync(db_url, PulseConfig(), "stripe", connector=_connector())
    assert report.status == "failed"
    assert len(report.errors) == 1 and "STRIPE_API_KEY" in report.errors[0]
    assert "401" in report.errors[0]
    assert len(fake.requests) == 1


def test_missing_key_is_reported(fake: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_API_KEY")
    with pytest.raises(Exception, match="STRIPE_API_KEY is not set"):
        list(_connector().pull(None))


def _count(url: str, model: type) -> int:
    with session_factory(url)() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_second_run_is_incremental_and_repulls_unsettled(fake: FakeStripe, db_url: str) -> None:
    _fill(fake)
    cfg = PulseConfig()
    first = run_sync(db_url, cfg, "stripe", connector=_connector(cfg))
    assert first.status == "ok", first.as_dict()
    assert (_count(db_url, Account), _count(db_url, Subscription), _count(db_url, Invoice)) == (
        3,
        3,
        3,
    )
    with session_factory(db_url)() as s:
        acct = s.scalar(select(Account).where(Account.external_id == "cus_1"))
        assert acct is not None and acct.custom == {"crm_account_id": "001CRM1"}
        assert acct.source == "stripe" and acct.stripe_customer_id == "cus_1"
    # an open invoice gets paid, and a new invoice arrives
    fake.objects["invoices"][1] = _invoice(2, 2, "paid", T0 + 10 * DAY, sub=2)
    fake.objects["invoices"].append(_invoice(4, 3, "open", NOW + DAY))
    fake.requests.clear()
    later = NOW + 2 * DAY
    second = run_sync(db_url, cfg, "stripe", connector=_connector(cfg, clock=lambda: later))
    assert second.status == "ok", second.as_dict()
    # subscriptions from the oldest live one, invoices from the oldest unsettled one
    assert fake.calls("subscriptions")[0].query["created[gte]"] == str(T0 + 1 * DAY)
    assert fake.calls("invoices")[0].query["created[gte]"] == str(T0 + 10 * DAY)
    assert "created[gte]" not in fake.calls("customers")[0].query
    assert second.by_entity["invoices"].fetched == 3  # in_1 (paid long ago) not pulled again
    with session_factory(db_url)() as s:
        paid = s.scalar(select(Invoice).where(Invoice.external_id == "in_2"))
        assert paid is not None and paid.status == "paid" and paid.paid_on == date(2026, 1, 13)
        state = s.get(SyncState, "stripe")
        assert state is not None and json.loads(state.cursor or "") == {
            "s": T0 + 1 * DAY,
            "i": min(later - OVERLAP_SECONDS, T0 + 20 * DAY),
        }
    assert _count(db_url, Invoice) == 4


def test_run_killed_on_page_two_keeps_page_one_and_resumes(fake: FakeStripe, db_url: str) -> None:
    _fill(fake)
    fake.objects["subscriptions"].append(_sub(4, 1))
    cfg = PulseConfig(sources={"stripe": StripeSourceConfig()})  # type: ignore[arg-type]
    fake.fail("subscriptions", 503, times=2, only_later_pages=True)
    first = run_sync(db_url, cfg, "stripe", connector=_connector(cfg, attempts=2))
    assert first.status == "failed"
    assert "503" in first.errors[0]
    assert _count(db_url, Account) == 3
    assert _count(db_url, Subscription) == 2  # page 1 kept
    with session_factory(db_url)() as s:
        state = s.get(SyncState, "stripe")
        assert state is not None
        cursor = json.loads(state.cursor or "")
        assert (cursor["p"], cursor["a"]) == ("subscriptions", "sub_3")
    fake.requests.clear()
    second = run_sync(db_url, cfg, "stripe", connector=_connector(cfg, attempts=2))
    assert second.status == "ok", second.as_dict()
    assert fake.calls("customers") == []  # resumed past the customers
    assert fake.calls("subscriptions")[0].query["starting_after"] == "sub_3"
    assert second.by_entity["subscriptions"].inserted == 2
    assert second.by_entity["subscriptions"].unchanged == 0
    assert (_count(db_url, Subscription), _count(db_url, Invoice)) == (4, 3)


def test_failed_full_sync_keeps_the_invoices_floor_it_did_not_reach(
    fake: FakeStripe, db_url: str
) -> None:
    _fill(fake)
    cfg = PulseConfig()
    assert run_sync(db_url, cfg, "stripe", connector=_connector(cfg)).status == "ok"
    invoices_floor = min(NOW - OVERLAP_SECONDS, T0 + 10 * DAY)
    fake.fail("subscriptions", 503, times=2, only_later_pages=True)
    full = run_sync(db_url, cfg, "stripe", connector=_connector(cfg, attempts=2), full=True)
    assert full.status == "failed"
    assert "created[gte]" not in fake.calls("subscriptions")[-1].query  # read from the start
    with session_factory(db_url)() as s:
        state = s.get(SyncState, "stripe")
        assert state is not None
        cursor = json.loads(state.cursor or "")
        assert (cursor["p"], cursor["s"], cursor["i"]) == ("subscriptions", None, invoices_floor)
    fake.requests.clear()
    after = run_sync(db_url, cfg, "stripe", connector=_connector(cfg))
    assert after.status == "ok", after.as_dict()
    # the full run's subscriptions went on; the invoices kept their floor, not read again
    assert fake.calls("invoices")[0].query["created[gte]"] == str(invoices_floor)
    assert after.by_entity["invoices"].fetched == 2


def test_full_sync_reads_subscriptions_and_invoices_from_the_start(
    fake: FakeStripe, db_url: str
) -> None:
    _fill(fake)
    cfg = PulseConfig()
    assert run_sync(db_url, cfg, "stripe", connector=_connector(cfg)).status == "ok"
    fake.requests.clear()
    full = run_sync(db_url, cfg, "stripe", connector=_connector(cfg), full=True)
    assert full.status == "ok", full.as_dict()
    assert "created[gte]" not in fake.calls("subscriptions")[0].query
    assert "created[gte]" not in fake.calls("invoices")[0].query
    assert full.by_entity["invoices"].fetched == 3
