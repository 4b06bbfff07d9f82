"""Learning the scorecard from a labelled panel, and judging it on held-out rows.

:func:`learn` takes one row per (as-of date, account alive on it) with the inputs of
:mod:`scoring.learn.inputs`, the churn label (churned within the horizon after the date,
:func:`scoring.backtest.churn_labels`) and the rules score of that row, then:

1. makes folds (:func:`scoring.learn.folds.make_folds`: by time, else by account);
2. on every fold fits the scorecard and the reference models
   (:mod:`scoring.learn.references`) on the training rows and measures each one's ROC AUC
   on the test rows, next to the rules score's AUC on the same rows (a fold whose
   training rows give the scorecard no input that moves the risk counts as AUC 0.5 for it);
3. picks the at-risk threshold on the held-out predictions (the predicted risk with the
   best F1, so precision and recall are both stated on rows no model saw);
4. refits the scorecard on every row: that is the model written.

How steady each input is: its most points in each fold's scorecard (0 when a fold left
it out), reported as the lowest and highest.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from scoring.backtest import roc_auc
from scoring.learn.folds import Folds, LearnError, first_last, make_folds
from scoring.learn.inputs import informative
from scoring.learn.references import REFERENCES, prepared
from scoring.learn.scorecard import (
    SCALE,
    Scorecard,
    ScorecardError,
    fit_scorecard,
    risk_of_health,
)
from scoring.periods import Span

SCORECARD = "points scorecard"
CURRENT = "current score"
UNSCORED_SCORE = 50.0
"""A row the rules could not score ranks in the middle (as ``pulse tune`` always did)."""

FIT_THREADS = 1
"""Native threads (OpenMP, BLAS) the fitting may use. One, because on a machine whose
cores are busy with anything else (the database, the bot, other jobs) threads that wait
for each other at every step cost far more than they save: gradient boosting on 815,464
rows took 261 s (59 s of CPU) with two threads and 38 s (12 s of CPU) with one on two
shared cores (docs/performance.md, `bench/tune_bench.py`)."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class LearningData:
    """The labelled rows learning reads (one per as-of date and live account)."""

    inputs: pd.DataFrame
    categorical: tuple[str, ...]
    y: np.ndarray
    as_of: np.ndarray
    """``datetime64[D]``."""
    account_id: np.ndarray
    current_score: np.ndarray
    """The rules score of each row (NaN when it had no data)."""
    churned_on: np.ndarray = field(default_factory=lambda: np.array([], dtype="datetime64[D]"))
    """Churn day of each row (NaT when the account did not churn)."""


@dataclass(frozen=True)
class Comparison:
    """One model's held-out AUC on each fold."""

    label: str
    fold_auc: tuple[float, ...]

    @property
    def mean_auc(self) -> float:
        return float(np.mean(self.fold_auc))


@dataclass(frozen=True)
class Threshold:
    """At risk when health is below ``health`` (predicted risk above ``risk``)."""

    health: float
    risk: float
    precision: float
    recall: float
    at_risk_share: float
    """Share of held-out rows at risk under the threshold."""


@dataclass(frozen=True)
class LearnResult:
    model: Scorecard
    folds: Folds
    comparisons: tuple[Comparison, ...]
    threshold: Threshold
    observations: int
    churners: int
    churned_accounts: int
    first_as_of: date
    last_as_of: date
    first_churn: date | None
    last_churn: date | None
    stability: dict[str, tuple[float, float]]
    """Input -> (fewest, most) of its most points over the folds' scorecards."""
    inputs_seen: int
    """Inputs that varied at all (the scorecard keeps those that moved the risk)."""

    def comparison(self, label: str) -> Comparison:
        return next(c for c in self.comparisons if c.label == label)


def _auc(risk: np.ndarray, y: np.ndarray) -> float:
    value = roc_auc(risk, y.astype(bool))
    return 0.5 if value is None else value


def _fold_scores(
    data: LearningData, names: list[str], folds: Folds, progress: Progress | None
) -> tuple[dict[str, list[float]], np.ndarray, list[Scorecard | None]]:
    """Held-out AUC of every model per fold, the scorecard's held-out risk, fold cards."""
    frame = data.inputs[names]
    ready = prepared(frame, data.categorical)
    aucs: dict[str, list[float]] = {SCORECARD: [], **{k: [] for k in REFERENCES}, CURRENT: []}
    held_out = np.full(len(data.y), np.nan)
    cards: list[Scorecard | None] = []
    current = np.where(np.isnan(data.current_score), UNSCORED_SCORE, data.current_score)
    for k, (tr, te) in enumerate(folds.pairs, start=1):
        if progress is not None:
            progress(f"fold {k} of {len(folds.pairs)}: {len(tr):,} training rows")
        y_tr, y_te = data.y[tr], data.y[te]
        try:
            card: Scorecard | None = fit_scorecard(frame.iloc[tr], y_tr, data.categorical,
                                                   data.account_id[tr])
        except ScorecardError:  # no input moves the risk in this fold: it ranks no one
            card = None
        cards.append(card)
        risk = card.risk(frame.iloc[te]) if card else np.full(len(te), y_tr.mean())
        held_out[te] = risk
        aucs[SCORECARD].append(_auc(risk, y_te))
        for label, build in REFERENCES.items():
            model = build(names, data.categorical)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(ready.iloc[tr], y_tr)
                aucs[label].append(_auc(model.predict_proba(ready.iloc[te])[:, 1], y_te))
        aucs[CURRENT].append(_auc(100.0 - current[te], y_te))
    return aucs, held_out, cards


def best_threshold(risk: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """``(risk cut, precision, recall, share flagged)`` with the best F1 (risk >= cut)."""
    known = ~np.isnan(risk)
    r, t = risk[known], y[known].astype(bool)
    best = (float(np.max(r)), 0.0, 0.0, 0.0, -1.0)
    for cut in np.unique(np.quantile(r, np.linspace(0.01, 0.99, 99))):
        flagged = r >= cut
        hits = int((flagged & t).sum())
        if not flagged.any() or not t.any():
            continue
        precision, recall = hits / flagged.sum(), hits / t.sum()
        f1 = 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)
        if f1 > best[4]:
            best = (float(cut), float(precision), float(recall), float(flagged.mean()), f1)
    return best[:4]


def final_threshold(
    model: Scorecard, inputs: pd.DataFrame, share: float, precision: float, recall: float
) -> Threshold:
    """The held-out threshold carried over to the model fitted on every row.

    The held-out risk cut came from the folds' scorecards, whose risk scale the final
    model does not share (a weak final model may never reach it: "at risk below health
    172"). What carries over is the share of account-dates the cut flagged: the final
    model's health below which that share of the rows lies, always on the 0-100 scale.
    """
    health = model.health(inputs)
    below = float(np.clip(np.quantile(health, share), 0.0, SCALE)) if share > 0 else 0.0
    risk = float(risk_of_health(np.array([below]), model.risk_at_zero,
                                model.risk_per_point)[0])
    return Threshold(below, risk, precision, recall, share)


def _stability(
    model: Scorecard, cards: list[Scorecard | None]
) -> dict[str, tuple[float, float]]:
    out = {}
    for item in model.inputs:
        most = []
        for card in cards:
            match = [i for i in card.inputs if i.name == item.name] if card else []
            most.append(card.max_points(match[0]) if card and match else 0.0)
        out[item.name] = (float(min(most)), float(max(most)))
    return out


def _day(value: np.datetime64) -> date:
    return pd.Timestamp(value).date()


def learn(data: LearningData, horizon: Span, progress: Progress | None = None) -> LearnResult:
    """Cross-validate, choose the at-risk threshold and fit the scorecard on every row.

    The models are fitted with :data:`FIT_THREADS` native threads (see there)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=FIT_THREADS):
        return _learn(data, horizon, progress)


def _learn(data: LearningData, horizon: Span, progress: Progress | None) -> LearnResult:
    y = np.asarray(data.y).astype("int64")
    data = LearningData(data.inputs, data.categorical, y, data.as_of, data.account_id,
                        data.current_score, data.churned_on)
    folds = make_folds(data.as_of, data.account_id, y, horizon)
    names = informative(data.inputs, data.categorical)
    if not names:
        raise LearnError("every input has the same value on every account-date: there is "
                         "nothing to learn from (is usage loaded for these dates?)")
    aucs, held_out, cards = _fold_scores(data, names, folds, progress)
    cut, precision, recall, share = best_threshold(held_out, y)
    if progress is not None:
        progress(f"fitting the scorecard on all {len(y):,} rows")
    model = fit_scorecard(data.inputs[names], y, data.categorical, data.account_id)
    threshold = final_threshold(model, data.inputs[names], share, precision, recall)
    first, last = first_last(data.as_of)
    churn_days = data.churned_on[y.astype(bool)] if len(data.churned_on) else np.array([])
    churn_days = churn_days[~np.isnat(churn_days)] if len(churn_days) else churn_days
    return LearnResult(
        model=model,
        folds=folds,
        comparisons=tuple(Comparison(k, tuple(v)) for k, v in aucs.items()),
        threshold=threshold,
        observations=len(y),
        churners=int(y.sum()),
        churned_accounts=len(np.unique(data.account_id[y.astype(bool)])),
        first_as_of=first,
        last_as_of=last,
        first_churn=_day(churn_days.min()) if len(churn_days) else None,
        last_churn=_day(churn_days.max()) if len(churn_days) else None,
        stability=_stability(model, cards),
        inputs_seen=len(names),
    )
