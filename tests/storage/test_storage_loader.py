"""Loading is idempotent and keeps good records when some are bad."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.kernel.records import Batch, tombstone
from storage.loader import load_batch
from storage.models import Account, Contact, Owner, UsageDaily


def _seed(session: Session) -> None:
    load_batch(
        session,
        "t",
        Batch(
            "owners",
            [
                {"external_id": "m1", "name": "Maya Manager", "is_manager": True},
                {"external_id": "o1", "name": "Olga CSM", "manager_external_id": "m1"},
            ],
        ),
    )
    load_batch(
        session,
        "t",
        Batch(
            "accounts",
            [
                {"external_id": "a1", "name": "Acme", "owner_external_id": "o1", "arr": 1200.0},
                {"external_id": "a2", "name": "Beta", "licensed_seats": 10},
            ],
        ),
    )
    load_batch(
        session,
        "t",
        Batch(
            "contacts",
            [
                {"external_id": "u1", "account_external_id": "a1", "email": "u1@acme.com"},
                {"external_id": "u2", "account_external_id": "zzz", "email": "u2@x.com"},
            ],
        ),
    )


def test_second_load_of_same_records_changes_nothing(session: Session) -> None:
    _seed(session)
    session.commit()
    again = load_batch(
        session,
        "t",
        Batch("accounts", [{"external_id": "a1", "name": "Acme", "owner_external_id": "o1",
                            "arr": 1200.0}]),
    )
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    changed = load_batch(session, "t", Batch("accounts", [{"external_id": "a1", "arr": 1500.0}]))
    assert (changed.inserted, changed.updated) == (0, 1)
    assert session.scalar(select(Account.arr).where(Account.external_id == "a1")) == 1500.0
    assert session.scalar(select(func.count()).select_from(Account)) == 2


def test_unknown_reference_is_skipped_with_its_name_and_the_rest_loads(session: Session) -> None:
    _seed(session)
    result = load_batch(
        session,
        "t",
        Batch(
            "contacts",
            [
                {"external_id": "u3", "account_external_id": "a2", "_where": "contacts.csv:2"},
                {"external_id": "u4", "account_external_id": "nope", "_where": "contacts.csv:3"},
            ],
        ),
    )
    assert result.inserted == 1
    assert [(r.where, r.reason) for r in result.skipped] == [
        ("contacts.csv:3", "unknown account 'nope' (account_external_id)")
    ]
    manager = session.scalar(select(Owner).where(Owner.external_id == "o1"))
    assert manager is not None and manager.manager is not None
    assert manager.manager.name == "Maya Manager"


def test_usage_bulk_load_is_idempotent_and_updates_changed_rows(session: Session) -> None:
    _seed(session)
    frame = pd.DataFrame(
        {
            "account_external_id": ["a1", "a1", "a1"],
            "user_external_id": ["u1", "u1", "ghost"],
            "feature": ["reports", "login", "login"],
            "day": [date(2026, 1, 1), date(2026, 1, 1), date(2026, 1, 2)],
            "events": [5, 1, 3],
            "minutes": [10.0, 1.0, 2.0],
        }
    )
    first = load_batch(session, "t", Batch("usage", frame))
    assert (first.inserted, first.updated) == (2, 0)
    assert first.skipped[0].reason == "unknown user 'ghost'"
    second = load_batch(session, "t", Batch("usage", frame))
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 2)
    frame.loc[0, "events"] = 7
    third = load_batch(session, "t", Batch("usage", frame))
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 1)
    assert session.scalar(select(func.sum(UsageDaily.events))) == 8
    assert session.scalar(select(func.count()).select_from(Contact)) == 1


def test_a_tombstone_marks_the_stored_record_deleted_and_never_creates_one(
    session: Session,
) -> None:
    gone_at = datetime(2026, 11, 20, 8, 0)
    load_batch(session, "crm", Batch("accounts", [
        {"external_id": "A1", "name": "Acme"}, {"external_id": "A2", "name": "Beta"}]))
    result = load_batch(session, "crm", Batch("accounts", [
        tombstone("A1", gone_at), tombstone("ZZ", gone_at)]))
    assert (result.fetched, result.inserted, result.updated, result.unchanged) == (2, 0, 1, 1)
    stored = dict(session.execute(select(Account.external_id, Account.deleted_at)).all())
    assert stored == {"A1": gone_at, "A2": None}
    again = load_batch(session, "crm", Batch("accounts", [tombstone("A1", gone_at)]))
    assert (again.updated, again.unchanged) == (0, 1)
    merged = load_batch(session, "crm", Batch("accounts", [tombstone("A1", gone_at, "A2")]))
    assert merged.updated == 1  # the merge is news; a later plain tombstone keeps it
    load_batch(session, "crm", Batch("accounts", [tombstone("A1", gone_at)]))
    assert session.scalar(select(Account.merged_into).where(Account.external_id == "A1")) == "A2"
    with pytest.raises(ValueError, match="contacts records cannot be tombstones"):
        load_batch(session, "crm", Batch("contacts", [tombstone("C1", gone_at)]))
