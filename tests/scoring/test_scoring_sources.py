"""Stripe customers and Zendesk organisations are linked to CRM accounts, never scored alone."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from pulse.kernel.records import Batch
from scoring.engine import run_scoring
from storage.loader import load_batch
from storage.models import Account, ScoreSnapshot

AS_OF = date(2026, 11, 25)


def _account(ext: str, name: str) -> dict[str, object]:
    return {
        "external_id": ext,
        "name": name,
        "lifecycle": "paid",
        "licensed_seats": 10,
        "contract_start": date(2025, 1, 1),
        "renewal_date": date(2027, 1, 1),
    }


def test_only_crm_accounts_get_snapshots(session: Session) -> None:
    load_batch(session, "files", Batch("accounts", [_account("A-1", "Acme")]))
    load_batch(session, "stripe", Batch("accounts", [_account("cus_1", "Acme Inc (billing)")]))
    load_batch(session, "zendesk", Batch("accounts", [_account("org_1", "Acme (support)")]))
    run_scoring(session, PulseConfig(), AS_OF)
    scored = session.scalars(
        select(Account.source).join(ScoreSnapshot, ScoreSnapshot.account_id == Account.id)
    ).all()
    assert scored == ["files"]


def test_lookup_never_offers_a_billing_or_support_twin(session: Session) -> None:
    from pulse.services.lookup import find_account

    load_batch(session, "files", Batch("accounts", [_account("A-1", "Acme")]))
    load_batch(session, "stripe", Batch("accounts", [_account("cus_1", "Acme Inc (billing)")]))
    match = find_account(session, "acme")
    assert match.account is not None and match.account.source == "files"
    assert match.candidates == []
