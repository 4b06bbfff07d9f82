"""The learning panel from the database: no input reads past the as-of date; usable range."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from factories import CHURN_AS_OF, load_churn_workspace
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig, parse_config
from pulse.services.backtest import run_backtest
from pulse.services.learn import learning_data, usable_range
from scoring.learn.live import account_attributes
from scoring.periods import parse_span
from storage.models import Account, Contact, IntegrationDaily, Invoice, Ticket, UsageDaily

HORIZON = parse_span("60d")
CFG = parse_config({"scoring": {"learn": {"categorical": ["segment", "plan"],
                                          "numeric": ["tenure_days", "arr"]}}})
TODAY = date(2025, 9, 1)


def _inputs(session: Session, cfg: PulseConfig = CFG) -> pd.DataFrame:
    run = run_backtest(session, cfg.scoring, CHURN_AS_OF, CHURN_AS_OF, every=parse_span("1m"),
                       horizon=HORIZON, with_inputs=True, workers=1,
                       observed_until=CHURN_AS_OF + timedelta(days=60), today=TODAY)
    data = learning_data(run.panel, account_attributes(session), cfg.scoring.learn, HORIZON)
    session.rollback()
    frame = data.inputs.assign(account_id=data.account_id, churned=data.y)
    return frame.sort_values("account_id", ignore_index=True)


def _add_rows(session: Session, day: date, accounts: list[Account]) -> None:
    """Usage, a failing integration, an urgent ticket and an invoice, all dated ``day``."""
    at = datetime.combine(day, datetime.min.time()) + timedelta(hours=9)
    for acc in accounts:
        user = session.scalars(select(Contact).where(Contact.account_id == acc.id)).first()
        assert user is not None
        key = f"late-{day}-{acc.id}"
        session.merge(UsageDaily(account_id=acc.id, day=day, user_id=user.id, feature="api",
                                 source="test", events=900, minutes=60.0))
        session.add(IntegrationDaily(source="test", account_id=acc.id, integration="sync",
                                     day=day, runs=20, failures=20))
        session.add(Ticket(source="test", external_id=key, account_id=acc.id,
                           priority="urgent", status="open", created_at=at))
        session.add(Invoice(source="test", external_id=key, account_id=acc.id, amount=500.0,
                             status="open", issued_on=day, due_on=day))
    session.commit()


def test_data_and_outcomes_after_the_as_of_date_change_no_input(session: Session) -> None:
    churned = load_churn_workspace(session, accounts=60)
    before = _inputs(session)
    assert before["churned"].sum() == len(churned) > 0
    assert before["account_plan"].notna().all() and before["account_tenure_days"].min() > 90
    accounts = list(session.scalars(select(Account)))
    for day in (CHURN_AS_OF + timedelta(days=1), CHURN_AS_OF + timedelta(days=30)):
        _add_rows(session, day, accounts)
    for acc in accounts:  # outcomes move: churn later, or not at all
        if acc.lifecycle == "churned":
            acc.churned_on = CHURN_AS_OF + timedelta(days=59)
    accounts[0].lifecycle, accounts[0].churned_on = "paid", None
    session.commit()
    after = _inputs(session)
    pd.testing.assert_frame_equal(after.drop(columns="churned"),
                                  before.drop(columns="churned"))
    # the control: the same rows dated on the as-of date do change the inputs
    _add_rows(session, CHURN_AS_OF, accounts[:10])
    changed = _inputs(session)
    for col in ("weighted_events", "tickets_90d", "integration_failures", "invoices_on_file"):
        assert not changed[col].equals(before[col]), col


def test_the_usable_range_names_the_data_and_a_date_with_churn_after_it(
    session: Session,
) -> None:
    churned = load_churn_workspace(session, accounts=40)
    found = usable_range(session, HORIZON, window_days=30, today=TODAY)
    assert found.first_usage == CHURN_AS_OF - timedelta(days=44)
    assert found.last_usage == CHURN_AS_OF and found.churns == len(churned)
    assert found.earliest == found.first_usage + timedelta(days=30)
    assert found.latest is not None and HORIZON.after(found.latest) <= found.data_end
    assert found.suggested is not None and found.suggested_churns == len(churned)
    text = " ".join(found.lines(HORIZON))
    assert f"usage from {found.first_usage} to {CHURN_AS_OF}" in text
    assert f"--as-of {found.suggested}" in text and "fewer than the 30 churns" in text
