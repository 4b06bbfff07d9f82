"""``pulse.services.metrics`` on SQLite and PostgreSQL: the hand-computed fixture of
``test_metrics`` stored through the loader (accounts, arr_history, opportunities, usage)
with snapshots and alerts, must give the same figures as the formulas on the frames."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
from metrics_data import LEDGER, PERIOD, load_metrics_fixture
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from pulse.services.metrics import (
    default_end,
    portfolio_metrics,
    retention_figures,
    trailing_period,
)
from scoring.metrics import TOTAL
from storage.models import Account, ArrChange, Opportunity

CFG = PulseConfig()
D = date.fromisoformat











@pytest.fixture
def stored(session: Session) -> Session:
    load_metrics_fixture(session)
    return session


def test_service_reads_the_same_figures_as_the_hand_computed_formulas(stored: Session) -> None:
    r = portfolio_metrics(stored, CFG, PERIOD)
    rev = r.revenue.loc[TOTAL]
    assert (rev["arr_start"], rev["kept_arr"], rev["arr_end_cohort"], rev["arr_end"]) == (
        210_000, 180_000, 212_000, 227_000)
    assert rev["grr"] == pytest.approx(180 / 210) and rev["nrr"] == pytest.approx(212 / 210)
    assert (rev["new_arr"], rev["expansion_arr"], rev["contraction_arr"],
            rev["churned_arr"]) == (15_000, 32_000, 10_000, 20_000)
    assert r.nrr_by_csm.loc["Olga", "nrr"] == pytest.approx(182 / 160)
    assert r.nrr_by_csm.loc["Pete", "nrr"] == pytest.approx(30 / 50)
    risk = r.at_risk.loc[TOTAL]
    assert (risk["at_risk_arr"], risk["renewing_arr"]) == (70_000, 40_000)
    dist = r.distribution.xs(TOTAL, level="group")
    assert dist.loc["at_risk", "accounts_end"] == 2 and dist.loc["fine", "arr_start"] == 80_000
    ad = r.adoption.loc[TOTAL]
    assert (ad["accounts"], ad["adopted"]) == (5, 3)
    ttv = r.time_to_value.loc[TOTAL]
    assert (ttv["started"], ttv["reached"], ttv["not_reached"], ttv["no_usage_data"]) == (
        3, 2, 1, 0)
    assert (ttv["median_days"], ttv["p75_days"]) == (7.0, 8.5)
    imp = r.improvement.loc[TOTAL]
    assert (imp["acknowledged"], imp["measured"], imp["improved"], imp["pending"]) == (
        5, 2, 1, 1)
    renewals = r.renewals.xs(TOTAL, level="group")
    assert renewals.loc["high"].tolist() == [1, 40_000, 1, 40_000]
    assert renewals.loc["unscored", "arr"] == 12_000
    assert r.forecast.by_group.loc[TOTAL, "weighted"] == pytest.approx(21_800)
    assert r.forecast.unknown_stages == ["Pilot"]
    assert r.ledger_rows == len(LEDGER) - 1  # the 2026 change is after the period
    assert r.notes == []


def test_an_account_deleted_in_the_crm_is_left_out(stored: Session) -> None:
    """A duplicate merged away in the CRM, with the ARR history of the account it
    duplicated, must not count that ARR twice."""
    before = portfolio_metrics(stored, CFG, PERIOD).revenue.loc[TOTAL]
    acme = stored.scalars(select(Account).where(Account.external_id == "Acme")).one()
    twin = Account(source=acme.source, external_id="Acme-dup", name=acme.name, arr=acme.arr,
                   owner_id=acme.owner_id, lifecycle=acme.lifecycle,
                   contract_start=acme.contract_start, deleted_at=datetime(2025, 12, 20))
    stored.add(twin)
    stored.flush()
    for row in stored.scalars(select(ArrChange).where(ArrChange.account_id == acme.id)).all():
        stored.add(ArrChange(account_id=twin.id, effective_on=row.effective_on, arr=row.arr,
                             reason=row.reason, source=row.source, recorded_at=row.recorded_at))
    stored.flush()
    after = portfolio_metrics(stored, CFG, PERIOD).revenue.loc[TOTAL]
    assert after.tolist() == before.tolist() and before["arr_start"] == 210_000


def test_an_open_opportunity_deleted_in_the_crm_leaves_the_forecast(stored: Session) -> None:
    before = portfolio_metrics(stored, CFG, PERIOD).forecast.by_group.loc[TOTAL, "weighted"]
    deal = stored.scalars(select(Opportunity).where(
        Opportunity.is_closed.is_(False), Opportunity.kind == "expansion",
        Opportunity.amount > 0).order_by(Opportunity.id)).first()
    assert deal is not None
    deal.deleted_at = datetime(2025, 12, 1)
    stored.flush()
    after = portfolio_metrics(stored, CFG, PERIOD).forecast.by_group.loc[TOTAL, "weighted"]
    assert after < before == pytest.approx(21_800)


def test_breakdown_by_segment_and_team_scope(stored: Session) -> None:
    r = portfolio_metrics(stored, CFG, PERIOD, by="segment")
    assert list(r.revenue.index) == [TOTAL, "Enterprise", "Mid-Market", "SMB"]
    assert r.revenue.loc["Enterprise", "nrr"] == pytest.approx(170 / 150)
    groups = r.revenue.drop(index=TOTAL)[["arr_start", "arr_end", "new_arr"]].sum()
    assert groups.tolist() == r.revenue.loc[TOTAL, ["arr_start", "arr_end", "new_arr"]].tolist()
    by_health = portfolio_metrics(stored, CFG, PERIOD, by="health")
    # health = the tier of the latest snapshot on or before the end: B and E at risk, and
    # C, whose last snapshot before churning (2025-09-01) was at risk: 50k + 30k + 20k
    assert by_health.revenue.loc["at_risk", "arr_start"] == 100_000
    assert by_health.revenue.loc["at_risk", "churned_arr"] == 20_000
    olga = {o for o, in stored.execute(select(Account.owner_id).where(
        Account.external_id == "Acme"))}
    team = portfolio_metrics(stored, CFG, PERIOD, owner_ids=olga)
    assert team.revenue.loc[TOTAL, "arr_start"] == 160_000  # A, B, G


def test_trailing_period_and_digest_figures(stored: Session) -> None:
    assert default_end(stored, D("2026-03-01")) == D("2025-12-31")  # the last scoring day
    assert trailing_period(D("2026-03-08"), 12) == type(PERIOD)(D("2025-03-09"), D("2026-03-08"))
    assert trailing_period(D("2025-12-31"), 12) == PERIOD
    figures = retention_figures(stored, CFG, D("2025-12-31"))
    assert figures.period == PERIOD
    assert figures.revenue["grr"] == pytest.approx(180 / 210)
    assert figures.forecast.by_group.iloc[0]["weighted"] == pytest.approx(21_800)


def test_notes_say_when_the_data_cannot_carry_the_figures(session: Session) -> None:
    empty = portfolio_metrics(session, CFG, PERIOD)
    assert empty.revenue.loc[TOTAL, "arr_start"] == 0 and pd.isna(empty.revenue.loc[TOTAL, "grr"])
    assert any("ledger is empty" in n for n in empty.notes)
    load_metrics_fixture(session)
    early = portfolio_metrics(session, CFG, type(PERIOD)(D("2021-06-01"), D("2022-06-30")))
    assert any("ledger starts on 2022-01-01" in n for n in early.notes)  # E's first row
    assert any("No health scores on or before 2021-05-31" in n for n in early.notes)
    assert early.revenue.loc[TOTAL, "new_arr"] == 30_000  # E, with no earlier history
