"""The sample workspace's revenue outlook: the CRM opportunity pipeline and ARR history.

Each is drawn from a random stream of its own (``[seed, 7]`` and ``[seed, 11]``), apart
from the generator's sections, so neither changes any other entity.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from connectors.sample.stories import FIXED_ACCOUNTS, PLANTED

RENEWAL_STAGES = ((30, "Negotiation"), (90, "Proposal"), (180, "Discovery"))


def sample_opportunities(
    seed: int, end_date: date, accounts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A renewal opportunity for every live account renewing within a year, and expansion
    opportunities on a few growing ones (always on the planted expansion story), so the
    renewal pipeline and expansion forecast have something believable to show."""
    rng = np.random.default_rng([seed, 7])
    out: list[dict[str, Any]] = []
    for account in accounts:
        renewal = account.get("renewal_date")
        if account.get("lifecycle") == "churned" or renewal is None:
            continue
        days = (renewal - end_date).days
        owner = account.get("owner_external_id")
        arr = float(account.get("arr") or 0.0)
        if 0 <= days <= 365:
            stage = next((name for limit, name in RENEWAL_STAGES if days <= limit), "Qualification")
            out.append(
                {
                    "external_id": f"opp-r-{account['external_id']}",
                    "account_external_id": account["external_id"],
                    "owner_external_id": owner,
                    "name": f"{account['name']} renewal {renewal.year}",
                    "kind": "renewal",
                    "stage": stage,
                    "amount": arr,
                    "close_date": renewal,
                    "is_closed": False,
                    "is_won": False,
                }
            )
        planted = account["external_id"] == PLANTED["expansion"]
        if planted or (account.get("lifecycle") == "paid" and rng.random() < 0.08):
            out.append(
                {
                    "external_id": f"opp-x-{account['external_id']}",
                    "account_external_id": account["external_id"],
                    "owner_external_id": owner,
                    "name": f"{account['name']} seat expansion",
                    "kind": "expansion",
                    "stage": "Proposal" if planted else str(rng.choice(["Discovery", "Proposal"])),
                    "amount": round(arr * (0.3 if planted else 0.15), 2),
                    "close_date": end_date + timedelta(days=int(rng.integers(20, 120))),
                    "is_closed": False,
                    "is_won": False,
                }
            )
    return out


EXPANDED_SHARE = 0.10
CONTRACTED_SHARE = 0.04
"""Shares of paying accounts whose seats grew / shrank during the window (before today's
ARR), so retention figures on the demo show expansion and contraction, not only churn."""


def sample_arr_history(
    seed: int, end_date: date, accounts: list[dict[str, Any]], days: int
) -> pd.DataFrame:
    """Each paying account's ARR over time, ending exactly at its current ``arr``.

    Every account that ever paid starts at ``contract_start``; about 10% of the live ones
    added seats and 4% dropped some on a day inside the window (at least 30 days after
    their start, a week before the end), priced at the account's ARR per seat; churned
    accounts drop to 0 on ``churned_on``. The planted-story accounts keep a flat history
    so their stories stay their own. Drawn from a stream of its own (``[seed, 11]``), so
    no other entity changes with it; three draws per account, whatever it uses, so one
    account's history never shifts another's.
    """
    rng = np.random.default_rng([seed, 11])
    window_start = end_date - timedelta(days=days - 1)
    latest = end_date - timedelta(days=7)
    ext_ids: list[str] = []
    effective: list[date] = []
    values: list[float] = []

    def row(ext: str, day: date, arr: float) -> None:
        ext_ids.append(ext)
        effective.append(day)
        values.append(arr)

    for account in accounts:
        kind_draw, size_draw, day_draw = rng.random(3)
        arr = float(account.get("arr") or 0.0)
        ext, start = account["external_id"], account["contract_start"]
        if account["lifecycle"] == "trial" or arr <= 0:
            continue
        if account["lifecycle"] == "churned":
            row(ext, start, arr)
            row(ext, account["churned_on"], 0.0)
            continue
        kind = ("expansion" if kind_draw < EXPANDED_SHARE
                else "contraction" if kind_draw < EXPANDED_SHARE + CONTRACTED_SHARE else None)
        first_day = max(start + timedelta(days=30), window_start)
        if kind is None or ext in FIXED_ACCOUNTS or first_day >= latest:
            row(ext, start, arr)
            continue
        seats = max(int(account.get("licensed_seats") or 1), 1)
        moved = max(1, round(seats * (0.1 + 0.25 * size_draw)))
        per_seat = arr / seats
        before = arr - moved * per_seat if kind == "expansion" else arr + moved * per_seat
        before = max(round(before / 100.0) * 100.0, 100.0)
        if before == arr:
            row(ext, start, arr)
            continue
        when = first_day + timedelta(days=int(day_draw * (latest - first_day).days))
        row(ext, start, before)
        row(ext, when, arr)
    return pd.DataFrame({"account_external_id": ext_ids, "effective_on": effective,
                         "arr": values})

