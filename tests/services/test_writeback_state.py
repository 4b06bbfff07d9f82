"""Only changed health values are sent; failures are kept for the next run."""

from __future__ import annotations

from datetime import date, datetime

from factories import add_snapshot
from sqlalchemy.orm import Session

from connectors.writeback import pending_writeback, record_outcomes
from pulse.kernel.records import Batch
from storage.loader import load_batch
from storage.models import Account

NOW = datetime(2026, 11, 25, 6, 0)


def _snapshot(session: Session, account_id: int, day: date, score: float) -> None:
    add_snapshot(session, account_id, day, score, computed_at=NOW, expansion_score=10.0)


def test_unchanged_accounts_are_not_sent_and_failures_retry(session: Session) -> None:
    load_batch(
        session,
        "sf",
        Batch(
            "accounts",
            [
                {"external_id": "a", "name": "Acme", "salesforce_id": "001A"},
                {"external_id": "b", "name": "Beta", "salesforce_id": "001B"},
                {"external_id": "c", "name": "NoCrm"},
            ],
        ),
    )
    ids = {a.external_id: a.id for a in session.query(Account)}
    for ext in "abc":
        _snapshot(session, ids[ext], date(2026, 11, 24), 60.0)

    items, report = pending_writeback(session, "salesforce")
    assert sorted(i.record_id for i in items) == ["001A", "001B"]
    assert report.no_record_id == 1
    outcomes = [(i, None if i.record_id == "001A" else "ENTITY_IS_DELETED") for i in items]
    record_outcomes(session, "salesforce", outcomes, NOW, report)
    assert report.failed == [("Beta (001B)", "ENTITY_IS_DELETED")]

    again, report2 = pending_writeback(session, "salesforce")
    assert [i.record_id for i in again] == ["001B"]  # the failure is retried
    assert report2.unchanged == 1

    _snapshot(session, ids["a"], date(2026, 11, 25), 42.0)
    changed, _ = pending_writeback(session, "salesforce")
    acme = next(i for i in changed if i.record_id == "001A")
    assert acme.changed["score"] == 42 and acme.changed["tier"] == "At risk"
    assert "reasons" not in acme.changed  # unchanged values are not resent
