"""Pure tests of the health components on small hand-built signal frames."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from factories import AS_OF, healthy_record

from pulse.kernel.config import PulseConfig, ScoringConfig, TierThresholds
from scoring.components import (
    COMPONENT_KEYS,
    DATA_COMPONENT_KEYS,
    assign_tier,
    combine,
    compute_components,
    portfolio_thresholds,
    round_points,
    seat_curve,
)
from scoring.engine import score_signals
from scoring.signals import Signals, feature_weight, make_signals

CFG = PulseConfig()




def signals_of(*records: dict[str, Any], **meta: Any) -> Signals:
    return make_signals(records, AS_OF, CFG.scoring, **meta)


def score_one(rec: dict[str, Any], **meta: Any) -> pd.Series:
    return score_signals(signals_of(rec, **meta), CFG).iloc[0]


def comp(row: pd.Series, key: str) -> dict[str, Any]:
    return next(c for c in row["components"] if c["key"] == key)


def test_value_weighting_makes_100_logins_worth_less_than_30_core_actions() -> None:
    cfg = CFG.scoring
    logins = 100 * feature_weight("login", cfg)
    core = 30 * feature_weight("reports", cfg)
    assert feature_weight("export", cfg) == 1.0
    assert logins < core
    base = {"user_days": 10, "active_users": 1, "weighted_events_prev": 0.0}
    sig = signals_of(
        {**healthy_record(**base), "account_id": 1, "weighted_events": logins},
        {**healthy_record(**base), "account_id": 2, "weighted_events": core},
    )
    usage = compute_components(sig, cfg)["usage"].value
    assert usage.loc[1] < usage.loc[2]


def test_a_sum_the_database_adds_in_another_order_shows_the_same_figures() -> None:
    """PostgreSQL may add a usage window's floats in another order from one plan to the
    next: 81 value-weighted actions by 20 users (4.05 a user) came back as 81 plus or
    minus a last bit, and the card read 4.0 one day and 4.1 the next for the same rows."""
    base = {"active_users": 20, "user_days": 200}
    sig = signals_of(*[
        {**healthy_record(**base), "account_id": i, "weighted_events": events}
        for i, events in enumerate([81.0, np.nextafter(81.0, 99), np.nextafter(81.0, 0)], 1)
    ])
    rows = score_signals(sig, CFG).set_index("account_id")
    shown = {i: comp(rows.loc[i], "usage")["raw"]["weighted_per_active_user_30d"]
             for i in (1, 2, 3)}
    assert len(set(shown.values())) == 1, shown
    assert rows["score"].nunique() == 1


def test_explicit_feature_weight_overrides_core_default() -> None:
    cfg = ScoringConfig(core_features=["api"], feature_weights={"api": 5.0})
    assert feature_weight("api", cfg) == 5.0


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [(0.0, 0.0), (0.3, 0.25), (0.6, 0.5), (0.7, 0.75), (0.8, 1.0), (1.3, 1.0)],
)
def test_seat_curve_follows_configured_thresholds(ratio: float, expected: float) -> None:
    assert seat_curve(np.array([ratio]), 0.6, 0.8)[0] == pytest.approx(expected)


def test_seats_component_detail_and_value() -> None:
    row = score_one(healthy_record(active_users=41, licensed_seats=50))
    seats = comp(row, "seats")
    assert seats["detail"] == "41 of 50 seats active (82%)"
    assert seats["value"] == 1.0
    risky = comp(score_one(healthy_record(active_users=20, licensed_seats=50)), "seats")
    assert risky["value"] < 0.5


def test_seats_without_licence_count_has_no_data_and_says_so() -> None:
    row = score_one(healthy_record(licensed_seats=None))
    seats = comp(row, "seats")
    assert seats["has_data"] is False
    assert seats["value"] is None and seats["points"] == 0.0
    assert "no licensed seat count on file" in seats["detail"]
    assert "weight renormalised" in seats["detail"]


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (100.0, "healthy"),
        (80.0, "healthy"),
        (79.9, "fine"),
        (50.0, "fine"),
        (49.9, "at_risk"),
        (0.0, "at_risk"),
    ],
)
def test_tier_boundaries(score: float, tier: str) -> None:
    assert assign_tier(pd.Series([score]), TierThresholds())[0] == tier


def test_missing_signals_renormalise_remaining_weights_and_say_so() -> None:
    """No usage source at all: usage, breadth, seats and trend drop out, never zero."""
    rec = healthy_record(nps_latest=None, csat_avg=None, csat_responses=0)
    row = score_one(rec, has_usage=False)
    comps = {c["key"]: c for c in row["components"]}
    for key in ("usage", "breadth", "seats", "trend"):
        assert comps[key]["has_data"] is False
        assert comps[key]["effective_weight"] == 0.0
        assert "no usage data" in comps[key]["detail"]
        assert "weight renormalised" in comps[key]["detail"]
    w = CFG.scoring.weights
    total = w.engagement + w.contract
    assert comps["engagement"]["effective_weight"] == pytest.approx(w.engagement / total, abs=1e-4)
    assert comps["contract"]["effective_weight"] == pytest.approx(w.contract / total, abs=1e-4)
    expected = (
        (comps["engagement"]["value"] * w.engagement + comps["contract"]["value"] * w.contract)
        / total
        * 100
    )
    assert row["score"] == pytest.approx(expected, abs=0.051)
    assert "no NPS on file" in comps["engagement"]["detail"]
    assert any("weight renormalised" in r for r in row["reasons"])


def test_no_tickets_and_no_surveys_is_partial_engagement_data() -> None:
    """No tickets counts as a fine support record, but missing NPS/CSAT are named."""
    rec = healthy_record(nps_latest=None, csat_avg=None, csat_responses=0)
    eng = comp(score_one(rec), "engagement")
    assert eng["has_data"] is True
    assert eng["value"] == 1.0
    assert eng["detail"] == "no tickets in 90 days; no NPS on file; no CSAT on file"
    # Without any support or survey source the component has no data at all.
    none = comp(score_one(rec, has_tickets=False, has_surveys=False), "engagement")
    assert none["has_data"] is False
    assert "no support data" in none["detail"]


def test_detractor_nps_and_open_urgent_tickets_lower_engagement() -> None:
    good = comp(score_one(healthy_record()), "engagement")["value"]
    bad = comp(
        score_one(healthy_record(nps_latest=3, open_urgent_high=2, tickets_90d=4)), "engagement"
    )
    assert bad["value"] < good
    assert "latest NPS 3 (detractor)" in bad["detail"]
    assert "2 open urgent/high" in bad["detail"]


def test_contract_overdue_invoice_and_trial() -> None:
    base = comp(score_one(healthy_record()), "contract")
    overdue = comp(
        score_one(
            healthy_record(
                overdue_invoices=1, overdue_amount=1200.0, oldest_overdue_due_on=date(2025, 5, 31)
            )
        ),
        "contract",
    )
    trial = comp(score_one(healthy_record(lifecycle="trial")), "contract")
    assert overdue["value"] < base["value"] and trial["value"] < base["value"]
    assert "1 invoice overdue, oldest 30 days ($1,200)" in overdue["detail"]
    assert overdue["raw"]["max_days_overdue"] == 30
    no_date = comp(score_one(healthy_record(renewal_date=None)), "contract")
    assert "no renewal date on file" in no_date["detail"]


def test_trend_improving_is_positive_and_declining_low() -> None:
    up = comp(
        score_one(healthy_record(weighted_events=1300.0, weighted_events_prev=1000.0)), "trend"
    )
    flat = comp(score_one(healthy_record()), "trend")
    down = comp(
        score_one(healthy_record(weighted_events=500.0, weighted_events_prev=1000.0)), "trend"
    )
    assert up["value"] == 1.0 and flat["value"] == pytest.approx(0.8) and down["value"] == 0.0
    assert "down 50%" in down["detail"]


def test_trend_has_no_data_for_young_accounts_or_short_history() -> None:
    young = comp(score_one(healthy_record(contract_start=date(2025, 6, 1))), "trend")
    assert young["has_data"] is False and "younger than 60 days" in young["detail"]
    short = comp(score_one(healthy_record(), usage_first_day=date(2025, 6, 20)), "trend")
    assert short["has_data"] is False and "history shorter" in short["detail"]


def test_no_activity_is_a_real_zero_when_usage_is_connected() -> None:
    rec = healthy_record(
        user_days=0,
        active_users=0,
        weighted_events=0.0,
        core_events=0,
        features_used=0,
    )
    row = score_one(rec)
    usage = comp(row, "usage")
    assert usage["has_data"] is True and usage["value"] == 0.0
    assert usage["detail"] == "no product activity in the last 30 days"


CATALOGUE = (
    "reports",
    "dashboards",
    "workflows",
    "integrations",
    "api",
    "login",
    "search",
    "exports",
    "comments",
    "admin",
)


def test_breadth_is_value_weighted_share_of_catalogue() -> None:
    # catalogue weight: 5 core x 3 + login 0.2 + search 0.5 + 3 others x 1 = 18.7
    rec = healthy_record(features_used=4, core_features_used=2, weighted_features_used=7.2)
    breadth = comp(score_one(rec, catalogue=CATALOGUE), "breadth")
    assert breadth["detail"] == "4 of 10 features used, 2 of 5 core (value-weighted 39%)"
    assert breadth["value"] == pytest.approx(7.2 / 18.7 / 0.8, abs=1e-3)
    # Five minor features are worth less than two core ones.
    minor = healthy_record(features_used=5, core_features_used=0, weighted_features_used=4.7)
    assert comp(score_one(minor, catalogue=CATALOGUE), "breadth")["value"] < breadth["value"]


def test_usage_is_judged_against_the_workspace_median() -> None:
    """With enough accounts the median account earns 75% of each usage part."""
    recs = [
        healthy_record(
            account_id=i,
            active_users=10,
            user_days=10 * (5 + i % 20),
            weighted_events=10.0 * (50 + 10 * (i % 20)),
        )
        for i in range(1, 42)
    ]
    rows = score_signals(signals_of(*recs), CFG).set_index("account_id")
    median = comp(rows.loc[9], "usage")  # 14 active days, 140 actions: the medians
    assert median["raw"]["weighted_per_active_user_median"] == 140
    assert median["raw"]["depth_score"] == pytest.approx(0.75, abs=1e-3)
    assert median["raw"]["frequency_score"] == pytest.approx(0.75, abs=1e-3)
    assert "(workspace median 140)" in median["detail"]
    assert (
        comp(rows.loc[19], "usage")["value"] > median["value"] > comp(rows.loc[1], "usage")["value"]
    )


def test_points_add_up_to_score_exactly() -> None:
    rng = np.random.default_rng(7)
    values = pd.DataFrame(
        rng.uniform(0, 1, (500, len(COMPONENT_KEYS))), columns=list(COMPONENT_KEYS)
    )
    values = values.mask(rng.uniform(0, 1, (500, len(COMPONENT_KEYS))) < 0.2)
    combined = combine(values, CFG.scoring.weights.model_dump(), CFG.scoring.tiers)
    tenths = np.rint(combined.points.to_numpy() * 10).astype(int)
    score_tenths = np.rint(combined.score.to_numpy() * 10)
    ok = ~np.isnan(score_tenths)
    assert (tenths.sum(axis=1)[ok] == score_tenths[ok]).all()
    raw = np.nan_to_num(values.to_numpy()) * combined.effective_weights.to_numpy() * 100
    assert np.abs(combined.points.to_numpy() - raw).max() <= 0.1 + 1e-9
    assert (combined.points.to_numpy()[~combined.has_data.to_numpy()] == 0).all()


def test_round_points_largest_remainder() -> None:
    pts = round_points(np.array([[33.333, 33.333, 33.334]]))
    assert pts.sum() == pytest.approx(100.0)
    assert sorted(pts[0].tolist()) == [33.3, 33.3, 33.4]


def test_round_points_gives_a_tied_tenth_to_the_earlier_component() -> None:
    """Equal remainders: the leftover tenth goes to the first of them, in every row,
    whichever the row's other components (the rule explanations are built on)."""
    rows = [
        [12.25, 12.25, 75.5, 0.0],
        [0.0, 12.25, 12.25, 75.5],
        [40.0, 12.25, 35.5, 12.25],
        [20.05, 20.05, 20.05, 39.85],
    ]
    pts = round_points(np.array(rows))
    assert pts[0].tolist() == [12.3, 12.2, 75.5, 0.0]
    assert pts[1].tolist() == [0.0, 12.3, 12.2, 75.5]
    assert pts[2].tolist() == [40.0, 12.3, 35.5, 12.2]
    assert pts.sum(axis=1) == pytest.approx([100.0] * 4)


def test_reasons_put_negatives_before_positives() -> None:
    rec = healthy_record(active_users=10, licensed_seats=50, nps_latest=9)
    reasons = score_one(rec)["reasons"]
    assert reasons[0].startswith("Seats: 10 of 50 seats active")
    assert reasons[1].startswith("Usage: ")  # the biggest positive comes after the negative
    assert len(reasons) == 3


def test_component_json_shape() -> None:
    row = score_one(healthy_record())
    # The CSM component appears only where a CSM recorded something.
    assert [c["key"] for c in row["components"]] == list(DATA_COMPONENT_KEYS)
    for c in row["components"]:
        assert set(c) == {
            "key",
            "label",
            "weight",
            "effective_weight",
            "value",
            "points",
            "has_data",
            "raw",
            "detail",
        }
        assert 0.0 <= (c["value"] if c["value"] is not None else 0.0) <= 1.0
    assert sum(c["effective_weight"] for c in row["components"]) == pytest.approx(1.0, abs=1e-3)
    assert row["score"] == pytest.approx(sum(c["points"] for c in row["components"]), abs=1e-9)
    assert row["tier"] == "healthy"


def _csm(**fields: Any) -> dict[str, Any]:
    until = pd.Timestamp("2027-01-31")
    return {
        **healthy_record(),
        "csm_reason": "champion left",
        "csm_author": "Dana Scully",
        "csm_until": until,
        **fields,
    }


def test_a_csm_sentiment_is_its_own_component_and_leads_the_reasons() -> None:
    plain = score_one(healthy_record())
    red = score_one(_csm(csm_kind="sentiment", csm_sentiment="red"))
    green = score_one(_csm(csm_kind="sentiment", csm_sentiment="green"))
    (entry,) = [c for c in red["components"] if c["key"] == "csm"]
    assert entry["value"] == 0.0 and entry["points"] == 0.0 and entry["has_data"]
    assert entry["detail"] == "red, champion left, until 31 Jan 2027, by Dana Scully"
    assert red["reasons"][0] == "CSM: red, champion left, until 31 Jan 2027, by Dana Scully"
    # Red costs the CSM weight's share; green earns it: the data score sits in between.
    assert red["score"] < plain["score"] < green["score"]
    weights = CFG.scoring.weights.model_dump()
    data_weight = sum(weights[k] for k in DATA_COMPONENT_KEYS)
    assert red["score"] == pytest.approx(
        plain["score"] * data_weight / (data_weight + weights["csm"]), abs=0.15
    )
    assert red["score"] == pytest.approx(sum(c["points"] for c in red["components"]), abs=1e-9)


def test_a_score_override_pins_the_score_and_shows_the_difference() -> None:
    plain = score_one(healthy_record())
    pinned = score_one(_csm(csm_kind="score", csm_score=45.0))
    assert (pinned["score"], pinned["tier"]) == (45.0, "at_risk")
    (entry,) = [c for c in pinned["components"] if c["key"] == "csm"]
    assert entry["points"] == pytest.approx(45.0 - plain["score"], abs=0.05)
    assert entry["detail"].startswith("score set to 45, champion left")
    assert pinned["score"] == pytest.approx(
        sum(c["points"] for c in pinned["components"]), abs=1e-9
    )


def test_tiers_as_shares_of_the_portfolio_fit_any_spread_of_scores() -> None:
    # Every score is high: fixed thresholds would call all twenty healthy.
    score = pd.Series(np.linspace(81.0, 99.0, 20))
    fixed = TierThresholds()
    assert set(assign_tier(score, portfolio_thresholds(score, fixed))) == {"healthy"}
    shares = TierThresholds(mode="shares", at_risk_share=0.15, healthy_share=0.5)
    tiers = assign_tier(score, portfolio_thresholds(score, shares))
    assert (tiers == "at_risk").sum() == 3  # the lowest 15% of 20
    assert (tiers == "healthy").sum() == 10
    assert list(tiers[:3]) == ["at_risk"] * 3 and tiers.iloc[-1] == "healthy"
    # unscored accounts are not counted in the shares
    with_gaps = pd.concat([score, pd.Series([np.nan] * 5)], ignore_index=True)
    gaps = assign_tier(with_gaps, portfolio_thresholds(with_gaps, shares))
    assert (gaps == "at_risk").sum() == 3 and (gaps == "no_data").sum() == 5


def test_shares_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="add up to 1 or less"):
        TierThresholds(mode="shares", at_risk_share=0.6, healthy_share=0.5)
