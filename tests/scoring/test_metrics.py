"""Portfolio metrics against hand-computed values (docs/metrics.md has the definitions).

The fixture is one calendar year (2025-01-01 to 2025-12-31; the starting state is the
close of 2024-12-31) with an upgrade, a downgrade, a churn and a new customer in the same
period, plus edge cases: a change on the period's first day, one after its end, a churn
before the period, and trials. Each expected value carries its arithmetic.

    account      segment     csm   ARR at 2024-12-31 -> 2025-12-31   what happened
    A Acme       Enterprise  Olga  100,000 -> 130,000  upgrade 2025-06-01 (and 200k in 2026)
    B Globex     Enterprise  Olga   50,000 ->  40,000  downgrade 2025-03-01
    C Initech    SMB         Pete   20,000 ->       0  churned 2025-09-15
    D Hooli      SMB         Pete        0 ->  15,000  new 2025-04-01
    E Umbrella   Mid-Market  Pete   30,000 ->  30,000  flat
    G Stark      Mid-Market  Olga   10,000 ->  12,000  10k from 2024-12-31, 12k from 2025-01-01
    H Dunder     SMB         Pete        0 ->       0  churned 2024-06-30, before the period
    F Vandelay   SMB         Pete   trial (no ARR), started 2025-11-01
    M Soylent    SMB         (none) trial (no ARR), started 2025-12-20
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from metrics_data import (
    ACCOUNTS,
    END,
    LEDGER,
    PERIOD,
    PROBABILITIES,
    SNAPSHOTS,
    D,
    acknowledged_alerts,
    frame_of,
    opportunities,
)

from scoring.metrics import (
    BREAKDOWNS,
    TOTAL,
    Period,
    adoption,
    arr_on,
    at_risk_arr,
    expansion_forecast,
    health_distribution,
    improvement_rate,
    renewal_pipeline,
    revenue_bridge,
    time_to_value,
    with_health,
)


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-9)


# --- revenue -------------------------------------------------------------------------


def test_arr_on_takes_the_latest_change_on_or_before_the_day() -> None:
    assert arr_on(LEDGER, D("2025-05-31"))[1] == 100_000
    assert arr_on(LEDGER, D("2025-06-01"))[1] == 130_000  # effective that very day
    assert 4 not in arr_on(LEDGER, D("2025-03-31")).index  # before its first change: 0


def test_revenue_bridge_totals() -> None:
    r = revenue_bridge(ACCOUNTS, LEDGER, PERIOD).loc[TOTAL]
    # cohort (ARR > 0 at the close of 2024-12-31): A 100k, B 50k, C 20k, E 30k, G 10k
    assert r["accounts_start"] == 5
    assert r["arr_start"] == 210_000  # 100 + 50 + 20 + 30 + 10
    # kept = Σ min(end, start): A 100 + B 40 + C 0 + E 30 + G 10
    assert r["kept_arr"] == 180_000
    # the same cohort at the end: A 130 + B 40 + C 0 + E 30 + G 12
    assert r["arr_end_cohort"] == 212_000
    assert (r["expansion_arr"], r["expanded_accounts"]) == (32_000, 2)  # A +30k, G +2k
    assert (r["contraction_arr"], r["contracted_accounts"]) == (10_000, 1)  # B -10k
    assert (r["churned_arr"], r["churned_accounts"]) == (20_000, 1)  # C
    assert (r["new_arr"], r["new_accounts"]) == (15_000, 1)  # D; H and the trials: nothing
    # the bridge: 210 + 15 + 32 - 10 - 20 = 227 = A 130 + B 40 + D 15 + E 30 + G 12
    assert r["arr_end"] == 227_000 and r["accounts_end"] == 5
    assert r["arr_start"] + r["new_arr"] + r["expansion_arr"] - r["contraction_arr"] - (
        r["churned_arr"]) == r["arr_end"]
    assert r["grr"] == approx(180 / 210)  # 85.7%
    assert r["nrr"] == approx(212 / 210)  # 101.0%
    assert r["logo_churn_rate"] == approx(1 / 5)  # C of 5
    assert r["revenue_churn_rate"] == approx(20 / 210)  # 9.5%
    assert r["gross_revenue_churn_rate"] == approx((20 + 10) / 210)  # 14.3% = 1 - GRR


def test_revenue_bridge_by_segment_and_csm() -> None:
    seg = revenue_bridge(ACCOUNTS, LEDGER, PERIOD, "segment")
    assert list(seg.index) == [TOTAL, "Enterprise", "Mid-Market", "SMB"]
    ent, mid, smb = seg.loc["Enterprise"], seg.loc["Mid-Market"], seg.loc["SMB"]
    # Enterprise: A, B. start 150, kept 100 + 40 = 140, end 130 + 40 = 170
    assert (ent["arr_start"], ent["kept_arr"], ent["arr_end_cohort"]) == (150_000, 140_000,
                                                                         170_000)
    assert ent["grr"] == approx(140 / 150) and ent["nrr"] == approx(170 / 150)
    # Mid-Market: E, G. start 40, kept 40, end 42
    assert mid["grr"] == approx(1.0) and mid["nrr"] == approx(42 / 40)
    # SMB: C churned (20k), D new (15k): GRR = NRR = 0 / 20
    assert (smb["grr"], smb["nrr"], smb["logo_churn_rate"]) == (0.0, 0.0, 1.0)
    assert smb["new_arr"] == 15_000

    csm = revenue_bridge(ACCOUNTS, LEDGER, PERIOD, "csm")
    # Olga: A, B, G. start 160, kept 100 + 40 + 10 = 150, end 130 + 40 + 12 = 182
    assert csm.loc["Olga", "grr"] == approx(150 / 160)
    assert csm.loc["Olga", "nrr"] == approx(182 / 160)
    # Pete: C, E (+ D new). start 50, kept 30, end 30
    assert csm.loc["Pete", "nrr"] == approx(30 / 50)
    assert "(none)" not in csm.index  # Soylent, a trial without CSM, is not in the bridge


@pytest.mark.parametrize("by", ["segment", "region", "tier", "csm", "health"])
def test_every_breakdown_adds_up_to_the_totals(by: str) -> None:
    accounts = with_health(ACCOUNTS, SNAPSHOTS, END)
    opps = opportunities()
    alerts = acknowledged_alerts()
    core = frame_of([(1, 10), (2, 4), (4, 3), (7, 5)], ["account_id", "days"])
    first = frame_of([(4, D("2025-04-11")), (6, D("2025-11-05"))],
                     ["account_id", "first_core_day"])
    checks = [
        (revenue_bridge(accounts, LEDGER, PERIOD, by),
         ["arr_start", "kept_arr", "arr_end", "new_arr", "churned_accounts"]),
        (at_risk_arr(accounts, LEDGER, SNAPSHOTS, END, 90, by),
         ["arr", "at_risk_arr", "renewing_arr", "at_risk_accounts"]),
        (adoption(accounts, LEDGER, core, END, 4, by), ["accounts", "adopted"]),
        (time_to_value(accounts, first, PERIOD, by, D("2025-06-01")),
         ["started", "no_usage_data", "reached", "not_reached"]),
        (improvement_rate(accounts, alerts, SNAPSHOTS, PERIOD, 60, by),
         ["acknowledged", "measured", "improved", "pending"]),
        (expansion_forecast(accounts, opps, PROBABILITIES, 0.1, by).by_group,
         ["opportunities", "amount", "weighted"]),
    ]
    for table, columns in checks:
        total = table.loc[TOTAL, columns]
        groups = table.drop(index=TOTAL)[columns].sum()
        assert len(table) > 1
        pd.testing.assert_series_equal(groups, total, check_names=False, check_dtype=False)
    for table in (health_distribution(accounts, LEDGER, SNAPSHOTS, PERIOD, by),
                  renewal_pipeline(accounts, LEDGER, SNAPSHOTS, opps, END, 90, by)):
        total = table.xs(TOTAL, level="group")
        groups = table.drop(index=TOTAL, level="group").groupby(level=1).sum()
        pd.testing.assert_frame_equal(groups.reindex(total.index), total, check_dtype=False)


def test_unknown_breakdown_is_refused() -> None:
    assert "csm" in BREAKDOWNS
    with pytest.raises(ValueError, match="unknown breakdown 'owner'"):
        revenue_bridge(ACCOUNTS, LEDGER, PERIOD, "owner")
    with pytest.raises(ValueError, match="starts 2025-02-01 after it ends"):
        Period(D("2025-02-01"), D("2025-01-31"))


def test_no_starting_arr_gives_no_rate_not_zero() -> None:
    early = Period(D("2021-01-01"), D("2021-12-31"))
    r = revenue_bridge(ACCOUNTS, LEDGER, early).loc[TOTAL]
    assert r["arr_start"] == 0 and pd.isna(r["grr"]) and pd.isna(r["nrr"])


# --- health ----------------------------------------------------------------------------


def test_at_risk_arr_and_the_part_renewing_soon() -> None:
    r = at_risk_arr(ACCOUNTS, LEDGER, SNAPSHOTS, END, 90).loc[TOTAL]
    # paying on 2025-12-31: A 130 healthy, B 40 at risk, D 15 fine, E 30 at risk, G 12 unscored
    assert (r["accounts"], r["arr"]) == (5, 227_000)
    assert (r["at_risk_accounts"], r["at_risk_arr"]) == (2, 70_000)  # B 40 + E 30
    # renewing by 2026-03-31: B (2026-02-15); E renews 2026-06-01
    assert (r["renewing_accounts"], r["renewing_arr"]) == (1, 40_000)
    assert r["at_risk_share"] == approx(70 / 227)


def test_health_distribution_at_start_and_end_and_its_change() -> None:
    dist = health_distribution(ACCOUNTS, LEDGER, SNAPSHOTS, PERIOD).xs(TOTAL, level="group")
    # start (2024-12-31): A healthy 100k; B fine 50k + E fine 30k; C at risk 20k; G unscored 10k
    # end (2025-12-31): A healthy 130k; D fine 15k; B 40k + E 30k at risk; G unscored 12k
    expected = {
        "healthy": (1, 100_000, 1, 130_000, 0, 30_000),
        "fine": (2, 80_000, 1, 15_000, -1, -65_000),
        "at_risk": (1, 20_000, 2, 70_000, 1, 50_000),
        "unscored": (1, 10_000, 1, 12_000, 0, 2_000),
    }
    cols = ["accounts_start", "arr_start", "accounts_end", "arr_end", "change_accounts",
            "change_arr"]
    got = {tier: tuple(dist.loc[tier, cols]) for tier in expected}
    assert got == expected


# --- product ---------------------------------------------------------------------------


def test_adoption_counts_paying_accounts_with_enough_core_days() -> None:
    # days with core-feature use in the window: A 10, B 4, C 8 (churned: not paying),
    # D 3, E none, G 5. Adopted at 4+ days: A, B, G of the 5 paying -> 60%
    core = frame_of([(1, 10), (2, 4), (3, 8), (4, 3), (7, 5)], ["account_id", "days"])
    r = adoption(ACCOUNTS, LEDGER, core, END, 4).loc[TOTAL]
    assert (r["accounts"], r["adopted"]) == (5, 3) and r["adoption_rate"] == approx(0.6)
    assert adoption(ACCOUNTS, LEDGER, core, END, 5).loc[TOTAL, "adopted"] == 2  # A, G


def test_time_to_value_of_accounts_started_in_the_period() -> None:
    # started in 2025: D (2025-04-01, first core 2025-04-11: 10 days), F (2025-11-01,
    # 2025-11-05: 4 days), M (2025-12-20, not yet). G started 2024-12-31: outside.
    first = frame_of([(4, D("2025-04-11")), (6, D("2025-11-05"))],
                     ["account_id", "first_core_day"])
    r = time_to_value(ACCOUNTS, first, PERIOD).loc[TOTAL]
    assert (r["started"], r["reached"], r["not_reached"]) == (3, 2, 1)
    assert r["median_days"] == 7.0  # (4 + 10) / 2
    assert r["p75_days"] == 8.5  # 4 + 0.75 x (10 - 4)
    assert r["no_usage_data"] == 0
    # usage stored only from 2025-06-01: D's start cannot be seen, its 10 days not measured
    late = time_to_value(ACCOUNTS, first, PERIOD, usage_from=D("2025-06-01")).loc[TOTAL]
    assert (late["started"], late["no_usage_data"], late["reached"], late["not_reached"]) == (
        3, 1, 1, 1)
    assert late["median_days"] == 4.0


# --- CS impact ---------------------------------------------------------------------------




def test_health_improvement_rate_after_acknowledged_alerts() -> None:
    r = improvement_rate(ACCOUNTS, acknowledged_alerts(), SNAPSHOTS, PERIOD, 60).loc[TOTAL]
    assert r["acknowledged"] == 5  # alerts 1, 2, 3, 4, 6
    assert r["not_eligible"] == 2  # 3 (healthy), 6 (unscored)
    assert r["pending"] == 1  # 4
    assert (r["measured"], r["improved"]) == (2, 1)  # 1 and 2; only 1 rose
    assert r["improvement_rate"] == approx(0.5)
    # a 100-day window takes in E's rise to healthy (2025-08-01) but makes alert 2's
    # window end 2025-08-09 and alert 1's 2025-06-18: both closed, both improved
    wide = improvement_rate(ACCOUNTS, acknowledged_alerts(), SNAPSHOTS, PERIOD, 100)
    assert (wide.loc[TOTAL, "measured"], wide.loc[TOTAL, "improved"]) == (2, 2)


# --- commercial --------------------------------------------------------------------------






def test_expansion_forecast_weighs_open_opportunities_by_stage() -> None:
    f = expansion_forecast(ACCOUNTS, opportunities(), PROBABILITIES, 0.1)
    r = f.by_group.loc[TOTAL]
    assert (r["opportunities"], r["amount"]) == (4, 68_000)  # 50 + 10 + 8 + 0
    assert r["weighted"] == approx(21_800)  # 20,000 + 1,000 + 800 + 0
    assert f.unknown_stages == ["Pilot"]
    assert f.by_stage.loc["Pilot", "probability"] == 0.1 and not f.by_stage.loc["Pilot", "known"]
    assert f.by_stage.loc["discovery", "weighted"] == approx(1_000)
    assert expansion_forecast(ACCOUNTS, opportunities(), PROBABILITIES, 0.0).by_group.loc[
        TOTAL, "weighted"] == approx(21_000)


def test_renewal_pipeline_by_risk() -> None:
    table = renewal_pipeline(ACCOUNTS, LEDGER, SNAPSHOTS, opportunities(), END, 90)
    got = table.xs(TOTAL, level="group")
    # renewing 2025-12-31 .. 2026-03-31: B (high, 40k), A (2026-03-31, low, 130k),
    # G (2026-01-10, unscored, 12k); D renews 2026-04-01: outside. Open renewal
    # opportunities in the window: B's 40k (A's is closed, E's closes in June).
    assert got.loc["high"].tolist() == [1, 40_000, 1, 40_000]
    assert got.loc["medium"].tolist() == [0, 0, 0, 0]
    assert got.loc["low"].tolist() == [1, 130_000, 0, 0]
    assert got.loc["unscored"].tolist() == [1, 12_000, 0, 0]
