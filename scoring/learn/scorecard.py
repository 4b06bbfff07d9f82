"""The learned score: a points scorecard whose points add up to the 0-100 health.

How it is made (:func:`fit_scorecard`): each input is cut into bins *without looking at
churn* (numbers at quantiles of the training rows, :data:`FIT_BINS` at most; categories
each alone when frequent, the rare ones grouped; missing values in a bin of their own),
and ONE L2-regularised logistic regression of churn within the horizon is fitted on all
the bins of all the inputs at once. A number's bins are coded as steps ("at least the
k-th cut"), so the penalty pulls neighbouring bins towards each other and a number's
shape comes out smooth unless the data insists; a category's bins are coded one-hot. The
regularisation strength is chosen on the training rows alone (inner folds by account,
:data:`C_GRID`). For reading, inputs worth less than :data:`MIN_INPUT_POINTS` are then
left out and each number's neighbouring bins with the closest contributions are merged
down to :data:`MAX_BINS` (and while two differ by under :data:`MERGE_POINTS`), and the
regression is fitted once more on those bins.
An input's contribution to the churn log-odds in a bin is what the regression gives that
bin, so an input can point either way, or bend (a learned direction and shape).

Why not bins placed where churn differs most (the fit before 2026-12-07: optimal binning,
weights of evidence, filters, then the regression): grouping 26 random regions by their
training churn rate made them the top input of a simulated workspace, and a shape learned
one input at a time lost up to 0.08 of held-out AUC to one regularised fit of all inputs
(docs/scoring.md, "The fit").

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
model scores without scikit-learn installed.
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
FIT_BINS = 20
"""A number is cut into at most this many quantile bins for the fit (the regression then
smooths them): on the tune benchmark's 5,000 accounts 20 bins gave a held-out AUC of
0.907 against 0.900 with 10 and 0.892 with 6 (docs/scoring.md, "The fit")."""
MAX_BINS = 6
"""At most this many bins per input in the written model (plus missing): few enough to
read on a card. Categories beyond ``MAX_BINS - 1`` frequent ones share one bin."""
MIN_BIN_ROWS = 100
"""A bin holds at least this many training rows, so its points are not noise ..."""
MAX_MIN_BIN_SHARE = 0.07
"""... but never needs more than this share of them ..."""
MIN_BIN_SHARE = 0.01
"""... and always at least this share (so 20 bins fit when the rows allow). A category
with fewer rows than this smallest bin is grouped with the other rare ones."""
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
"""Inverse L2 strengths (scikit-learn's ``C``) tried on the training rows; the one with
the best inner held-out log-loss is used. Measured choices: 0.03-0.1 on IBM Telco,
0.1-1.0 on the tune benchmark, so no one constant fits every workspace."""
FIT_ITERATIONS = 3000
"""Iterations of the solver at most (the fits converge well before on measured data)."""
INNER_FOLDS = 3
"""Inner folds (by account) that choose ``C``: few, since each costs a fit per ``C``."""
FIT_MAX_ROWS = 200_000
"""At most this many training rows (whole accounts, drawn at random) fit the regression.
A number's bins are coded as steps, so a row holds about ten non-zeros per number: the
1.2 M rows of 100,000 accounts on 12 dates would make a matrix of about 9 GB and take
hours to fit, while the model's thousand-odd bin columns are learned as well from
200,000 account-dates."""
C_SEARCH_MAX_ROWS = 50_000
"""At most this many of those rows (whole accounts) choose ``C``: 18 fits (6 ``C`` x 3
inner folds) on a quarter of the rows, then 2 fits on all of them."""
SAMPLE_SEED = 0
"""The draw of accounts is the same every run: the same data gives the same model."""
MIN_INPUT_POINTS = 1.0
"""Inputs worth fewer points than this (of 100) are left out of the written model: they
make the card longer, and leaving them out moved IBM Telco's held-out AUC by under 0.001
(docs/scoring.md, "The fit")."""
MERGE_POINTS = 0.5
"""Neighbouring bins of a number whose points differ by less than this are merged (a
card of "6, 6, 6, 6" reads as one bin)."""
NEGLIGIBLE_RISK = 1e-6
"""An input whose contributions span less than this (log-odds) gets no points."""
MISSING_LABEL = "missing"


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
# Fitting (needs scikit-learn and scipy)


def min_bin_share(rows: int) -> float:
    """Smallest bin, as a share of ``rows`` training rows (:data:`MIN_BIN_ROWS`, within
    :data:`MIN_BIN_SHARE` and :data:`MAX_MIN_BIN_SHARE`)."""
    return float(np.clip(MIN_BIN_ROWS / max(rows, 1), MIN_BIN_SHARE, MAX_MIN_BIN_SHARE))


def _as_training(frame: pd.DataFrame, categorical: Sequence[str]) -> pd.DataFrame:
    """Numbers as float, categories as text with missing as None."""
    out = {}
    for col in frame.columns:
        if col in categorical:
            text = frame[col].astype(object)
            out[col] = text.where(text.notna(), None).map(lambda v: None if v is None else str(v))
        else:
            out[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def _merge_small(splits: list[float], known: np.ndarray, smallest: int) -> list[float]:
    """Drop cuts until every bin holds ``smallest`` rows (the smallest bin joins its
    smaller neighbour)."""
    while splits:
        counts = np.bincount(np.searchsorted(splits, known, side="right"),
                             minlength=len(splits) + 1)
        k = int(np.argmin(counts))
        if counts[k] >= smallest:
            break
        if k == 0 or (k < len(splits) and counts[k + 1] < counts[k - 1]):
            splits.pop(k)
        else:
            splits.pop(k - 1)
    return splits


def cut_numbers(values: np.ndarray, smallest: int, bins: int = FIT_BINS) -> tuple[float, ...]:
    """Quantile cuts of the known values into at most ``bins`` bins of ``smallest`` rows
    or more (churn is not looked at)."""
    known = values[~np.isnan(values)]
    if not len(known):
        return ()
    cuts = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1], method="higher"))
    return tuple(_merge_small([float(c) for c in cuts if c > known.min()], known, smallest))


def group_categories(values: pd.Series, smallest: int) -> tuple[tuple[str, ...], ...]:
    """The most frequent categories (``smallest`` rows or more, :data:`MAX_BINS` - 1 at
    most) each alone, every other category in one shared group."""
    counts = values.dropna().value_counts()
    alone = [str(c) for c, n in counts.items() if n >= smallest][: MAX_BINS - 1]
    rest = tuple(sorted(str(c) for c in counts.index if str(c) not in alone))
    return tuple((c,) for c in alone) + ((rest,) if rest else ())


def _unfitted(name: str, values: pd.Series, categorical: bool, smallest: int) -> InputBins:
    if categorical:
        groups = group_categories(values, smallest)
        return InputBins(name, True, groups=groups, risk=(0.0,) * len(groups))
    splits = cut_numbers(values.to_numpy(dtype="float64"), smallest)
    return InputBins(name, False, splits=splits, risk=(0.0,) * (len(splits) + 1))


def _columns(item: InputBins, values: pd.Series) -> Any:
    """The input's design columns: for a number one step per cut (1 from that cut up, so
    the penalty smooths neighbours), for a category one column per group; then a missing
    column when a value is missing. A missing number sits at the steps' averages."""
    from scipy import sparse

    where = item.bin_of(values)
    missing = where < 0
    n, width = len(where), len(item.risk)
    if item.categorical:
        rows = np.flatnonzero(~missing)
        block = sparse.csr_matrix((np.ones(len(rows)), (rows, where[rows])), shape=(n, width))
    else:
        steps = np.zeros((n, width - 1))
        for k in range(1, width):
            steps[:, k - 1] = where >= k
        if missing.any() and (~missing).any():
            steps[missing] = steps[~missing].mean(axis=0)
        block = sparse.csr_matrix(steps)
    if missing.any():
        block = sparse.hstack([block, sparse.csr_matrix(missing.astype("float64")[:, None])])
    return block


def _with_risk(item: InputBins, coef: np.ndarray, values: pd.Series) -> InputBins:
    """The input's contribution per bin from its coefficients (see :func:`_columns`); a
    missing value never seen in training gets the rows' average (no evidence)."""
    where = item.bin_of(values)
    known = where >= 0
    width = len(item.risk)
    if item.categorical:
        risk = coef[:width]
    else:  # the first bin is the steps' base: 0
        risk = np.concatenate([[0.0], np.cumsum(coef[: width - 1])])
    share = np.bincount(where[known], minlength=width) / max(int(known.sum()), 1)
    average = float(share @ risk)
    missing = average
    if (~known).any():  # the missing column follows the bins' columns
        step = width if item.categorical else width - 1
        missing = float(coef[step]) + (0.0 if item.categorical else average)
    return replace(item, risk=tuple(float(r) for r in risk), missing_risk=missing,
                   missing_share=float((~known).mean()))


def sample_rows(y: np.ndarray, groups: np.ndarray | None, most: int) -> np.ndarray:
    """Positions of at most ``most`` rows: every row when there are no more; else the
    rows of accounts (``groups``; single rows without) drawn at random until the next
    would pass ``most``. Every row again when the draw holds one outcome only."""
    n = len(y)
    if n <= most:
        return np.arange(n)
    rng = np.random.default_rng(SAMPLE_SEED)
    if groups is None:
        keep = np.sort(rng.choice(n, size=most, replace=False))
    else:
        ids, counts = np.unique(groups, return_counts=True)
        order = rng.permutation(len(ids))
        taken = order[np.cumsum(counts[order]) <= most]
        keep = np.flatnonzero(np.isin(groups, ids[taken]))
    return keep if 0 < y[keep].sum() < len(keep) else np.arange(n)


def _choose_c(x: Any, y: np.ndarray, groups: np.ndarray | None) -> float:
    """The ``C`` of :data:`C_GRID` with the best log-loss on inner folds (by account when
    ``groups`` are given, so an account's rows stay on one side), on at most
    :data:`C_SEARCH_MAX_ROWS` of the rows."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    keep = sample_rows(y, groups, C_SEARCH_MAX_ROWS)
    x, y = x[keep], y[keep]
    groups = None if groups is None else groups[keep]
    if groups is not None and len(np.unique(groups)) >= INNER_FOLDS:
        pairs = GroupKFold(n_splits=INNER_FOLDS).split(x, y, groups)
    else:
        pairs = StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=0).split(x, y)
    usable = [(tr, te) for tr, te in pairs
              if 0 < y[tr].sum() < len(tr) and 0 < y[te].sum() < len(te)]
    if not usable:
        return float(np.median(C_GRID))
    search = LogisticRegressionCV(Cs=list(C_GRID), cv=usable, scoring="neg_log_loss",
                                  max_iter=FIT_ITERATIONS, refit=False)
    search.fit(x, y)
    return float(search.C_[0])


def _fitted(
    data: pd.DataFrame, y: np.ndarray, items: list[InputBins], groups: np.ndarray | None,
    c: float | None,
) -> tuple[Scorecard, float]:
    """One logistic regression on every input's bins; the scorecard and the ``C`` used."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    blocks = [_columns(i, data[i.name]) for i in items]
    x = sparse.hstack(blocks).tocsr()
    with warnings.catch_warnings():  # convergence notices on near-constant columns
        warnings.simplefilter("ignore")
        chosen = _choose_c(x, y, groups) if c is None else c
        model = LogisticRegression(C=chosen, max_iter=FIT_ITERATIONS).fit(x, y)
    coef, start, inputs = model.coef_[0], 0, []
    for item, block in zip(items, blocks, strict=True):
        learned = _with_risk(item, coef[start : start + block.shape[1]], data[item.name])
        start += block.shape[1]
        if learned.worst - learned.best > NEGLIGIBLE_RISK:
            inputs.append(learned)
    return Scorecard(inputs=tuple(inputs), intercept=float(model.intercept_[0])), chosen


def fewer_bins(
    item: InputBins, values: pd.Series, closer_than: float = 0.0, most: int = MAX_BINS
) -> InputBins:
    """A number's bins merged while there are more than ``most`` or two neighbours'
    contributions differ by less than ``closer_than`` (log-odds): each time the closest
    two, into one with their rows' average contribution."""
    if item.categorical or len(item.risk) < 2:
        return item
    splits, risk = list(item.splits), list(item.risk)
    where = item.bin_of(values)
    rows = list(np.bincount(where[where >= 0], minlength=len(risk)).astype("float64"))
    while len(risk) > 1:
        k = int(np.argmin(np.abs(np.diff(risk))))
        if len(risk) <= most and abs(risk[k + 1] - risk[k]) >= closer_than:
            break
        both = rows[k] + rows[k + 1]
        risk[k] = (risk[k] * rows[k] + risk[k + 1] * rows[k + 1]) / max(both, 1.0)
        rows[k] = both
        del risk[k + 1], rows[k + 1], splits[k]
    return replace(item, splits=tuple(splits), risk=tuple(risk))


def fit_scorecard(
    frame: pd.DataFrame,
    y: np.ndarray,
    categorical: Sequence[str],
    groups: np.ndarray | None = None,
    c: float | None = None,
    max_rows: int = FIT_MAX_ROWS,
) -> Scorecard:
    """Bin every input without looking at churn, fit one regularised logistic regression
    on all bins (``C`` chosen on inner folds grouped by ``groups``, the account ids,
    unless given), then keep the inputs worth :data:`MIN_INPUT_POINTS`, merge each
    number's bins down to :data:`MAX_BINS` (and neighbours within :data:`MERGE_POINTS`)
    and fit again on those. Beyond ``max_rows`` rows, all of this is done on a random
    draw of whole accounts holding at most that many (:func:`sample_rows`)."""
    y = np.asarray(y, dtype="int64")
    keep = sample_rows(y, None if groups is None else np.asarray(groups), max_rows)
    if len(keep) < len(y):
        frame, y = frame.iloc[keep], y[keep]
        groups = None if groups is None else np.asarray(groups)[keep]
    data = _as_training(frame, categorical)
    smallest = int(np.ceil(min_bin_share(len(data)) * len(data)))
    items = [_unfitted(n, data[n], n in categorical, smallest) for n in data.columns
             if data[n].notna().any()]  # nothing to bin otherwise
    if not items:
        raise ScorecardError("no input has a value")
    card, chosen = _fitted(data, y, items, groups, c)
    close = MERGE_POINTS * card.risk_per_point
    kept = [fewer_bins(i, data[i.name], close) for i in card.inputs
            if card.max_points(i) >= MIN_INPUT_POINTS]
    if not kept:
        raise ScorecardError("no input separates churners from the others")
    return _fitted(data, y, kept, None, chosen)[0]
