"""The whole sample workspace, generated section by section in load order."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from connectors.sample.accounts import accounts as generate_accounts
from connectors.sample.accounts import owners
from connectors.sample.billing import billing
from connectors.sample.context import Run
from connectors.sample.integrations import integrations
from connectors.sample.people import contacts, users
from connectors.sample.revenue import sample_arr_history, sample_opportunities
from connectors.sample.support import surveys, tickets
from connectors.sample.usage import usage


def generate_workspace(
    seed: int, end_date: date, accounts: int = 500, days: int = 180
) -> dict[str, list[dict[str, Any]] | pd.DataFrame]:
    """Generate the whole sample workspace, keyed by entity in load order.

    Pure: the result depends only on the arguments, so tests, demos and benchmarks can
    call it directly and compare runs.
    """
    run = Run(seed, end_date, accounts, days)
    owner_records, csms = owners(run)
    acc, account_records = generate_accounts(run, csms)
    people = users(run, acc)
    activity = usage(run, acc, people)  # also fixes the last-seen days of the contacts
    subscriptions, invoices = billing(run, acc, account_records)
    return {
        "owners": owner_records,
        "accounts": account_records,
        "contacts": contacts(run, acc, people, activity.last_active),
        "usage": activity.frame,
        "integrations": integrations(run, acc, activity.plan),
        "subscriptions": subscriptions,
        "invoices": invoices,
        "tickets": tickets(run, acc, people),
        "surveys": surveys(run, acc, people),
        "opportunities": sample_opportunities(seed, end_date, account_records),
        "arr_history": sample_arr_history(seed, end_date, account_records, days),
    }
