"""Filling a CRM's accounts' ARR from billing or from won deals (``pulse.kernel.arr``).

When no CRM field is mapped to ARR, each sync ends (after identity resolution has linked
Stripe customers and re-pointed their subscriptions, before the ARR ledger) by setting
``Account.arr`` of the CRM's accounts from records Pulse already holds:

* :func:`arr_from_subscriptions`: 12 x the summed ``mrr`` of the account's subscriptions;
* :func:`arr_from_opportunities`: the summed ``amount`` of its opportunities won in the
  window ending today.

An account with no subscription (no won opportunity at all) gets no ARR (None), and
:func:`clear_arr` empties them all when no source is left. Only
values that differ are written, so running it twice changes nothing the second time.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.orm import Session

from pulse.kernel.arr import DEAL_ARR_WINDOW_DAYS, MONTHS_PER_YEAR
from storage.models import Account, Opportunity, Subscription, table_of

TOLERANCE = 0.005
"""Below half a cent two ARR values are the same (as in ``storage.arr_ledger``)."""


def arr_from_subscriptions(session: Session, source: str) -> int:
    """Set the ARR of ``source``'s accounts from their subscriptions; the number changed."""
    sums = dict(
        session.execute(
            select(Subscription.account_id, func.sum(func.coalesce(Subscription.mrr, 0.0)))
            .join(Account, Account.id == Subscription.account_id)
            .where(Account.source == source)
            .group_by(Subscription.account_id)
        ).all()
    )
    return _store(session, source, {k: float(v) * MONTHS_PER_YEAR for k, v in sums.items()})


def arr_from_opportunities(session: Session, source: str, today: date) -> int:
    """Set the ARR of ``source``'s accounts from their won opportunities not deleted in the
    CRM (amount summed over those closed in the
    :data:`~pulse.kernel.arr.DEAL_ARR_WINDOW_DAYS` days up to ``today``); the number
    changed."""
    start = today - timedelta(days=DEAL_ARR_WINDOW_DAYS - 1)
    in_window = Opportunity.close_date.between(start, today)
    rows = session.execute(
        select(
            Opportunity.account_id,
            func.sum(case((in_window, func.coalesce(Opportunity.amount, 0.0)), else_=0.0)),
        )
        .join(Account, Account.id == Opportunity.account_id)
        .where(Account.source == source, Opportunity.is_won.is_(True),
               Opportunity.deleted_at.is_(None))
        .group_by(Opportunity.account_id)
    ).all()
    return _store(session, source, {k: float(v or 0.0) for k, v in rows})


def clear_arr(session: Session, source: str) -> int:
    """Empty the ARR of ``source``'s accounts (no ARR source is configured); the number
    changed."""
    return _store(session, source, {})


def _store(session: Session, source: str, arr: dict[int, float]) -> int:
    current = session.execute(select(Account.id, Account.arr).where(Account.source == source))
    changes = []
    for account_id, old in current:
        new = arr.get(account_id)
        if new is None and old is None:
            continue
        if new is not None and old is not None and abs(new - old) <= TOLERANCE:
            continue
        changes.append({"row_id": account_id, "arr": None if new is None else round(new, 2)})
    if changes:
        table = table_of(Account)
        session.execute(
            update(table).where(table.c.id == bindparam("row_id")).values(arr=bindparam("arr")),
            changes,
        )
        session.flush()
    return len(changes)
