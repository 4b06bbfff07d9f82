"""Held-out folds for learning: by time when the history allows it, else by account.

* **By time** (several as-of dates): each date in turn is the test set and the model
  trains only on earlier dates whose outcome was known by then (``as_of + horizon <=
  test date``, :func:`scoring.tune.rolling_folds`), so no fold learns from the future it
  is tested on.
* **By account** (one snapshot, or dates too close together for the above): the rows
  are split in :data:`ACCOUNT_FOLDS` groups of accounts with about the same share of
  churners in each (scikit-learn's ``StratifiedGroupKFold``); an account's rows are
  always on one side, so the model is never tested on an account it saw. The outcome of
  training accounts may then be later than a test row's date, which is what a
  single-snapshot history allows; the inputs of every row are still bounded by its own
  date.

Every fold's training and test rows hold churners and non-churners, or it is dropped; a
time fold is also dropped when its training dates hold fewer than :data:`MIN_CHURNERS`
churns (the first test dates of a history, usually).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from scoring.backtest import BacktestError
from scoring.periods import Span
from scoring.tune import rolling_folds

ACCOUNT_FOLDS = 5
"""Folds by account: five is the usual balance of training size and test noise."""
MIN_CHURNERS = 30
"""Fewer churn observations than this and held-out figures are noise; learning refuses."""
SEED = 16
"""Fixed shuffling, so the same data gives the same folds and the same model."""


Pair = tuple[np.ndarray, np.ndarray]
"""Training and test row positions."""


class LearnError(BacktestError):
    """Learning cannot run on this history; the message says what is missing."""


@dataclass(frozen=True)
class Folds:
    """Training and test row positions of each fold, and how they were made."""

    kind: Literal["time", "account"]
    pairs: tuple[Pair, ...]

    @property
    def words(self) -> str:
        n = len(self.pairs)
        if self.kind == "time":
            return f"{n} test date(s), each trained on earlier dates whose outcome was known"
        return f"{n} folds by account (no account on both sides)"


def _both(y: np.ndarray) -> bool:
    return 0 < int(y.sum()) < len(y)


def time_folds(as_of: np.ndarray, y: np.ndarray, horizon: Span) -> list[Pair]:
    """Rolling-origin folds over the distinct dates of ``as_of`` (``datetime64[D]``)."""
    days = sorted({pd.Timestamp(d).date() for d in np.unique(as_of)})
    out = []
    for train, test in rolling_folds(days, horizon):
        tr = np.flatnonzero(np.isin(as_of, np.array(train, dtype="datetime64[D]")))
        te = np.flatnonzero(as_of == np.datetime64(test, "D"))
        if _both(y[tr]) and _both(y[te]) and int(y[tr].sum()) >= MIN_CHURNERS:
            out.append((tr, te))
    return out


def account_folds(account_id: np.ndarray, y: np.ndarray) -> list[Pair]:
    """Stratified folds grouped by account (see the module docstring)."""
    from sklearn.model_selection import StratifiedGroupKFold

    churned_accounts = len(np.unique(account_id[y.astype(bool)]))
    n = min(ACCOUNT_FOLDS, churned_accounts)
    if n < 2:
        return []
    split = StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=SEED)
    out = []
    for tr, te in split.split(np.zeros(len(y)), y, groups=account_id):
        if _both(y[tr]) and _both(y[te]):
            out.append((tr, te))
    return out


def make_folds(as_of: np.ndarray, account_id: np.ndarray, y: np.ndarray, horizon: Span) -> Folds:
    """Folds by time when at least one exists, else by account; refuses too few churners."""
    y = np.asarray(y).astype("int64")
    churners = int(y.sum())
    if churners < MIN_CHURNERS:
        raise LearnError(
            f"learning needs at least {MIN_CHURNERS} churns within the {horizon.words} after "
            f"an as-of date, and the {len(y):,} account-dates scored hold {churners}"
        )
    if churners == len(y):
        raise LearnError("every account scored churned: there is nothing to tell them from")
    by_time = time_folds(np.asarray(as_of, dtype="datetime64[D]"), y, horizon)
    if by_time:
        return Folds("time", tuple(by_time))
    by_account = account_folds(np.asarray(account_id), y)
    if not by_account:
        raise LearnError("no fold has churners and non-churners on both sides")
    return Folds("account", tuple(by_account))


def first_last(as_of: np.ndarray) -> tuple[date, date]:
    days = np.asarray(as_of, dtype="datetime64[D]")
    return pd.Timestamp(days.min()).date(), pd.Timestamp(days.max()).date()
