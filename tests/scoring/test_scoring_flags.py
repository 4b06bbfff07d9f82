"""Pure tests of churn flags, expansion and renewal risk on hand-built signals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd
import pytest
from factories import AS_OF, healthy_record

from pulse.kernel.config import PulseConfig
from scoring.engine import score_signals
from scoring.flags import FLAG_SPECS
from scoring.signals import make_signals

CFG = PulseConfig()


def score(*records: dict[str, Any], **meta: Any) -> pd.DataFrame:
    return score_signals(make_signals(records, AS_OF, CFG.scoring, **meta), CFG)


def flags_of(rec: dict[str, Any], **meta: Any) -> dict[str, dict[str, Any]]:
    row = score(rec, **meta).iloc[0]
    return {f["code"]: f for f in row["flags"]}


def test_healthy_account_has_no_flags() -> None:
    rec = healthy_record(main_contacts=1, main_last_day=date(2025, 6, 29), power_users_active=2)
    assert flags_of(rec) == {}


def test_every_flag_has_label_and_action() -> None:
    for spec in FLAG_SPECS.values():
        assert spec.label and spec.action.endswith(".")


@pytest.mark.parametrize(
    ("last_day", "raised"), [(date(2025, 6, 23), True), (date(2025, 6, 24), False)]
)
def test_main_contact_silent_threshold(last_day: date, raised: bool) -> None:
    rec = healthy_record(main_contacts=1, main_contact_name="Dana", main_last_day=last_day)
    flags = flags_of(rec)
    assert ("main_contact_silent" in flags) is raised
    if raised:
        assert flags["main_contact_silent"]["detail"] == "Dana has had no activity for 7 days"
        assert flags["main_contact_silent"]["severity"] == "warning"


def test_main_contact_silence_uses_last_seen_and_creation_date() -> None:
    seen = healthy_record(
        main_contacts=1, main_last_day=date(2025, 5, 1), main_last_seen_at=datetime(2025, 6, 29, 9)
    )
    assert "main_contact_silent" not in flags_of(seen)
    new = healthy_record(main_contacts=1, main_created_on=date(2025, 6, 27))
    assert "main_contact_silent" not in flags_of(new)
    never = healthy_record(main_contacts=1, main_contact_name="Lee")
    flag = flags_of(never)["main_contact_silent"]
    assert flag["detail"] == "Lee has had no activity in the last 60 days"
    assert flag["severity"] == "critical"


def test_owner_silent() -> None:
    rec = healthy_record(
        owner_contacts=1, owner_contact_name="Kim", owner_last_day=date(2025, 5, 25)
    )
    assert flags_of(rec)["owner_silent"]["detail"] == "Kim has had no activity for 36 days"
    ok = healthy_record(owner_contacts=1, owner_last_day=date(2025, 6, 10))
    assert "owner_silent" not in flags_of(ok)


def test_power_user_deactivated() -> None:
    rec = healthy_record(
        power_users=2,
        power_users_active=1,
        power_users_deactivated=1,
        power_user_deactivated_name="Sam",
        power_user_deactivated_at=datetime(2025, 6, 20, 10),
    )
    flag = flags_of(rec)["power_user_deactivated"]
    assert flag["detail"] == "Sam deactivated on 2025-06-20"
    assert flag["severity"] == "warning"
    rec["power_users_active"] = 0
    assert flags_of(rec)["power_user_deactivated"]["severity"] == "critical"


def test_score_drop_needs_two_consecutive_declines_totalling_threshold() -> None:
    now = score(healthy_record()).iloc[0]["score"]
    dropping = healthy_record(prev2_score=now + 6, prev1_score=now + 3)
    flag = flags_of(dropping)["score_drop"]
    assert f"-> {now:.1f} over the last two runs (-6.0)" in flag["detail"]
    assert "score_drop" not in flags_of(healthy_record(prev2_score=now + 4, prev1_score=now + 2))
    # A rebound in between is not a consistent decline.
    assert "score_drop" not in flags_of(healthy_record(prev2_score=now + 6, prev1_score=now - 1))
    assert "score_drop" not in flags_of(healthy_record(prev1_score=now + 9))


def test_integration_failure_rate() -> None:
    rec = healthy_record(
        integration_runs=100,
        integration_failures=25,
        failing_integrations=1,
        failing_integration_name="salesforce",
    )
    flag = flags_of(rec)["integration_failing"]
    assert flag["detail"] == "25% of 100 integration runs failed in the last 30 days (salesforce)"
    assert "integration_failing" not in flags_of(
        healthy_record(integration_runs=100, integration_failures=20)
    )
    # A fresh breakage in the last week is not diluted by a good month.
    fresh = healthy_record(
        integration_runs=100,
        integration_failures=10,
        integration_runs_7d=20,
        integration_failures_7d=10,
    )
    assert "last 7 days" in flags_of(fresh)["integration_failing"]["detail"]


def test_negative_sentiment_twice_in_90_days() -> None:
    assert "negative_sentiment" in flags_of(healthy_record(negative_sentiment_flag=2))
    assert "negative_sentiment" not in flags_of(healthy_record(negative_sentiment_flag=1))


def test_onboarding_stuck() -> None:
    start = date(2025, 6, 1)  # 29 days old
    stuck = healthy_record(contract_start=start, last_active_day=date(2025, 6, 29))
    flag = flags_of(stuck)["onboarding_stuck"]
    assert flag["severity"] == "warning" and "(none yet)" in flag["detail"]
    late = healthy_record(
        contract_start=start, last_active_day=date(2025, 6, 29), first_core_day=date(2025, 6, 20)
    )
    assert "first core action on day 20" in flags_of(late)["onboarding_stuck"]["detail"]
    fine = healthy_record(
        contract_start=start, last_active_day=date(2025, 6, 29), first_core_day=date(2025, 6, 5)
    )
    assert "onboarding_stuck" not in flags_of(fine)
    too_young = healthy_record(contract_start=date(2025, 6, 20))
    assert "onboarding_stuck" not in flags_of(too_young)
    too_old = healthy_record(contract_start=date(2025, 3, 1))
    assert "onboarding_stuck" not in flags_of(too_old)
    never = healthy_record(contract_start=start)
    assert flags_of(never)["onboarding_stuck"]["severity"] == "critical"


def test_invoice_overdue() -> None:
    rec = healthy_record(
        overdue_invoices=1, overdue_amount=500.0, oldest_overdue_due_on=date(2025, 5, 31)
    )
    flag = flags_of(rec)["invoice_overdue"]
    assert flag["detail"] == "1 unpaid invoice ($500), oldest 30 days past due"
    rec["oldest_overdue_due_on"] = date(2025, 6, 1)
    assert "invoice_overdue" not in flags_of(rec)


def test_expansion_candidate_scores_high_with_reasons() -> None:
    rec = healthy_record(
        active_users=48,
        active_users_prev=40,
        licensed_seats=50,
        departments_active=4,
        departments_active_prev=2,
        features_used=8,
        stakeholders_active=4,
        stakeholders_active_prev=2,
        weighted_events=48 * 180.0,
        weighted_events_prev=48 * 140.0,
    )
    plain = healthy_record(
        active_users=30, active_users_prev=30, licensed_seats=50, stakeholders_active=1
    )
    over = {**rec, "account_id": 3, "active_users": 55, "user_days": 55 * 14}
    at_risk = {
        **rec,
        "account_id": 4,
        "nps_latest": 0,
        "user_days": 48,
        "open_urgent_high": 4,
        "weighted_events": 48 * 20.0,
        "weighted_features_used": 2.0,
    }
    rows = score({**rec, "account_id": 1}, {**plain, "account_id": 2}, over, at_risk)
    exp, base, over_row, risky = (rows.iloc[i] for i in range(4))
    assert exp["expansion_score"] >= 80 > base["expansion_score"]
    assert over_row["expansion_score"] > exp["expansion_score"]
    reasons = exp["expansion_reasons"]
    assert "48 of 50 seats active (96%): near the licence cap" in reasons
    assert "active users up 20% (40 -> 48)" in reasons
    assert any("departments" in r for r in reasons)
    assert (
        "55 of 50 seats active (110%): at or over the licence cap" in over_row["expansion_reasons"]
    )
    # Expansion waits for health: an at-risk account's signal is halved and says why.
    assert risky["tier"] == "at_risk"
    assert risky["expansion_score"] < exp["expansion_score"] / 2 + 1
    assert any(r.startswith("held back") for r in risky["expansion_reasons"])


def test_renewal_risk_high_when_at_risk_and_renewal_close() -> None:
    bad = healthy_record(
        active_users=5,
        user_days=10,
        weighted_events=100.0,
        weighted_events_prev=400.0,
        nps_latest=2,
        renewal_date=date(2025, 8, 1),
        features_used=1,
    )
    far = {**bad, "renewal_date": date(2026, 6, 1)}
    rows = score({**bad, "account_id": 1}, {**far, "account_id": 2}, healthy_record(account_id=3))
    assert list(rows["tier"])[:2] == ["at_risk", "at_risk"]
    assert list(rows["renewal_risk"]) == ["high", "medium", "low"]
    assert rows.iloc[0]["renewal_risk_score"] >= 70
    assert 40 <= rows.iloc[1]["renewal_risk_score"] < 70
    assert rows.iloc[2]["renewal_risk_score"] < 40
    assert "renewal in 32 days" in rows.iloc[0]["renewal_reasons"]
