"""Signal weights fitted to past churn, kept non-negative and close to the current ones.

The score is a weighted mean of component values, so "better weights" means weights
whose weighted mean ranks future churners lower. The tuner fits that directly:

* **Features**: each observation's component values from the backtest panel. A missing
  component is imputed with the observation's weighted mean of its available components
  under the *current* weights. With the current weights the imputed weighted mean then
  equals the real score exactly (``combine`` renormalises over available components,
  which is the same number), so the fit starts from what scoring really does; for other
  weights it is a close approximation, and every weight set is finally judged by the
  real ``combine``, not by the model.
* **Model**: ``logit P(churn within horizon) = b - sum_k beta_k * value_k`` with
  ``beta_k >= 0`` (more of a healthy signal never means more churn, so every weight stays
  explainable), fitted by projected Newton on the mean log-loss plus
  ``strength / 2 * |beta - its projection on the current weights|^2``. The penalty pulls
  the *direction* of beta toward the current weights and leaves its length free, so a
  strong penalty gives back the current weights (scaled) and zero penalty the plain
  non-negative fit.
* **Time-based cross-validation** (rolling origin): each as-of date in turn is the test
  set and the model is trained only on earlier dates whose outcome was known by then
  (``as_of + horizon <= test date``), so no fold learns from the future it is tested on.
  Each candidate strength is scored by its mean held-out AUC of the *real* score
  (fold weights scaled and rounded as they would be written, then ``combine``). The
  candidates include the current weights themselves, so the chosen suggestion's held-out
  AUC is never below the current weights' on the same folds.
* **Suggestion**: refit on every date with the chosen strength, scale to the current
  weights' total, round to whole numbers (largest remainder, so the total is kept).
  Components with no data anywhere keep their current weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pulse.kernel.config import TierThresholds
from scoring.backtest import BacktestError, BacktestResult, churn_labels, evaluate, roc_auc
from scoring.components import COMPONENT_KEYS, DATA_COMPONENT_KEYS, combine
from scoring.panel import VALUE_COLUMNS, rescore
from scoring.periods import Span

STRENGTHS: tuple[float, ...] = (0.0, 0.001, 0.01, 0.1, 1.0)
"""Penalty strengths tried; the current weights are always tried too (infinite strength)."""
RIDGE = 1e-6
"""A whisker of plain L2 so the fit stays finite when the classes separate."""
MAX_ITER = 100
TOLERANCE = 1e-7


class TuneError(BacktestError):
    """Tuning cannot run on these dates; the message says why."""


@dataclass(frozen=True)
class Candidate:
    """One weight-fitting setting and how it did on the held-out dates."""

    label: str
    strength: float | None
    """None for the current weights themselves."""
    fold_auc: tuple[float, ...]

    @property
    def mean_auc(self) -> float:
        return float(np.mean(self.fold_auc))


@dataclass(frozen=True)
class TuneResult:
    """Current and suggested weights, the cross-validation and the backtest of each."""

    current: dict[str, float]
    suggested: dict[str, float]
    chosen: Candidate
    baseline: Candidate
    candidates: tuple[Candidate, ...]
    test_dates: tuple[date, ...]
    current_backtest: BacktestResult
    suggested_backtest: BacktestResult
    untuned: tuple[str, ...] = ()
    """Components with no data on any date: their weight is kept as it is."""

    @property
    def changed(self) -> bool:
        return any(self.suggested[k] != self.current[k] for k in self.current)


# ---------------------------------------------------------------------------------------
# Features and fit


def impute(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Missing values -> the row's weighted mean of its available values (``weights``).

    Rows with nothing available keep NaN (they have no score and are never used).
    """
    values = np.asarray(values, dtype="float64")
    has = ~np.isnan(values)
    w = has * weights[None, :]
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(total > 0, (np.nan_to_num(values) * w).sum(axis=1) / total, np.nan)
    return np.where(has, values, mean[:, None])


def _loss(theta: np.ndarray, z_mat: np.ndarray, y: np.ndarray, penalty: np.ndarray) -> float:
    z = z_mat @ theta
    return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * theta @ penalty @ theta)


def fit_weights(
    x: np.ndarray,
    y: np.ndarray,
    prior: np.ndarray,
    strength: float,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Non-negative ``beta`` of ``logit P(y) = b - x @ beta`` (see the module docstring).

    Projected Newton (Bertsekas): Newton steps on the coefficients that are free, scaled
    gradient steps on those held at zero by the bound, an Armijo search along the
    projection. Seven parameters, so each step is one pass over the rows.
    """
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    n, k = x.shape
    u = prior / np.linalg.norm(prior)
    q = np.eye(k) - np.outer(u, u)
    penalty = np.zeros((k + 1, k + 1))
    penalty[1:, 1:] = strength * q + RIDGE * np.eye(k)
    z_mat = np.hstack([np.ones((n, 1)), -x])
    rate = min(max(y.mean(), 1e-6), 1 - 1e-6)
    theta = np.zeros(k + 1)
    theta[0] = np.log(rate / (1 - rate))
    if start is not None:
        theta[1:] = np.maximum(start, 0.0)
    f = _loss(theta, z_mat, y, penalty)
    for _ in range(MAX_ITER):
        p = 1.0 / (1.0 + np.exp(-(z_mat @ theta)))
        grad = z_mat.T @ (p - y) / n + penalty @ theta
        hess = (z_mat * (p * (1 - p))[:, None]).T @ z_mat / n + penalty
        projected = theta.copy()
        projected[1:] = np.maximum(theta[1:] - grad[1:], 0.0)
        projected[0] = theta[0] - grad[0]
        if np.max(np.abs(theta - projected)) < TOLERANCE:
            break
        eps = min(1e-6, float(np.max(np.abs(theta - projected))))
        bound = np.zeros(k + 1, dtype=bool)
        bound[1:] = (theta[1:] <= eps) & (grad[1:] > 0)
        free = ~bound
        direction = np.zeros(k + 1)
        direction[free] = np.linalg.solve(hess[np.ix_(free, free)], grad[free])
        direction[bound] = grad[bound] / np.maximum(np.diag(hess)[bound], 1e-12)
        step = 1.0
        while True:
            trial = theta - step * direction
            trial[1:] = np.maximum(trial[1:], 0.0)
            f_trial = _loss(trial, z_mat, y, penalty)
            if f_trial <= f - 1e-4 * float(grad @ (theta - trial)):
                break
            step *= 0.5
            if step < 1e-10:  # no descent left at machine precision: converged
                return theta[1:]
        improvement = f - f_trial
        theta, f = trial, f_trial
        if improvement < 1e-14:
            break
    return theta[1:]


def round_weights(beta: np.ndarray, total: float) -> np.ndarray:
    """``beta`` scaled to ``total`` and rounded to whole numbers, keeping the total.

    Largest remainder: round down, then give the leftover units to the largest fractions,
    so the rounded weights still sum to the (rounded) total. All zeros stays all zeros.
    """
    beta = np.maximum(np.asarray(beta, dtype="float64"), 0.0)
    if beta.sum() <= 0:
        return np.zeros_like(beta)
    scaled = beta / beta.sum() * total
    floors = np.floor(scaled + 1e-9)
    extra = int(round(total - floors.sum()))
    order = np.argsort(-(scaled - floors), kind="stable")
    floors[order[: max(extra, 0)]] += 1
    return floors


# ---------------------------------------------------------------------------------------
# Cross-validation


def rolling_folds(dates: Sequence[date], horizon: Span) -> list[tuple[list[date], date]]:
    """``(training dates, test date)`` pairs: train only on outcomes known by the test date."""
    ordered = sorted(set(dates))
    folds: list[tuple[list[date], date]] = []
    for test in ordered:
        train = [d for d in ordered if d < test and horizon.after(d) <= test]
        if train:
            folds.append((train, test))
    return folds


@dataclass
class _Data:
    """Scored observations as arrays, built once for every fit and evaluation."""

    dates: np.ndarray
    values: np.ndarray
    x: np.ndarray
    y: np.ndarray
    tuned: np.ndarray
    """Which components have data somewhere (the others keep their weights)."""


def _prepare(panel: pd.DataFrame, current: np.ndarray, horizon: Span) -> _Data:
    values = panel[list(VALUE_COLUMNS)].to_numpy(dtype="float64")
    has_score = ~np.isnan(values).all(axis=1) & ((~np.isnan(values)) * (current[None, :] > 0)).any(
        axis=1
    )
    values = values[has_score]
    y = churn_labels(panel, horizon)[has_score].astype("float64")
    # A CSM's recorded sentiment is a judgement, not a signal to fit: its weight stays as
    # configured, like a component without data.
    tuned = ~np.isnan(values).all(axis=0) & np.array(
        [k in DATA_COMPONENT_KEYS for k in COMPONENT_KEYS]
    )
    x = impute(values, current)[:, tuned]
    dates = pd.to_datetime(panel["as_of"]).to_numpy(dtype="datetime64[D]")[has_score]
    return _Data(dates=dates, values=values, x=x, y=y, tuned=tuned)


def _weights_from(beta: np.ndarray, data: _Data, current: np.ndarray) -> np.ndarray:
    """Fitted coefficients as the weights that would be written (untuned ones kept)."""
    out = current.copy()
    budget = current[data.tuned].sum()
    out[data.tuned] = round_weights(beta, budget)
    return out


def _auc(values: np.ndarray, y: np.ndarray, weights: np.ndarray, tiers: TierThresholds) -> float:
    """Held-out AUC of the real score (``combine``) with ``weights``; 0.5 if none."""
    if weights.sum() <= 0:
        return 0.5
    frame = pd.DataFrame(values, columns=list(COMPONENT_KEYS))
    score = combine(frame, dict(zip(COMPONENT_KEYS, weights, strict=True)), tiers).score
    s = score.to_numpy(dtype="float64")
    s = np.where(np.isnan(s), 50.0, s)
    auc = roc_auc(100.0 - s, y.astype(bool))
    return 0.5 if auc is None else auc


Fold = tuple[np.ndarray, np.ndarray, date]
"""Training rows, test rows (boolean masks over the panel) and the test date."""


def _folds(data: _Data, horizon: Span) -> list[Fold]:
    """Rolling time-based folds whose training and test rows both hold churners and
    non-churners."""
    dates = sorted({pd.Timestamp(d).date() for d in np.unique(data.dates)})
    folds = []
    for train, test in rolling_folds(dates, horizon):
        tr = np.isin(data.dates, np.array(train, dtype="datetime64[D]"))
        te = data.dates == np.datetime64(test, "D")
        y_tr, y_te = data.y[tr], data.y[te]
        if 0 < y_tr.sum() < len(y_tr) and 0 < y_te.sum() < len(y_te):
            folds.append((tr, te, test))
    if not folds:
        raise TuneError(
            "time-based cross-validation needs an as-of date with churners and non-churners "
            f"that is at least {horizon.words} after an earlier one with both: use a longer "
            "range, a shorter --every or a shorter --horizon"
        )
    return folds


def tune(
    panel: pd.DataFrame,
    current: Mapping[str, float],
    tiers: TierThresholds,
    horizon: Span,
    drop_points: float,
    strengths: Sequence[float] = STRENGTHS,
) -> TuneResult:
    """Cross-validate the strengths, refit the best, and backtest current vs suggested.

    ``panel`` is an unweighted (or weighted) backtest panel over observed dates only.
    """
    keys = list(COMPONENT_KEYS)
    cur = np.array([float(current.get(k, 0.0)) for k in keys])
    data = _prepare(panel, cur, horizon)
    if data.y.sum() == 0 or data.y.sum() == len(data.y):
        raise TuneError("tuning needs at least one churner and one non-churner")
    prior = cur[data.tuned]
    if prior.sum() <= 0:
        raise TuneError("every component with data has weight 0; nothing to start from")
    folds = _folds(data, horizon)
    baseline = Candidate(
        "current weights",
        None,
        tuple(_auc(data.values[te], data.y[te], cur, tiers) for _, te, _ in folds),
    )
    candidates = [baseline]
    for strength in strengths:
        aucs = []
        for tr, te, _ in folds:
            beta = fit_weights(data.x[tr], data.y[tr], prior, strength)
            w = _weights_from(beta, data, cur)
            aucs.append(_auc(data.values[te], data.y[te], w, tiers))
        candidates.append(Candidate(f"fitted, penalty {strength:g}", strength, tuple(aucs)))
    # Best mean held-out AUC; ties go to the current weights, then to stronger penalties.
    ranked = sorted(
        candidates,
        key=lambda c: (-round(c.mean_auc, 12), c.strength is not None, -(c.strength or 0.0)),
    )
    chosen = ranked[0]
    if chosen.strength is None:
        suggested = cur
    else:
        beta = fit_weights(data.x, data.y, prior, chosen.strength)
        suggested = _weights_from(beta, data, cur)
        if suggested.sum() <= 0:
            chosen, suggested = baseline, cur
    current_w = dict(zip(keys, cur.tolist(), strict=True))
    suggested_w = dict(zip(keys, suggested.tolist(), strict=True))
    return TuneResult(
        current=current_w,
        suggested=suggested_w,
        chosen=chosen,
        baseline=baseline,
        candidates=tuple(candidates),
        test_dates=tuple(test for _, _, test in folds),
        current_backtest=evaluate(rescore(panel, current_w, tiers, drop_points), horizon),
        suggested_backtest=evaluate(rescore(panel, suggested_w, tiers, drop_points), horizon),
        untuned=tuple(k for k, t in zip(keys, data.tuned, strict=True) if not t),
    )
