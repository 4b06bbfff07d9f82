"""Subscriptions and invoices of the sample workspace (Stripe-like).

Invoices are paid on time or a little late (never more than 25 days past due), so the one
planted overdue invoice is the only one a CSM would chase.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np

from connectors.sample.context import Accounts, Run, add_months, next_anniversary, random_ids
from connectors.sample.stories import STORY_ROW

PLAN_NAMES: dict[str, str] = {"smb": "starter", "mid-market": "growth", "enterprise": "enterprise"}
"""Tier -> plan name (``<plan>-annual`` / ``<plan>-monthly``)."""
INVOICE_HISTORY_DAYS = 400
"""Invoices go back about 13 months."""
PAYMENT_TERMS_DAYS = 30
OVERDUE_SINCE_DAYS = 75
"""The overdue story stopped paying 75 days ago (its monthly invoices anchor there)."""


def billing(
    run: Run, acc: Accounts, accounts: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One subscription per account and ~13 months of its invoices."""
    rng = run.rng("billing")
    subs: list[dict[str, Any]] = []
    invoices: list[dict[str, Any]] = []
    sub_ids = random_ids(rng, run.n, 14)
    overdue_i = STORY_ROW["invoice_overdue"]
    for i, account in enumerate(accounts):
        annual = bool(acc.annual[i])
        start: date = account["contract_start"]
        sub_ext = f"sub_{sub_ids[i]}"
        if account["lifecycle"] == "trial":
            trial_end = account["renewal_date"]
            subs.append(_sub(run, sub_ext, account, "trialing", start, trial_end, annual))
            continue
        status = "active"
        amount = float(account["arr"]) if annual else float(account["mrr"])
        for issued in _issue_dates(run, account, annual, overdue=i == overdue_i):
            due = issued + timedelta(days=PAYMENT_TERMS_DAYS)
            late = rng.random() < 0.06 + 0.35 * (1 - acc.health[i]) ** 2
            lag = int(rng.integers(31, 56)) if late else int(rng.integers(0, 30))
            paid_on: date | None = issued + timedelta(days=lag)
            if i == overdue_i and issued >= run.end - timedelta(days=OVERDUE_SINCE_DAYS):
                paid_on = None  # they stopped paying: the planted overdue invoice
            inv_status = "paid"
            if paid_on is None or paid_on > run.end:
                paid_on, inv_status = None, "open"
                if due < run.end:
                    status = "past_due"
            if rng.random() < 0.01:  # an occasional voided duplicate
                invoices.append(_invoice(rng, account, sub_ext, amount, "void", issued, None))
            invoices.append(_invoice(rng, account, sub_ext, amount, inv_status, issued, paid_on))
        if account["churned_on"] is not None:
            status = "canceled"
        subs.append(_sub(run, sub_ext, account, status, start, None, annual))
    return subs, invoices


def _issue_dates(run: Run, account: dict[str, Any], annual: bool, *, overdue: bool) -> list[date]:
    """Invoice dates inside the history: every month (or year) from the contract start to
    the end date or churn, the overdue story's anchored so it stops paying on time."""
    start: date = account["contract_start"]
    last_day = account["churned_on"] or run.end
    horizon = run.end - timedelta(days=INVOICE_HISTORY_DAYS)
    anchor = run.end - timedelta(days=OVERDUE_SINCE_DAYS) if overdue else start
    step = 12 if annual else 1
    k = -((anchor.year - horizon.year) * 12 + anchor.month - horizon.month) // step - 1
    issued_dates: list[date] = []
    while True:
        issued = add_months(anchor, k * step)
        k += 1
        if issued > last_day:
            break
        if issued < start or issued < horizon:
            continue
        issued_dates.append(issued)
    return issued_dates


def _sub(
    run: Run,
    ext: str,
    account: dict[str, Any],
    status: str,
    start: date,
    trial_end: date | None,
    annual: bool,
) -> dict[str, Any]:
    if status == "canceled":
        period_end = account["churned_on"]
    elif trial_end is not None:
        period_end = trial_end
    elif annual:
        period_end = account["renewal_date"]
    else:
        period_end = next_anniversary(start, run.end, months=1)
    return {
        "external_id": ext,
        "account_external_id": account["external_id"],
        "plan": f"{PLAN_NAMES[account['tier']]}-{'annual' if annual else 'monthly'}",
        "status": status,
        "quantity": account["licensed_seats"],
        "mrr": 0.0 if status in ("trialing", "canceled") else account["mrr"],
        "started_on": start,
        "current_period_end": period_end,
        "trial_end": trial_end,
        "canceled_on": account["churned_on"] if status == "canceled" else None,
    }


def _invoice(
    rng: np.random.Generator,
    account: dict[str, Any],
    sub_ext: str,
    amount: float,
    status: str,
    issued: date,
    paid_on: date | None,
) -> dict[str, Any]:
    return {
        "external_id": f"in_{random_ids(rng, 1, 14)[0]}",
        "account_external_id": account["external_id"],
        "subscription_external_id": sub_ext,
        "amount": amount,
        "currency": "usd",
        "status": status,
        "issued_on": issued,
        "due_on": issued + timedelta(days=PAYMENT_TERMS_DAYS),
        "paid_on": paid_on,
    }
