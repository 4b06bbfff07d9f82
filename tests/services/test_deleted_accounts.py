"""An account deleted (or merged away) in the CRM: what a team stops seeing the next day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from factories import watch_all
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.sample import SampleConnector
from connectors.writeback import scored_records
from pulse.kernel.config import parse_config
from pulse.services.alerts import evaluate_alerts
from pulse.services.lookup import find_account
from scoring.engine import run_scoring
from storage.loader import load_batch
from storage.models import Account, ScoreSnapshot

END = date(2026, 3, 8)
CFG = parse_config({"sources": {"sample": {"accounts": 20, "days": 30, "end_date": END}}})


def _morning(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=7)


def test_a_deleted_account_is_not_scored_its_alerts_resolve_and_nothing_is_written_back(
    session: Session,
) -> None:
    for batch in SampleConnector(CFG).pull(None, full=True):
        load_batch(session, "sample", batch)
    for day in (END - timedelta(days=7), END):
        run_scoring(session, CFG, day)
    watch_all(session)
    raised = evaluate_alerts(session, CFG, _morning(END)).raised
    assert raised
    gone = session.get_one(Account, raised[0].account_id)
    gone.salesforce_id = "001GONE"
    gone.deleted_at = datetime.combine(END, datetime.min.time()) + timedelta(hours=20)
    session.flush()
    assert find_account(session, gone.name).account is None

    after = END + timedelta(days=1)
    run_scoring(session, CFG, after)
    scored = set(session.scalars(select(ScoreSnapshot.account_id)
                                 .where(ScoreSnapshot.as_of == after)))
    assert gone.id not in scored and len(scored) >= 10
    resolved = evaluate_alerts(session, CFG, _morning(after)).resolved
    assert gone.id in {item.account_id for item in resolved}
    items, _ = scored_records(session, "salesforce")
    assert gone.id not in {item.account_id for item in items}
    # its history stays: the snapshots before the deletion are still there
    kept = session.scalars(select(ScoreSnapshot.as_of).where(ScoreSnapshot.account_id == gone.id))
    assert set(kept) == {END - timedelta(days=7), END}
