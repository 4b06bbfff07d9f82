"""The learned score: a points scorecard whose points add up to the 0-100 health.

How it is made (:func:`fit_scorecard`): each input is cut into a few bins
(``optbinning``'s optimal binning: numeric inputs at thresholds, categories in groups,
missing values in a bin of their own), inputs whose bins do not tell churners apart
(:data:`MIN_INFORMATION_VALUE`, :data:`INPUT_P_VALUE`) are left out, each bin is replaced
by its weight of evidence, and a regularised logistic regression of churn within the
horizon is fitted on those.
An input's contribution to the churn log-odds in a bin is its coefficient times the
bin's weight of evidence, so an input can point either way, or bend (a learned
direction and shape).

How it becomes points (:meth:`Scorecard.points`): the log-odds of an account are
``intercept + sum of its contributions``. Let ``worst_i``/``best_i`` be input ``i``'s
highest and lowest contribution; an account gets ``SCALE * (worst_i - contribution_i) /
sum_j (worst_j - best_j)`` points for input ``i``. Every input then gives 0 points in
its riskiest bin and its most in its safest, the most points of all inputs add up to
100, and the health (the sum of an account's points) is a straight-line function of the
predicted log-odds: ``log-odds = risk_at_zero - health * risk_per_point``. Health is
therefore 0-100, lower means riskier, it ranks accounts exactly as the predicted risk
does, and an explanation that lists each input's points adds up to the score.

Applying a scorecard (``points``, ``health``, ``risk``) needs only numpy: a written
model scores without ``optbinning`` installed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

SCALE = 100.0
"""The health of an account in the safest bin of every input."""
MAX_BINS = 6
"""At most this many bins per input (plus missing): few enough to read on a card."""
MIN_BIN_ROWS = 100
"""A bin holds at least this many training rows, so its points are not noise (on 1,200
rows, bins of 5% let a pure-noise input through with a bin of 60 rows) ..."""
MAX_MIN_BIN_SHARE = 0.07
"""... but never needs more than this share of them (on small data: 10% lost 0.01 of AUC
on the sample workspace by merging its small riskiest group) ..."""
MIN_BIN_SHARE = 0.01
"""... and always at least this share. A fixed 7% (the rule before) merged the small
riskiest group of larger workspaces: on the tune benchmark's 5,000 accounts (12 dates,
54,026 rows) the scorecard's held-out AUC went from 0.795 to 0.892 with 1%
(docs/scoring.md)."""
REGULARISATION_C = 0.1
"""Inverse L2 strength of the logistic regression on weights of evidence (scikit-learn's
``C``); measured in docs/scoring.md, where weaker regularisation did not help."""
TREND = "auto"
"""optbinning picks each numeric input's shape: risk only rising, only falling, or with
one peak or valley (days to renewal: risky when close, and when long past). Forcing
monotone shapes lost 0.16 of AUC on a U-shaped input (docs/scoring.md)."""
MAX_P_VALUE = 0.05
"""Neighbouring bins whose churn rates do not differ at this significance are merged."""
MIN_INFORMATION_VALUE = 0.02
"""Inputs whose bins tell churners apart less than this (information value, the usual
"not predictive" line of credit scorecards) are left out before the regression."""
INPUT_P_VALUE = 0.001
"""And so are inputs whose bins' churn rates could differ this much by chance (chi-square
test of the bins' churner counts). Strict, because the bins were placed where the
training data differed most: a pure-noise input passed a 0.05 test on 1,200 rows."""
NEGLIGIBLE_RISK = 1e-6
MISSING_LABEL = "missing"
"""An input whose contributions span less than this (log-odds) gets no points."""


class ScorecardError(ValueError):
    """The scorecard cannot be built or read; the message says why."""


@dataclass(frozen=True)
class InputBins:
    """One input's bins and the churn log-odds each adds (its shape and direction)."""

    name: str
    categorical: bool
    splits: tuple[float, ...] = ()
    """Numeric: bin ``k`` holds ``splits[k-1] <= x < splits[k]`` (open at both ends)."""
    groups: tuple[tuple[str, ...], ...] = ()
    """Categorical: the categories of each bin."""
    risk: tuple[float, ...] = ()
    """Log-odds contribution per bin."""
    missing_risk: float = 0.0
    """Contribution of a missing value (and of a category never seen in training)."""
    missing_share: float = 0.0
    """Share of training rows with the input missing (0: the missing points are a
    neutral guess, not learned)."""

    @property
    def worst(self) -> float:
        return max(*self.risk, self.missing_risk)

    @property
    def best(self) -> float:
        return min(*self.risk, self.missing_risk)

    def labels(self) -> list[str]:
        """Readable bin names: ``< 3``, ``3 to 10``, ``>= 10``; ``a, b`` for categories."""
        if self.categorical:
            return [", ".join(g) for g in self.groups]
        if not self.splits:
            return ["any"]
        s = [f"{v:.4g}" for v in self.splits]
        return [f"< {s[0]}", *(f"{a} to {b}" for a, b in zip(s, s[1:], strict=False)),
                f">= {s[-1]}"]

    def bin_of(self, values: pd.Series) -> np.ndarray:
        """Each value's bin, -1 for missing (or an unseen category)."""
        if self.categorical:
            where = {c: k for k, group in enumerate(self.groups) for c in group}
            text = values.astype(object).where(values.notna(), None)
            return np.array([where.get(str(v), -1) if v is not None else -1 for v in text],
                            dtype="int64")
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
        out = np.searchsorted(np.asarray(self.splits, dtype="float64"), x, side="right")
        return np.where(np.isnan(x), -1, out).astype("int64")

    def contribution(self, values: pd.Series) -> np.ndarray:
        bins = self.bin_of(values)
        table = np.asarray((*self.risk, self.missing_risk), dtype="float64")
        return table[np.where(bins < 0, len(self.risk), bins)]

    def direction(self) -> str:
        """How risk moves as the value grows: ``more -> riskier``, ``more -> safer``,
        ``riskiest in the middle``, ``safest in the middle``, ``mixed``; ``categories``."""
        if self.categorical:
            return "categories"
        steps = np.diff(np.asarray(self.risk))
        steps = steps[np.abs(steps) > NEGLIGIBLE_RISK]
        if not len(steps):
            return "mixed"
        if (steps > 0).all():
            return "more -> riskier"
        if (steps < 0).all():
            return "more -> safer"
        turns = int((np.diff(np.sign(steps)) != 0).sum())
        if turns == 1:
            return "riskiest in the middle" if steps[0] > 0 else "safest in the middle"
        return "mixed"


@dataclass(frozen=True)
class Scorecard:
    """Inputs with their bins, and the intercept of the churn log-odds."""

    inputs: tuple[InputBins, ...]
    intercept: float

    def __post_init__(self) -> None:
        if not self.inputs or self.span <= NEGLIGIBLE_RISK:
            raise ScorecardError("no input separates churners from the others")

    @property
    def span(self) -> float:
        """Log-odds between the riskiest and the safest possible account."""
        return float(sum(i.worst - i.best for i in self.inputs))

    @property
    def risk_per_point(self) -> float:
        return self.span / SCALE

    @property
    def risk_at_zero(self) -> float:
        """Log-odds of churn at health 0."""
        return self.intercept + float(sum(i.worst for i in self.inputs))

    def max_points(self, item: InputBins) -> float:
        return (item.worst - item.best) / self.risk_per_point

    def bin_points(self, item: InputBins) -> tuple[list[float], float]:
        """Points of each bin of ``item`` and of its missing value."""
        return (
            [(item.worst - r) / self.risk_per_point for r in item.risk],
            (item.worst - item.missing_risk) / self.risk_per_point,
        )

    def points(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per account (row of ``frame``) and input, the points given; rows sum to health."""
        out = {
            i.name: (i.worst - i.contribution(_column(frame, i.name))) / self.risk_per_point
            for i in self.inputs
        }
        return pd.DataFrame(out, index=frame.index)

    def bins(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per account and input, the name of the bin its value fell in (or ``missing``)."""
        out = {}
        for i in self.inputs:
            labels = np.array([*i.labels(), MISSING_LABEL], dtype=object)
            where = i.bin_of(_column(frame, i.name))
            out[i.name] = labels[np.where(where < 0, len(labels) - 1, where)]
        return pd.DataFrame(out, index=frame.index)

    def health(self, frame: pd.DataFrame) -> np.ndarray:
        return self.points(frame).sum(axis=1).to_numpy(dtype="float64")

    def risk(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted probability of churn within the horizon."""
        return risk_of_health(self.health(frame), self.risk_at_zero, self.risk_per_point)

    def health_at_risk(self, probability: float) -> float:
        """The health at which the predicted churn probability is ``probability``."""
        logit = float(np.log(probability / (1 - probability)))
        return (self.risk_at_zero - logit) / self.risk_per_point


def risk_of_health(health: np.ndarray, at_zero: float, per_point: float) -> np.ndarray:
    """Churn probability from health (the straight line of the module docstring)."""
    return 1.0 / (1.0 + np.exp(-(at_zero - per_point * np.asarray(health, dtype="float64"))))


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(np.nan, index=frame.index)


# ---------------------------------------------------------------------------------------
# Fitting (needs optbinning and scikit-learn)


def min_bin_share(rows: int) -> float:
    """Smallest bin, as a share of ``rows`` training rows (:data:`MIN_BIN_ROWS`, within
    :data:`MIN_BIN_SHARE` and :data:`MAX_MIN_BIN_SHARE`)."""
    return float(np.clip(MIN_BIN_ROWS / max(rows, 1), MIN_BIN_SHARE, MAX_MIN_BIN_SHARE))


def binning_process(names: Sequence[str], categorical: Sequence[str], rows: int) -> Any:
    """The optbinning ``BinningProcess`` used for the scorecard (not yet fitted) on
    ``rows`` training rows."""
    from optbinning import BinningProcess

    numeric = [n for n in names if n not in categorical]
    smallest = min_bin_share(rows)
    return BinningProcess(
        list(names),
        binning_fit_params={n: {"monotonic_trend": TREND} for n in numeric},
        categorical_variables=[c for c in categorical if c in names],
        max_n_bins=MAX_BINS,
        min_bin_size=smallest,
        min_prebin_size=smallest,
        max_pvalue=MAX_P_VALUE,
        selection_criteria=None,
    )


def information_value(process: Any, name: str) -> float:
    """The input's total information value in a fitted binning process."""
    table = process.get_binned_variable(name).binning_table.build()
    return float(pd.to_numeric(table.loc["Totals", "IV"], errors="coerce") or 0.0)


def p_value(process: Any, name: str) -> float:
    """Chi-square test that the input's bins (missing included) share one churn rate."""
    from scipy.stats import chi2_contingency

    table = process.get_binned_variable(name).binning_table.build()
    rows = table.drop(index="Totals", errors="ignore")
    counts = rows[["Event", "Non-event"]].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    counts = counts[counts.sum(axis=1) > 0].to_numpy(dtype="float64")
    if len(counts) < 2:
        return 1.0
    return float(chi2_contingency(counts, correction=False).pvalue)


def _useful(process: Any, name: str) -> bool:
    return (
        information_value(process, name) >= MIN_INFORMATION_VALUE
        and p_value(process, name) < INPUT_P_VALUE
    )


def _as_training(frame: pd.DataFrame, categorical: Sequence[str]) -> pd.DataFrame:
    """Numbers as float, categories as text with missing as NaN (optbinning's missing)."""
    out = {}
    for col in frame.columns:
        if col in categorical:
            out[col] = frame[col].astype(object).where(frame[col].notna(), np.nan)
        else:
            out[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def _woe_bins(process: Any, name: str, categorical: bool) -> InputBins:
    """The input's bins with their weight of evidence where the log-odds will go."""
    binned = process.get_binned_variable(name)
    table = binned.binning_table.build()
    rows = table.drop(index="Totals", errors="ignore")
    woe = pd.to_numeric(rows["WoE"], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
    kinds = rows["Bin"].astype(str).to_numpy()
    regular = woe[(kinds != "Special") & (kinds != "Missing")]
    missing = float(woe[kinds == "Missing"][0]) if (kinds == "Missing").any() else 0.0
    counts = pd.to_numeric(rows["Count"], errors="coerce").fillna(0.0).to_numpy()
    share = float(counts[kinds == "Missing"].sum() / max(counts.sum(), 1.0))
    risk = tuple(float(w) for w in regular)
    if categorical:
        groups = tuple(tuple(str(c) for c in g) for g in binned.splits)
        return InputBins(name, True, groups=groups, risk=risk, missing_risk=missing,
                         missing_share=share)
    splits = tuple(float(s) for s in binned.splits)
    return InputBins(name, False, splits=splits, risk=risk, missing_risk=missing,
                     missing_share=share)


def _scaled(item: InputBins, coef: float) -> InputBins:
    return replace(item, risk=tuple(coef * r for r in item.risk),
                   missing_risk=coef * item.missing_risk)


def fit_scorecard(
    frame: pd.DataFrame,
    y: np.ndarray,
    categorical: Sequence[str],
    c: float = REGULARISATION_C,
) -> Scorecard:
    """Bin every input, fit the logistic regression, keep inputs that move the risk."""
    from sklearn.linear_model import LogisticRegression

    data = _as_training(frame, categorical)
    names = [n for n in frame.columns if data[n].notna().any()]  # nothing to bin otherwise
    if not names:
        raise ScorecardError("no input has a value")
    data = data[names]
    process = binning_process(names, categorical, len(data))
    with warnings.catch_warnings():  # optbinning's own pandas deprecation notices
        warnings.simplefilter("ignore")
        process.fit(data, np.asarray(y, dtype="int64"))
        kept = [n for n in names if _useful(process, n)]
        if not kept:
            raise ScorecardError("no input separates churners from the others")
        woe = process.transform(data, metric="woe")[kept].to_numpy(dtype="float64")
        bins = [_woe_bins(process, n, n in categorical) for n in kept]
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(woe, np.asarray(y, dtype="int64"))
    # A bin's contribution to the log-odds is the coefficient times its weight of
    # evidence, whatever sign convention the weight of evidence has.
    inputs = []
    for woe_bins, coef in zip(bins, model.coef_[0], strict=True):
        item = _scaled(woe_bins, float(coef))
        if item.worst - item.best > NEGLIGIBLE_RISK:
            inputs.append(item)
    return Scorecard(inputs=tuple(inputs), intercept=float(model.intercept_[0]))
