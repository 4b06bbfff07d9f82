"""``pulse.services.metrics`` on SQLite and PostgreSQL: the hand-computed fixture of
``test_metrics`` stored through the loader (accounts, arr_history, opportunities, usage)
with snapshots and alerts, must give the same figures as the formulas on the frames."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
import pytest
from factories import add_snapshot
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_metrics import ACCOUNTS, LEDGER, PERIOD, SNAPSHOTS, acknowledged_alerts, opportunities

from connectors.base import Batch
from pulse.config import PulseConfig
from pulse.services.metrics import (
    default_end,
    portfolio_metrics,
    retention_figures,
    trailing_period,
)
from scoring.metrics import TOTAL
from storage.loader import load_batch
from storage.models import Account, Alert

CFG = PulseConfig()
D = date.fromisoformat
COMPUTED = datetime(2026, 1, 1, 6, 0)

# account name -> days with core-feature use (``reports``) in the 30 days to 2025-12-31
CORE_DAYS = {"Acme": 10, "Globex": 4, "Initech": 8, "Hooli": 3, "Stark": 5}


def _name(account_id: int) -> str:
    return str(ACCOUNTS.set_index("account_id").loc[account_id, "name"])


def _usage(name: str, feature: str, day: date) -> dict[str, Any]:
    return {"account_external_id": name, "user_external_id": f"{name}-u1", "feature": feature,
            "day": day, "events": 3, "minutes": 2.0}


def load_metrics_fixture(session: Session) -> dict[str, int]:
    """The test_metrics fixture in storage; returns account ids by name. Commits."""
    load_batch(session, "files", Batch("owners", [
        {"external_id": "olga", "name": "Olga"}, {"external_id": "pete", "name": "Pete"}]))
    accounts = [
        {"external_id": a.name, "name": a.name, "segment": a.segment, "region": a.region,
         "tier": a.tier, "owner_external_id": a.csm.lower() if isinstance(a.csm, str) else None,
         "lifecycle": a.lifecycle,
         "contract_start": a.contract_start, "renewal_date": a.renewal_date}
        for a in ACCOUNTS.itertuples()
    ]
    load_batch(session, "files", Batch("accounts", accounts))
    history = LEDGER.assign(account_external_id=LEDGER["account_id"].map(_name))
    result = load_batch(session, "files", Batch("arr_history", history.drop(columns="account_id")))
    assert result.inserted == len(LEDGER) and not result.skipped
    load_batch(session, "files", Batch("contacts", [
        {"external_id": f"{a.name}-u1", "account_external_id": a.name,
         "email": f"u1@{a.name.lower()}.example"} for a in ACCOUNTS.itertuples()]))
    usage = [_usage(name, "reports", END_DAY - timedelta(days=k))
             for name, n in CORE_DAYS.items() for k in range(n)]
    usage += [
        _usage("Acme", "reports", D("2025-12-01")),  # a day before the adoption window
        _usage("Globex", "login", D("2025-12-20")),  # not a core feature
        _usage("Hooli", "reports", D("2025-03-20")),  # before its contract start
        _usage("Hooli", "dashboards", D("2025-04-11")),  # its first core use: 10 days in
        _usage("Vandelay", "login", D("2025-11-02")),
        _usage("Vandelay", "api", D("2025-11-05")),  # 4 days in
        _usage("Umbrella", "login", D("2024-12-01")),  # the first stored usage day
    ]
    load_batch(session, "files", Batch("usage", pd.DataFrame(usage)))
    opps = opportunities().assign(account_external_id=lambda f: f["account_id"].map(_name))
    load_batch(session, "files", Batch("opportunities", [
        {"external_id": f"opp-{i}", **{k: v for k, v in row.items() if k != "account_id"}}
        for i, row in enumerate(opps.to_dict("records"))
    ]))
    ids = {a.name: a.id for a in session.scalars(select(Account))}
    for snap in SNAPSHOTS.itertuples():
        add_snapshot(session, ids[_name(snap.account_id)], snap.as_of, 70.0,
                     computed_at=COMPUTED, tier=snap.tier, renewal_risk=snap.renewal_risk)
    for alert in acknowledged_alerts().itertuples():
        acked = datetime.combine(alert.acknowledged_on, time(15, 30))
        session.add(Alert(account_id=ids[_name(alert.account_id)], rule=f"rule_{alert.alert_id}",
                          severity="warning", status="acknowledged", message="dropped",
                          opened_at=acked - timedelta(days=1), acknowledged_by="UOLGA",
                          acknowledged_at=acked))
    session.commit()
    return ids


END_DAY = PERIOD.end


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
