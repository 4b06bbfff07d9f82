"""Learning a points scorecard: directions, points that add up, folds, and refusals."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from pulse.kernel.config import LearnConfig
from scoring.learn.document import (
    fields_from_document,
    model_document,
    scorecard_from_document,
)
from scoring.learn.fit import CURRENT, SCORECARD, LearningData, final_threshold, learn
from scoring.learn.folds import LearnError, make_folds
from scoring.learn.inputs import (
    SIGNAL_COUNTS,
    account_field_inputs,
    signal_inputs,
    tenure_days,
    unnamed_custom_fields,
)
from scoring.learn.scorecard import MAX_BINS, InputBins, Scorecard, fit_scorecard, sample_rows
from scoring.periods import parse_span

AS_OF = date(2025, 3, 31)
HORIZON = parse_span("90d")


def _data(n: int = 1200, seed: int = 3, dates: int = 1) -> LearningData:
    """Churn rises with ``active_users`` (a "healthy" signal reversed in this data), falls
    with ``tenure_days``, depends on the plan, and not at all on ``noise``."""
    rng = np.random.default_rng(seed)
    rows = n * dates
    active = rng.poisson(6, rows).astype("float64")
    tenure = rng.uniform(30, 1500, rows)
    plan = rng.choice(["basic", "pro", None], rows, p=[0.45, 0.45, 0.10])
    logit = -2.2 + 0.35 * (active - 6) - 0.0015 * (tenure - 700) + 0.9 * (plan == "basic")
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    inputs = pd.DataFrame({"active_users": active, "tenure_days": tenure,
                           "noise": rng.normal(size=rows), "account_plan": plan})
    days = np.repeat([np.datetime64(AS_OF + timedelta(days=100 * k), "D")
                      for k in range(dates)], n)
    return LearningData(
        inputs=inputs,
        categorical=("account_plan",),
        y=y,
        as_of=days,
        account_id=np.tile(np.arange(n), dates),
        current_score=rng.uniform(0, 100, rows),  # a rules score that knows nothing
        churned_on=np.where(y == 1, days + np.timedelta64(30, "D"), np.datetime64("NaT")),
    )


@pytest.fixture(scope="module")
def learned():  # type: ignore[no-untyped-def]
    data = _data()
    return data, learn(data, HORIZON)


def test_a_signal_reversed_in_the_data_is_learned_reversed(learned) -> None:  # type: ignore[no-untyped-def]
    data, result = learned
    model = result.model
    active = next(i for i in model.inputs if i.name == "active_users")
    assert active.direction() == "more -> riskier"
    tenure = next(i for i in model.inputs if i.name == "tenure_days")
    assert tenure.direction() == "more -> safer"
    plan = next(i for i in model.inputs if i.name == "account_plan")
    points, _ = model.bin_points(plan)
    basic = next(k for k, g in enumerate(plan.groups) if "basic" in g)
    assert points[basic] == min(points)  # the riskier plan gives the fewest points
    few = pd.DataFrame({"active_users": [1.0], "tenure_days": [700.0], "noise": [0.0],
                        "account_plan": ["pro"]})
    many = few.assign(active_users=14.0)
    assert model.health(few)[0] > model.health(many)[0]
    # the held-out comparison is made on the same folds, the rules score included
    assert result.folds.kind == "account" and len(result.folds.pairs) == 5
    learned_auc = result.comparison(SCORECARD).mean_auc
    assert learned_auc > 0.7 > result.comparison(CURRENT).mean_auc
    assert learned_auc > result.comparison("logistic regression").mean_auc - 0.03


def test_points_add_up_to_health_and_health_ranks_like_risk(learned) -> None:  # type: ignore[no-untyped-def]
    data, result = learned
    model = result.model
    points = model.points(data.inputs)
    health = model.health(data.inputs)
    assert np.allclose(points.sum(axis=1), health)
    assert health.min() >= -1e-9 and health.max() <= 100 + 1e-9
    assert sum(model.max_points(i) for i in model.inputs) == pytest.approx(100)
    risk = model.risk(data.inputs)
    order = np.argsort(health)
    assert (np.diff(risk[order]) <= 1e-12).all()  # lower health, higher risk
    t = result.threshold
    assert 0 < t.precision <= 1 and 0 < t.recall <= 1
    assert model.health_at_risk(t.risk) == pytest.approx(t.health)


def test_the_written_document_reads_back_as_the_same_scorecard(learned) -> None:  # type: ignore[no-untyped-def]
    data, result = learned
    doc = model_document(result, "90d", date(2025, 7, 1), LearnConfig(categorical=["plan"]))
    assert fields_from_document(doc) == LearnConfig(categorical=["plan"])
    again = scorecard_from_document(doc)
    assert np.allclose(again.health(data.inputs), result.model.health(data.inputs))
    assert doc["training"]["churns"] == int(data.y.sum())
    assert set(doc["held_out_auc"]) >= {SCORECARD, CURRENT, "gradient boosting",
                                        "spline logistic regression", "logistic regression"}
    names = [e["name"] for e in doc["inputs"]]
    assert "active_users" in names and "noise" not in names[:2]


def _with_regions(data: LearningData, seed: int) -> pd.DataFrame:
    """The inputs plus a region drawn at random from 26 (as the churn simulator does)."""
    regions = np.random.default_rng(seed).choice([f"R{k:02d}" for k in range(26)],
                                                 len(data.y))
    return data.inputs.assign(account_region=regions)


@pytest.mark.parametrize("accounts", [1200, 5000])
def test_the_fit_learns_a_reversed_direction_and_gives_random_regions_few_points(
    accounts: int,
) -> None:
    data = _data(n=accounts, seed=7)
    card = fit_scorecard(_with_regions(data, 7), data.y, ("account_plan", "account_region"),
                         data.account_id)
    by_name = {i.name: i for i in card.inputs}
    assert by_name["active_users"].direction() == "more -> riskier"  # reversed "health"
    assert by_name["tenure_days"].direction() == "more -> safer"
    real = min(card.max_points(by_name[n]) for n in ("active_users", "tenure_days",
                                                      "account_plan"))
    region = card.max_points(by_name["account_region"]) if "account_region" in by_name else 0
    assert region < 8 < real
    assert all(len(i.risk) <= MAX_BINS for i in card.inputs)


def test_a_large_history_is_fitted_on_a_draw_of_whole_accounts() -> None:
    """Beyond ``max_rows`` the fit draws whole accounts (the same ones every run) and
    learns the same directions; the account-dates of a drawn account all go in."""
    data = _data(n=1500, seed=5, dates=4)  # 6,000 account-dates of 1,500 accounts
    keep = sample_rows(data.y, data.account_id, 2000)
    assert 0 < len(keep) <= 2000
    drawn = set(data.account_id[keep].tolist())
    assert np.isin(data.account_id, list(drawn)).sum() == len(keep)  # whole accounts
    assert np.array_equal(keep, sample_rows(data.y, data.account_id, 2000))
    assert len(sample_rows(data.y, data.account_id, 6000)) == 6000
    card = fit_scorecard(data.inputs, data.y, data.categorical, data.account_id,
                         max_rows=2000)
    by_name = {i.name: i for i in card.inputs}
    assert by_name["active_users"].direction() == "more -> riskier"
    assert by_name["tenure_days"].direction() == "more -> safer"


def test_unseen_categories_and_missing_values_get_the_missing_points() -> None:
    card = Scorecard(
        inputs=(
            InputBins("plan", True, groups=(("a",), ("b", "c")), risk=(1.0, -1.0),
                      missing_risk=0.0),
            InputBins("users", False, splits=(2.0, 5.0), risk=(1.0, 0.0, -1.0),
                      missing_risk=0.5),
        ),
        intercept=-1.0,
    )
    frame = pd.DataFrame({"plan": ["a", "c", "z", None], "users": [1.0, 2.0, 5.0, np.nan]})
    points = card.points(frame)
    assert points["plan"].tolist() == [0.0, 50.0, 25.0, 25.0]
    assert points["users"].tolist() == [0.0, 25.0, 50.0, 12.5]
    assert card.inputs[1].labels() == ["< 2", "2 to 5", ">= 5"]


def test_one_snapshot_folds_by_account_several_dates_by_time() -> None:
    one = _data(n=400)
    folds = make_folds(one.as_of, one.account_id, one.y, HORIZON)
    assert folds.kind == "account"
    for train, test in folds.pairs:
        assert not set(one.account_id[train]) & set(one.account_id[test])
    many = _data(n=400, dates=3)
    by_time = make_folds(many.as_of, many.account_id, many.y, HORIZON)
    assert by_time.kind == "time"
    for train, test in by_time.pairs:
        assert many.as_of[train].max() + np.timedelta64(90, "D") <= many.as_of[test].min()


def test_too_few_churners_is_refused_with_what_is_missing() -> None:
    data = _data(n=400)
    y = data.y.copy()
    y[np.flatnonzero(y)[29:]] = 0  # 29 churns left
    with pytest.raises(LearnError, match="at least 30 churns within the 90 days after an "
                       "as-of date, and the 400 account-dates scored hold 29"):
        make_folds(data.as_of, data.account_id, y, HORIZON)


def test_account_fields_read_columns_custom_fields_and_tenure() -> None:
    accounts = pd.DataFrame({
        "segment": ["smb", None], "arr": [1200.0, None], "licensed_seats": [5, 8],
        "custom": [{"plan": "pro", "employees": "120"}, {"employees": "many"}],
    })
    learn_cfg = LearnConfig(categorical=["segment", "plan"],
                            numeric=["tenure_days", "seats", "custom.employees", "arr"])
    fields, categorical = account_field_inputs(accounts, learn_cfg,
                                               pd.Series([400.0, np.nan]))
    assert categorical == ("account_segment", "account_plan")
    assert fields["account_plan"].tolist() == ["pro", None]
    assert fields["account_segment"].tolist() == ["smb", None]
    assert fields["account_tenure_days"].tolist()[0] == 400.0
    assert fields["account_seats"].tolist() == [5.0, 8.0]
    employees = fields["account_employees"].tolist()
    assert employees[0] == 120.0 and np.isnan(employees[1])  # not a number: missing


def test_custom_fields_not_named_in_config_are_listed() -> None:
    custom = pd.Series([{"plan": "pro", "contract": "One year", "blank": None},
                        {"employees": "120", "notes": "x"}, {}])
    learn_cfg = LearnConfig(categorical=["segment", "plan"], numeric=["custom.employees"])
    assert unnamed_custom_fields(custom, learn_cfg) == ["contract", "notes"]


def test_signal_inputs_count_days_back_from_the_as_of_date() -> None:
    frame = pd.DataFrame({
        **{c: [2.0] for c in SIGNAL_COUNTS}, "nps_latest": [9.0], "csat_avg": [np.nan],
        "licensed_seats": [4.0],
        **{c: [pd.NaT] for c in ("main_last_day", "owner_last_day", "first_core_day",
                                 "power_user_deactivated_at", "nps_latest_at",
                                 "oldest_overdue_due_on")},
        "last_active_day": [pd.Timestamp("2025-03-21")],
        "renewal_date": [pd.Timestamp("2025-05-30")],
        "contract_start": [pd.Timestamp("2024-03-31")],
    }, index=pd.Index([7], name="account_id"))
    inputs = signal_inputs(frame, AS_OF)
    assert inputs.loc[7, "days_since_last_active"] == 10
    assert inputs.loc[7, "days_to_renewal"] == 60
    assert inputs.loc[7, "seat_utilisation"] == 0.5 and inputs.loc[7, "active_users"] == 2
    assert np.isnan(inputs.loc[7, "days_since_nps"])
    assert "lifecycle" not in inputs and "churned_on" not in inputs
    assert tenure_days(frame, AS_OF)[0] == 365


def test_inputs_that_never_vary_are_refused_with_a_hint() -> None:
    data = _data(n=300)
    flat = LearningData(data.inputs.assign(active_users=1.0, tenure_days=5.0, noise=0.0,
                                           account_plan="pro"),
                        data.categorical, data.y, data.as_of, data.account_id,
                        data.current_score, data.churned_on)
    with pytest.raises(LearnError, match="every input has the same value"):
        learn(flat, HORIZON)


def test_the_at_risk_threshold_stays_on_the_scale_and_flags_the_held_out_share() -> None:
    """The folds' risk cut may lie outside what the final model can predict (a weak
    model once said "at risk below health 172.3" and flagged everyone): the final model
    flags the share of account-dates the held-out cut flagged, below a health in 0-100."""
    card = Scorecard(
        inputs=(InputBins("plan", True, groups=(("basic",), ("pro",)), risk=(0.2, -0.2)),),
        intercept=-2.5,
    )
    frame = pd.DataFrame({"plan": ["basic"] * 30 + ["pro"] * 70})
    assert not 0 <= card.health_at_risk(0.9) <= 100  # a folds' cut this model never reaches
    threshold = final_threshold(card, frame, share=0.3, precision=0.2, recall=0.6)
    assert 0.0 <= threshold.health <= 100.0
    assert (card.health(frame) < threshold.health).mean() == pytest.approx(0.3)
    nobody = final_threshold(card, frame, share=0.0, precision=0.0, recall=0.0)
    assert (card.health(frame) < nobody.health).sum() == 0


def test_learned_threshold_flags_about_the_share_it_reports(learned) -> None:  # type: ignore[no-untyped-def]
    data, result = learned
    health = result.model.health(data.inputs[[i.name for i in result.model.inputs]])
    threshold = result.threshold
    assert 0.0 <= threshold.health <= 100.0
    assert abs((health < threshold.health).mean() - threshold.at_risk_share) < 0.05
