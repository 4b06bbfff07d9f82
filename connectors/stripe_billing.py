"""Stripe billing: customers, subscriptions and invoices (source ``stripe``).

Named ``stripe_billing`` so it does not shadow the ``stripe`` package.

Credentials and endpoint come only from the environment: ``STRIPE_API_KEY`` (a restricted
read-only key is enough) and, optionally, ``STRIPE_API_BASE`` (a proxy or a test server;
passed to ``StripeClient(base_addresses={"api": ...})``). Stripe's own retries are turned
off (``max_network_retries=0``): every call goes through :func:`connectors.retry.
call_with_retries`, the one retry policy of Pulse.

Records emitted
---------------
* ``accounts`` (one per Stripe customer, source ``stripe``): ``external_id`` and
  ``stripe_customer_id`` are the customer id, ``name`` the customer name (else email, else
  id), ``domain`` the domain of the billing email (webmail domains left out), ``custom``
  ``{"crm_account_id": metadata[<sources.stripe.account_id_metadata>]}`` so identity
  resolution can link the customer to its CRM account.
* ``subscriptions``: ``plan`` (price nicknames, else lookup keys, else price ids),
  ``status``, ``quantity`` (seats: the summed quantity of licensed, i.e. non-metered,
  items), ``mrr`` (sum of item unit price x quantity normalised to a month, in major
  currency units; 0 for trialing, canceled, incomplete and incomplete_expired; discounts,
  tax and tiered prices are not counted, a tiered price adds a warning),
  ``started_on``/``current_period_end``/``trial_end``/``canceled_on`` as dates
  (``current_period_end`` is read from the subscription, or from its items as in API
  versions from 2025-03-31 on).
* ``invoices``: ``amount`` (``amount_due``, else ``total``, in major units), ``currency``,
  ``status`` (draft/open/paid/void/uncollectible), ``issued_on`` (created), ``due_on``
  (``due_date``), ``paid_on`` (``status_transitions.paid_at``),
  ``subscription_external_id`` (``subscription``, or ``parent.subscription_details.
  subscription`` in newer API versions).

Incremental strategy (the cursor)
---------------------------------
Stripe lists can be filtered on ``created`` only, never on "updated", yet subscriptions
and invoices change after creation (a subscription is canceled, an open invoice gets paid
or voided). So:

* customers are pulled in full each run (a B2B customer base is small, and name, email
  and metadata edits cannot be found otherwise short of the Events API);
* subscriptions and invoices are pulled with ``created[gte]=<floor>``, where the floor
  stored by the last complete run is the *earlier* of (that run's start minus one hour
  of overlap) and the creation time of the oldest subscription / invoice that was still
  unsettled then (subscriptions not canceled or incomplete_expired; invoices draft, open
  or uncollectible). Every object that could still change is therefore pulled again,
  and long-settled history is not. ``full=True`` pulls everything; it clears a phase's
  floor only when that phase starts, so a full run that fails on subscriptions leaves the
  invoices floor in the stored cursor and the next run does not read every invoice.

Each page is its own batch, and its cursor says where the run stands (phase, the
``starting_after`` id of the next page, the floors being computed), so a run that dies on
page 2 keeps page 1 and the next run resumes at page 2. The cursor is compact JSON:
``{"s": subs floor, "i": invoices floor}`` between runs, plus ``"p"`` (phase), ``"a"``
(starting_after), ``"t"`` (run start), ``"fs"``/``"fi"`` (floors so far) mid-run.

References:
https://docs.stripe.com/api/pagination (``limit``, ``starting_after``, ``has_more``),
https://docs.stripe.com/api/subscriptions/list (``created``, ``status=all``),
https://docs.stripe.com/api/invoices/object (``status``, ``due_date``,
``status_transitions.paid_at``), https://docs.stripe.com/api/errors (429, 5xx,
``Stripe-Should-Retry``), https://docs.stripe.com/currencies#zero-decimal,
https://github.com/stripe/stripe-python (``StripeClient``, ``base_addresses``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import stripe

from connectors.base import Connector, register
from connectors.retry import (
    MAX_ATTEMPTS,
    Retry,
    attempts_text,
    call_with_retries,
    retry_for_status,
    tls_error,
)
from pulse.kernel.clock import epoch_seconds
from pulse.kernel.config import ConfigError, PulseConfig, StripeSourceConfig
from pulse.kernel.errors import UserFacingError
from pulse.kernel.records import Batch, Entity

PAGE_SIZE = 100
OVERLAP_SECONDS = 3600
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
WEBMAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "web.de",
    }
)
SETTLED_SUBSCRIPTION = frozenset({"canceled", "incomplete_expired"})
SETTLED_INVOICE = frozenset({"paid", "void"})
NO_MRR = frozenset({"trialing", "canceled", "incomplete", "incomplete_expired"})
MONTHS_PER = {"day": 12 / 365, "week": 12 / 52, "month": 1.0, "year": 12.0}
PHASES = ("customers", "subscriptions", "invoices")
PHASE_ENTITY: dict[str, Entity] = {
    "customers": "accounts", "subscriptions": "subscriptions", "invoices": "invoices",
}
"""The entity each phase's records are."""


class StripeSyncError(UserFacingError):
    """A Stripe call failed for good (after the shared retry policy gave up)."""

    def __init__(self, problem: str, fix: str = "", call: str = "") -> None:
        super().__init__("Stripe", call, problem, fix)


class StripeAuthError(StripeSyncError):
    """Stripe refused the key: not retried, reported as is."""


def stripe_problem(exc: stripe.StripeError) -> str:
    """"HTTP 500: <Stripe's message>", or "no response: ..." when none came, in one line
    (Stripe's message for a network error goes on over several lines)."""
    status = f"HTTP {exc.http_status}" if exc.http_status else "no response"
    message = " ".join(str(exc.user_message or exc).split("(Network error:")[0].split())
    return f"{status}: {message[:200]}{attempts_text(exc)}"


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def classify_stripe_error(exc: BaseException) -> Retry | None:
    """Retry Stripe throttling (429), server errors (5xx) and dropped connections (an
    untrusted certificate is never retried: :func:`connectors.retry.call_with_retries`).

    ``Stripe-Should-Retry: false`` from the server overrides the status rule.
    """
    if not isinstance(exc, stripe.StripeError):
        return None
    should = _header(exc.headers, "Stripe-Should-Retry")
    if should == "false":
        return None
    if isinstance(exc, stripe.APIConnectionError):
        return Retry("connection error (no response)")
    decision = retry_for_status(exc.http_status, _header(exc.headers, "Retry-After"))
    if decision is None and should == "true":
        return Retry(f"Stripe-Should-Retry after HTTP {exc.http_status}")
    return decision


def _day(ts: Any) -> date | None:
    if ts in (None, ""):
        return None
    return datetime.fromtimestamp(int(ts), UTC).date()


def _major(amount: Any, currency: str | None) -> float | None:
    if amount is None:
        return None
    divisor = 1 if (currency or "").lower() in ZERO_DECIMAL else 100
    return float(amount) / divisor


def _id(ref: Any) -> str | None:
    """A reference may be an id or an expanded object."""
    if ref is None:
        return None
    if isinstance(ref, dict):
        return ref.get("id")
    return str(ref)


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower()
    return None if not domain or domain in WEBMAIL else domain


def map_customer(c: dict[str, Any], metadata_key: str) -> dict[str, Any]:
    metadata = c.get("metadata") or {}
    return {
        "external_id": c["id"],
        "stripe_customer_id": c["id"],
        "name": c.get("name") or c.get("email") or c["id"],
        "domain": email_domain(c.get("email")),
        "custom": {"crm_account_id": metadata.get(metadata_key) or None},
    }


def _items(sub: dict[str, Any]) -> list[dict[str, Any]]:
    items = sub.get("items") or {}
    return list(items.get("data") or []) if isinstance(items, dict) else []


def subscription_mrr(sub: dict[str, Any]) -> tuple[float, list[str]]:
    """Monthly recurring revenue of a subscription in major units, and any caveats."""
    total = 0.0
    notes: list[str] = []
    for item in _items(sub):
        price = item.get("price") or item.get("plan") or {}
        recurring = price.get("recurring") or {}
        interval = recurring.get("interval") or price.get("interval")
        count = recurring.get("interval_count") or price.get("interval_count") or 1
        if recurring.get("usage_type") == "metered":
            continue
        unit = price.get("unit_amount")
        if unit is None and price.get("unit_amount_decimal") is not None:
            unit = float(price["unit_amount_decimal"])
        if unit is None or interval not in MONTHS_PER:
            notes.append(f"price {price.get('id')} has no flat unit amount; left out of MRR")
            continue
        qty = item.get("quantity") or 1
        monthly = float(unit) * qty / MONTHS_PER[interval] / count
        total += _major(monthly, price.get("currency") or sub.get("currency")) or 0.0
    return round(total, 2), notes


def map_subscription(sub: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    items = _items(sub)
    names: list[str] = []
    seats = 0
    has_seats = False
    for item in items:
        price = item.get("price") or item.get("plan") or {}
        name = price.get("nickname") or price.get("lookup_key") or price.get("id")
        if name and name not in names:
            names.append(str(name))
        if (price.get("recurring") or {}).get("usage_type") != "metered" and item.get(
            "quantity"
        ) is not None:
            seats += int(item["quantity"])
            has_seats = True
    if not names and isinstance(sub.get("plan"), dict):
        names.append(str(sub["plan"].get("nickname") or sub["plan"].get("id")))
    status = sub.get("status") or "active"
    mrr, notes = subscription_mrr(sub)
    period_end = sub.get("current_period_end")
    if period_end is None:
        ends = [i["current_period_end"] for i in items if i.get("current_period_end")]
        period_end = max(ends) if ends else None
    record = {
        "external_id": sub["id"],
        "account_external_id": _id(sub.get("customer")),
        "plan": " + ".join(names)[:120] or None,
        "status": status,
        "quantity": seats if has_seats else sub.get("quantity"),
        "mrr": 0.0 if status in NO_MRR else mrr,
        "started_on": _day(sub.get("start_date") or sub.get("created")),
        "current_period_end": _day(period_end),
        "trial_end": _day(sub.get("trial_end")),
        "canceled_on": _day(sub.get("canceled_at")),
    }
    return record, [f"subscription {sub['id']}: {n}" for n in notes]


def map_invoice(inv: dict[str, Any]) -> dict[str, Any]:
    currency = inv.get("currency") or "usd"
    amount = inv.get("amount_due")
    if amount is None:
        amount = inv.get("total")
    subscription = inv.get("subscription")
    if subscription is None:
        parent = inv.get("parent") or {}
        subscription = (parent.get("subscription_details") or {}).get("subscription")
    transitions = inv.get("status_transitions") or {}
    return {
        "external_id": inv["id"],
        "account_external_id": _id(inv.get("customer")),
        "subscription_external_id": _id(subscription),
        "amount": _major(amount or 0, currency),
        "currency": currency.lower()[:3],
        "status": inv.get("status") or "draft",
        "issued_on": _day(inv.get("created")),
        "due_on": _day(inv.get("due_date")),
        "paid_on": _day(transitions.get("paid_at")),
    }


def _min(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def stripe_client(purpose: str) -> stripe.StripeClient:
    """A client from STRIPE_API_KEY / STRIPE_API_BASE, with Stripe's own retries off.

    ``purpose`` completes the error when the key is missing ("... needs a key").
    """
    key = os.environ.get("STRIPE_API_KEY", "").strip()
    if not key:
        raise ConfigError(f"STRIPE_API_KEY is not set: {purpose}")
    base = os.environ.get("STRIPE_API_BASE", "").strip()
    kwargs: dict[str, Any] = {"max_network_retries": 0}
    if base:
        kwargs["base_addresses"] = {"api": base.rstrip("/")}
    return stripe.StripeClient(key, **kwargs)


@register
class StripeConnector(Connector):
    """Pull Stripe customers, subscriptions and invoices page by page."""

    name: ClassVar[str] = "stripe"

    def __init__(
        self,
        config: PulseConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = MAX_ATTEMPTS,
        clock: Callable[[], float] = epoch_seconds,
        page_size: int = PAGE_SIZE,
    ) -> None:
        super().__init__(config)
        self.settings = config.sources.stripe or StripeSourceConfig()
        self._sleep = sleep
        self._attempts = attempts
        self._clock = clock
        self._page_size = page_size

    def _client(self) -> stripe.StripeClient:
        return stripe_client("Stripe sync needs a (read-only) key")

    def _list(self, fn: Callable[..., Any], params: dict[str, Any], what: str) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            try:
                return fn(params=params).to_dict()
            except stripe.AuthenticationError as exc:
                raise StripeAuthError(
                    f"Stripe rejected the key in STRIPE_API_KEY ({stripe_problem(exc)})",
                    "Set STRIPE_API_KEY to a live (or restricted) key of the account",
                    call=f"list {what}",
                ) from None
            except stripe.PermissionError as exc:
                raise StripeAuthError(
                    f"the key in STRIPE_API_KEY may not read {what} ({stripe_problem(exc)})",
                    f"Give the restricted key read access to {what}",
                    call=f"list {what}",
                ) from None

        try:
            return call_with_retries(
                call,
                classify_stripe_error,
                what=f"Stripe list {what}",
                attempts=self._attempts,
                sleep=self._sleep,
            )
        except stripe.StripeError as exc:  # retries exhausted or not retryable
            raise tls_error(exc, f"Stripe list {what}") or StripeSyncError(
                stripe_problem(exc),
                "Stripe may be down or busy (https://status.stripe.com); the next run "
                "tries again",
                call=f"list {what}",
            ) from exc

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        self.warnings = []
        client = self._client()
        state: dict[str, Any] = json.loads(cursor) if cursor else {}
        if full:  # start over, but keep each floor until its phase is reached
            state = {"s": state.get("s"), "i": state.get("i")}
        if "p" not in state:  # a fresh run: floors from the last complete run
            state = {
                "s": state.get("s"),
                "i": state.get("i"),
                "p": PHASES[0],
                "a": None,
                "t": int(self._clock()),
                "fs": None,
                "fi": None,
            }
        endpoints = {
            "customers": (client.v1.customers.list, None),
            "subscriptions": (client.v1.subscriptions.list, "s"),
            "invoices": (client.v1.invoices.list, "i"),
        }
        start = PHASES.index(state["p"])
        for phase in PHASES[start:]:
            fn, floor_key = endpoints[phase]
            after = state["a"] if phase == state["p"] else None
            if full and floor_key and after is None:
                state[floor_key] = None  # a full pull reads this phase from the start
            while True:
                params: dict[str, Any] = {"limit": self._page_size}
                if phase == "subscriptions":
                    params["status"] = "all"
                if floor_key and state.get(floor_key) is not None:
                    params["created"] = {"gte": int(state[floor_key])}
                if after:
                    params["starting_after"] = after
                page = self._list(fn, params, phase)
                data = list(page.get("data") or [])
                records = self._map(phase, data, state)
                more = bool(page.get("has_more")) and bool(data)
                after = data[-1]["id"] if data else None
                if more:
                    nxt = {**state, "p": phase, "a": after}
                elif phase != PHASES[-1]:
                    nxt = {**state, "p": PHASES[PHASES.index(phase) + 1], "a": None}
                else:
                    horizon = state["t"] - OVERLAP_SECONDS
                    nxt = {"s": _min(horizon, state["fs"]), "i": _min(horizon, state["fi"])}
                state = nxt if "p" in nxt else state
                cursor_text = json.dumps(nxt, separators=(",", ":"))
                yield Batch(PHASE_ENTITY[phase], records, cursor=cursor_text)
                if not more:
                    break

    def _map(self, phase: str, data: list[dict[str, Any]], state: dict[str, Any]) -> list[dict]:
        if phase == "customers":
            key = self.settings.account_id_metadata
            return [map_customer(c, key) for c in data]
        if phase == "subscriptions":
            out = []
            for sub in data:
                record, notes = map_subscription(sub)
                self.warnings.extend(notes)
                out.append(record)
                if sub.get("status") not in SETTLED_SUBSCRIPTION:
                    state["fs"] = _min(state["fs"], sub.get("created"))
            return out
        for inv in data:
            if inv.get("status") not in SETTLED_INVOICE:
                state["fi"] = _min(state["fi"], inv.get("created"))
        return [map_invoice(inv) for inv in data]


class TrialBillingError(RuntimeError):
    """Stripe refused or failed a trial change; the message is Stripe's, for the CSM."""


class StripeTrials:
    """Moves a trialing subscription's ``trial_end`` forward, and nothing else.

    The handbook's rule is that an extension changes only the end date, never what the
    trial includes, so the update sends ``trial_end`` and ``proration_behavior=none``
    only. The current ``trial_end`` is read from Stripe first (the local copy may be a day
    old) and the new end is that instant plus whole days, so the time of day is kept.
    Each update carries the caller's idempotency key (one per extension attempt): a
    retry after a lost response is answered with the first result instead of extending
    twice.
    https://docs.stripe.com/api/subscriptions/update (``trial_end``),
    https://docs.stripe.com/api/idempotent_requests.
    """

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._sleep = sleep
        self._attempts = attempts

    def _call(self, fn: Callable[[], Any], what: str) -> dict[str, Any]:
        try:
            result = call_with_retries(
                fn, classify_stripe_error, what=what, attempts=self._attempts, sleep=self._sleep
            )
        except stripe.StripeError as exc:
            status = f"HTTP {exc.http_status}" if exc.http_status else "no response"
            raise TrialBillingError(f"Stripe refused to {what} ({status}): "
                                    f"{exc.user_message or exc}") from exc
        return dict(result.to_dict())

    def extend(self, subscription_id: str, days: int, request_key: str) -> tuple[date, date]:
        """Extend by ``days``; returns (previous end, new end) as UTC dates.

        Raises TrialBillingError when the subscription is not trialing in Stripe, or
        Stripe refuses the change (after the shared retry policy for 429/5xx).
        """
        client = stripe_client("extending a trial needs a key that may write subscriptions")
        sub = self._call(
            lambda: client.v1.subscriptions.retrieve(subscription_id),
            f"read subscription {subscription_id}",
        )
        if sub.get("status") != "trialing" or not sub.get("trial_end"):
            raise TrialBillingError(
                f"subscription {subscription_id} is {sub.get('status')} in Stripe, "
                "not trialing: only a running trial can be extended"
            )
        previous = int(sub["trial_end"])
        target = previous + days * 86400
        updated = self._call(
            lambda: client.v1.subscriptions.update(
                subscription_id,
                params={"trial_end": target, "proration_behavior": "none"},
                options={"idempotency_key": request_key},
            ),
            f"extend the trial of {subscription_id}",
        )
        new_end = _day(updated.get("trial_end"))
        before = _day(previous)
        assert before is not None and new_end is not None
        return before, new_end
