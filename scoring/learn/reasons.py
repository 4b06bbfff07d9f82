"""The reasons ("Why") of a score given by a learned model, from the model's own points.

A learned score is the sum of its inputs' points (:mod:`scoring.learn.live`), so its
reasons are those points: first the inputs that cost the account the most points
against their best bin (the most points the input can give, minus the points it gave),
then the inputs that earned all or nearly all of their points. Each reason names the
input in plain words, the account's value (and the bin it fell in) and the points, e.g.
"Days since last active: 45 (>= 30), 0.0 of 12.4 points (-12.4)".

The rules score's reasons (flags, components below half marks, the CSM's sentiment) are
not listed for a learned score: they explain a number that is not the one shown. Flags
keep their own section on the ``/health`` card and in ``pulse explain``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from scoring.components import COMPONENT_LABELS
from scoring.learn.inputs import FIELD_PREFIX, FLAG_PREFIX, PANEL_INPUTS

MAX_COSTLY = 4
"""Inputs named at most per account for the points they cost (the card shows five reasons)."""
MAX_EARNED = 2
"""Inputs named at most per account for the points they earned."""
MIN_POINTS = 1.0
"""An input is named only when at least this many points are at stake: lost against its
best bin, or earned (smaller amounts do not explain a score shown to the point)."""
EARNED_SHARE = 0.8
"""An input counts for the account when it gave at least this share of its most points
(the rules score's reasons use the same 80% line for strong components)."""
ACRONYMS = {"nps": "NPS", "csat": "CSAT", "arr": "ARR", "mrr": "MRR"}
FLAG_LEVELS = {0: "none", 1: "warning", 2: "critical"}
"""A flag input's value (its severity, as the model reads it) in words."""
VALUE_FIGURES = 4
"""Significant figures of a numeric value in a reason."""


PREVIOUS_SUFFIX = "_prev"
"""Signals of the previous scoring window end so (``active_users_prev``)."""


def _words(text: str) -> str:
    previous = text.endswith(PREVIOUS_SUFFIX)
    text = text.removesuffix(PREVIOUS_SUFFIX)
    out = " ".join(ACRONYMS.get(w, w) for w in text.split("_") if w)
    out += " (previous window)" if previous else ""
    return out[:1].upper() + out[1:]


def input_words(name: str) -> str:
    """A learned input's name in plain words: ``days_since_last_active`` -> "Days since
    last active", ``flag_onboarding_stuck`` -> "Onboarding stuck flag",
    ``component_usage`` -> "Usage (rules component)", ``account_segment`` -> "Segment"."""
    if name in PANEL_INPUTS:
        key = PANEL_INPUTS[name].removeprefix("value_")
        return f"{COMPONENT_LABELS.get(key, _words(key))} (rules component)"
    if name.startswith(FLAG_PREFIX):
        return f"{_words(name[len(FLAG_PREFIX):])} flag"
    if name.startswith(FIELD_PREFIX):
        return _words(name[len(FIELD_PREFIX):])
    return _words(name)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else number


def _value_text(flag: bool, value: Any, bin_label: Any) -> str:
    """The account's value as the model read it, with its bin when that adds anything."""
    if isinstance(value, float):  # the usual case, checked first: 600,000 calls a run
        if value != value:  # NaN
            return "no data"
        number: float | None = value
    elif value is None:
        return "no data"
    else:
        number = _number(value)
    if number is None:  # a category: its bin only lists it with others
        return str(value)
    if flag:
        return FLAG_LEVELS.get(int(round(number)), f"{number:g}")
    return f"{number:.{VALUE_FIGURES}g} ({bin_label})"


def _reason(words: str, flag: bool, value: Any, bin_label: Any, points: float,
            most: float) -> str:
    text = f"{words}: {_value_text(flag, value, bin_label)}, {points:.1f} of {most:.1f} points"
    lost = most - points
    return text + (f" (-{lost:.1f})" if lost >= MIN_POINTS else "")


def _chosen(given: np.ndarray, best: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per account, the input positions to name in order (costliest first, then earned),
    and which of them are named at all."""
    lost = best - given
    costly = np.argsort(-lost, axis=1, kind="stable")[:, :MAX_COSTLY]
    costly_ok = np.take_along_axis(lost, costly, axis=1) >= MIN_POINTS
    named = np.zeros(given.shape, dtype=bool)
    np.put_along_axis(named, costly, costly_ok, axis=1)
    eligible = (given >= MIN_POINTS) & (given >= EARNED_SHARE * best) & ~named
    earned = np.argsort(np.where(eligible, -given, np.inf), axis=1, kind="stable")
    earned = earned[:, :MAX_EARNED]
    earned_ok = np.take_along_axis(eligible, earned, axis=1)
    return np.hstack([costly, earned]), np.hstack([costly_ok, earned_ok])


def learned_reasons(
    points: pd.DataFrame,
    most: Mapping[str, float],
    bins: pd.DataFrame,
    values: pd.DataFrame,
) -> pd.Series:
    """Reasons per account (``points``' index): the costliest inputs, then those earned.

    ``points`` are each input's points per account (rounded as stored), ``most`` the
    most points of each input, ``bins`` and ``values`` the bin and value of each input.
    Selection is vectorised; only the named reasons are written out.
    """
    names = list(points.columns)
    given = points.to_numpy(dtype="float64")
    # as the stored entries: rounding may lift an input a tenth past its rounded most
    best = np.maximum(np.round(np.array([most[n] for n in names], dtype="float64"), 1), given)
    chosen, ok = _chosen(given, best)
    rows, slots = np.nonzero(ok)  # row-major: each account's reasons stay in order
    cols = chosen[rows, slots]
    words = np.array([input_words(n) for n in names], dtype=object)[cols]
    flag = np.array([n.startswith(FLAG_PREFIX) for n in names])[cols]
    bin_rows = bins.reindex(index=points.index, columns=names).to_numpy(dtype=object)
    value_rows = values.reindex(index=points.index, columns=names).to_numpy(dtype=object)
    texts = [
        _reason(*args)
        for args in zip(words.tolist(), flag.tolist(), value_rows[rows, cols].tolist(),
                        bin_rows[rows, cols].tolist(), given[rows, cols].tolist(),
                        best[rows, cols].tolist(), strict=True)
    ]
    bounds = np.concatenate([[0], np.cumsum(ok.sum(axis=1))]).tolist()
    out = [texts[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return pd.Series(out, index=points.index, dtype=object)
