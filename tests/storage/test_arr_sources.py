"""ARR set from a CRM's won deals: what counts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from storage.arr_sources import arr_from_opportunities
from storage.models import Account, Opportunity

TODAY = date(2026, 11, 25)


def test_a_won_deal_deleted_in_the_crm_no_longer_counts(session: Session) -> None:
    """A won opportunity entered twice and the duplicate deleted in Salesforce doubled the
    account's ARR for good."""
    account = Account(source="salesforce", external_id="001A", name="Acme")
    session.add(account)
    session.flush()
    for ext, deleted in (("006A", None), ("006DUP", datetime(2026, 11, 20, 10, 0))):
        session.add(Opportunity(source="salesforce", external_id=ext, account_id=account.id,
                                kind="renewal", amount=50_000.0, close_date=date(2026, 6, 1),
                                is_closed=True, is_won=True, deleted_at=deleted))
    session.flush()
    assert arr_from_opportunities(session, "salesforce", TODAY) == 1
    session.refresh(account)
    assert account.arr == 50_000.0
