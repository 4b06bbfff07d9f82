"""Weight tuning: the constrained fit, time-based folds, and writing pulse.yml safely."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pulse.kernel.config import ConfigError, TierThresholds, load_config
from pulse.services.weights_file import edit_weights_text, write_weights
from scoring.components import COMPONENT_KEYS, DATA_COMPONENT_KEYS, combine
from scoring.panel import FLAG_COLUMNS, VALUE_COLUMNS
from scoring.periods import as_of_dates, parse_span
from scoring.tune import (
    TuneError,
    fit_weights,
    impute,
    rolling_folds,
    round_weights,
    tune,
)

CURRENT = {"usage": 25.0, "breadth": 10.0, "seats": 20.0, "engagement": 15.0,
           "contract": 15.0, "trend": 15.0}
EXAMPLE = Path(__file__).parents[2] / "pulse.example.yml"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def test_imputed_weighted_mean_is_the_real_score_for_the_current_weights() -> None:
    rng = np.random.default_rng(1)
    values = rng.uniform(0, 1, (500, 6))
    values[rng.random((500, 6)) < 0.3] = np.nan
    values[0] = np.nan  # nothing known: stays unknown
    w = np.array([CURRENT[k] for k in DATA_COMPONENT_KEYS])
    x = impute(values, w)
    frame = pd.DataFrame(values, columns=list(DATA_COMPONENT_KEYS))
    score = combine(frame, CURRENT, TierThresholds()).score.to_numpy()
    mean = 100 * (x @ w) / w.sum()
    assert np.isnan(mean[0]) and np.isnan(score[0])
    assert np.allclose(mean, score, atol=0.05 + 1e-9, equal_nan=True)  # rounded to 0.1


def test_fit_keeps_weights_non_negative_and_finds_the_signal() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (4000, 4))
    # churn falls with columns 0 and 2, and *rises* with column 3 (a wrong-way signal)
    y = rng.random(4000) < _sigmoid(1.0 - 4.0 * x[:, 0] - 2.0 * x[:, 2] + 2.0 * x[:, 3])
    beta = fit_weights(x, y, prior=np.ones(4), strength=0.0)
    assert (beta >= 0).all()
    assert beta[3] == 0.0  # cannot say "healthier means more churn"
    assert beta[0] > beta[2] > 0.5 > beta[1]


def test_a_strong_penalty_gives_back_the_current_direction() -> None:
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, (3000, 3))
    y = rng.random(3000) < _sigmoid(1.0 - 5.0 * x[:, 2])
    prior = np.array([3.0, 2.0, 1.0])
    beta = fit_weights(x, y, prior=prior, strength=1e4)
    assert beta / beta.sum() == pytest.approx(prior / prior.sum(), abs=1e-3)
    free = fit_weights(x, y, prior=prior, strength=0.0)
    assert free[2] / free.sum() > 0.8


def test_rounding_keeps_the_total_and_allows_zero() -> None:
    out = round_weights(np.array([0.333, 0.333, 0.334, 0.0]), 100)
    assert out.tolist() == [33.0, 33.0, 34.0, 0.0]
    assert round_weights(np.array([1.0, 1.0, 1.0]), 100).sum() == 100
    assert round_weights(np.zeros(3), 100).tolist() == [0.0, 0.0, 0.0]


def test_folds_train_only_on_outcomes_known_by_the_test_date() -> None:
    dates = as_of_dates(date(2025, 1, 31), date(2025, 8, 31), parse_span("1m"))
    horizon = parse_span("60d")
    folds = rolling_folds(dates, horizon)
    # Mar 31 has no fold: Jan 31's 60 days end on Apr 1, after it
    assert folds[0] == ([date(2025, 1, 31), date(2025, 2, 28)], date(2025, 4, 30))
    for train, test in folds:
        assert train and all(horizon.after(d) <= test for d in train)
    assert [t for _, t in folds] == dates[3:]


def _synthetic_panel(driver: str, n: int = 600, seed: int = 5) -> pd.DataFrame:
    """Monthly rows where churn within 30 days depends only on ``driver``."""
    rng = np.random.default_rng(seed)
    dates = as_of_dates(date(2024, 1, 31), date(2024, 10, 31), parse_span("1m"))
    parts = []
    for k, day in enumerate(dates):
        values = rng.uniform(0, 1, (n, len(COMPONENT_KEYS)))
        values[rng.random(values.shape) < 0.1] = np.nan
        values[:, COMPONENT_KEYS.index("csm")] = np.nan  # no CSM entries in this history
        drive = np.nan_to_num(values[:, COMPONENT_KEYS.index(driver)], nan=0.5)
        churn = rng.random(n) < _sigmoid(-1.5 - 6.0 * (drive - 0.3))
        frame = pd.DataFrame(values, columns=list(VALUE_COLUMNS))
        frame.insert(0, "account_id", np.arange(n) + k * n)
        frame.insert(0, "as_of", pd.Timestamp(day))
        frame["churned_on"] = pd.Series(
            np.where(churn, pd.Timestamp(day + timedelta(days=15)), pd.NaT)
        ).astype("datetime64[us]")
        for col in FLAG_COLUMNS:
            frame[col] = np.zeros(n, dtype="int8")
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def test_tuning_moves_weight_to_what_predicts_churn_and_never_loses_held_out_auc() -> None:
    panel = _synthetic_panel("engagement")
    result = tune(panel, CURRENT, TierThresholds(), parse_span("30d"), drop_points=5)
    assert result.chosen.mean_auc >= result.baseline.mean_auc
    assert result.chosen.strength is not None and result.changed
    assert result.suggested["engagement"] > CURRENT["engagement"]
    assert sum(result.suggested.values()) == pytest.approx(100)
    assert all(float(v).is_integer() and v >= 0 for v in result.suggested.values())
    assert result.suggested_backtest.pooled.auc > result.current_backtest.pooled.auc
    assert len(result.test_dates) == 8  # from Mar 31 (Jan 31 + 30 days is after Feb 29)
    assert result.candidates[0].strength is None  # the current weights are a candidate


def test_components_without_any_data_keep_their_weight() -> None:
    panel = _synthetic_panel("usage")
    panel["value_trend"] = np.nan
    result = tune(panel, CURRENT, TierThresholds(), parse_span("30d"), drop_points=5)
    assert result.untuned == ("trend", "csm")  # csm: a judgement, never fitted
    assert result.suggested["trend"] == CURRENT["trend"]
    assert sum(result.suggested.values()) == pytest.approx(100)


def test_tuning_needs_dates_a_horizon_apart() -> None:
    panel = _synthetic_panel("usage")
    one_date = panel[panel["as_of"] == panel["as_of"].min()]
    with pytest.raises(TuneError, match="at least 30 days after"):
        tune(one_date, CURRENT, TierThresholds(), parse_span("30d"), drop_points=5)


# ---------------------------------------------------------------------------------------
# pulse.yml

NEW = {"usage": 30.0, "breadth": 0.0, "seats": 20.0, "engagement": 25.0, "contract": 10.0,
       "trend": 15.0}


def test_only_the_weight_values_change_in_a_commented_file(tmp_path: Path) -> None:
    path = tmp_path / "pulse.yml"
    path.write_text(EXAMPLE.read_text())
    outcome = write_weights(NEW, path)
    assert outcome.comments_kept and not outcome.created
    before = EXAMPLE.read_text().splitlines()
    after = path.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert [b.split("#")[0].strip() for _, b in changed] == [
        "usage: 30", "breadth: 0", "engagement: 25", "contract: 10"]
    assert all(a.partition("#")[2] == b.partition("#")[2] for a, b in changed)  # comments kept
    cfg = load_config(path)
    assert cfg.scoring.weights.model_dump() == {**NEW, "csm": 15.0}  # csm kept as it was
    old = yaml.safe_load(EXAMPLE.read_text())
    new = yaml.safe_load(path.read_text())
    old["scoring"]["weights"] = {**NEW, "csm": 15}  # the example also sets csm: 15
    assert new == old


def test_missing_weights_are_added_where_they_belong() -> None:
    text = (
        "workspace:\n  name: Acme  # ours\nscoring:\n  window_days: 28\n  weights:\n"
        "    usage: 40\n"
    )
    edited = edit_weights_text(text, NEW)
    assert edited is not None
    assert yaml.safe_load(edited)["scoring"] == {"window_days": 28, "weights": NEW}
    assert "# ours" in edited
    no_scoring = edit_weights_text("slack:\n  port: 3001\n", NEW)
    assert no_scoring is not None
    assert yaml.safe_load(no_scoring) == {"slack": {"port": 3001}, "scoring": {"weights": NEW}}


def test_an_unusual_layout_is_rewritten_whole_keeping_every_value(tmp_path: Path) -> None:
    path = tmp_path / "pulse.yml"
    path.write_text("# tuned by hand\nscoring: {window_days: 28, weights: {usage: 40}}\n"
                    "slack: {port: 3001}\n")
    outcome = write_weights(NEW, path)
    assert not outcome.comments_kept
    assert yaml.safe_load(path.read_text()) == {
        "scoring": {"window_days": 28, "weights": NEW}, "slack": {"port": 3001}}


def test_a_missing_file_is_created_and_a_bad_result_refused(tmp_path: Path) -> None:
    path = tmp_path / "pulse.yml"
    outcome = write_weights(NEW, path)
    assert outcome.created
    assert load_config(path).scoring.weights.model_dump() == {**NEW, "csm": 15.0}  # default
    bad = tmp_path / "bad.yml"
    bad.write_text("scoring:\n  window_days: 3\n")  # already invalid: refuse to touch it
    with pytest.raises(ConfigError):
        write_weights(NEW, bad)
    assert bad.read_text() == "scoring:\n  window_days: 3\n"
