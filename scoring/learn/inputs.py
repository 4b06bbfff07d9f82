"""What a learned model may read about an account on an as-of date, and nothing else.

Two kinds of input, both built from data dated on or before the as-of date:

* **Signals**: every per-account figure of the scorer's aggregation
  (:mod:`scoring.signals`, already bounded by the date) that describes behaviour:
  usage, breadth, contacts, integrations, tickets, surveys, invoices, plus day counts
  derived from its dates (days since the last active day, to the renewal...) and a few
  ratios. Left out on purpose: ``lifecycle`` and ``churned_on`` (today's values: a
  churned account *is* its outcome), the stored previous scores and the CSM's recorded
  score (earlier outputs and judgements, not behaviour), names and ids.
* **Account fields** named in ``scoring.learn`` (:class:`pulse.kernel.config.LearnConfig`):
  categories (segment, region, tier, industry, custom fields) and numbers (tenure on the
  date, licensed seats, ARR, MRR, numeric custom fields). These are the CRM's *current*
  values except tenure, which is computed per date; docs/backtest.md lists why.

The flags and the data components' values of the backtest panel are inputs too
(:data:`PANEL_INPUTS`); :func:`scoring.learn.live.input_frame` puts everything in one frame whose
columns are the input names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pulse.kernel.config import LearnConfig
from scoring.components import DATA_COMPONENT_KEYS
from scoring.signals.frame import COUNT_COLUMNS

SIGNAL_COUNTS: tuple[str, ...] = COUNT_COLUMNS
"""Every count of the signal frame (zero when nothing happened)."""
SIGNAL_VALUES: tuple[str, ...] = ("nps_latest", "csat_avg")
"""Survey figures, unknown (NaN) without answers."""
DAYS_SINCE: dict[str, str] = {
    "days_since_last_active": "last_active_day",
    "days_since_main_contact_active": "main_last_day",
    "days_since_owner_contact_active": "owner_last_day",
    "days_since_power_user_deactivated": "power_user_deactivated_at",
    "days_since_first_core_use": "first_core_day",
    "days_since_nps": "nps_latest_at",
    "days_oldest_invoice_overdue": "oldest_overdue_due_on",
}
"""Day counts back from the as-of date (NaN when the date is unknown)."""
DAYS_UNTIL: dict[str, str] = {"days_to_renewal": "renewal_date"}
"""Day counts forward from the as-of date (negative when the date has passed)."""
RATIOS: dict[str, tuple[str, str]] = {
    "seat_utilisation": ("active_users", "licensed_seats"),
    "active_users_vs_previous": ("active_users", "active_users_prev"),
    "weighted_events_vs_previous": ("weighted_events", "weighted_events_prev"),
}
"""``numerator / denominator`` (NaN when the denominator is 0 or unknown)."""
PANEL_INPUTS: dict[str, str] = {f"component_{k}": f"value_{k}" for k in DATA_COMPONENT_KEYS}
"""Input name -> backtest panel column: the rules score's component values (0-1), except
the CSM's recorded sentiment (a judgement, left out like the CSM's score)."""
FLAG_PREFIX = "flag_"
WEIGHT_DEPENDENT_FLAGS: tuple[str, ...] = ("flag_score_drop",)
"""Flags that depend on the weights being evaluated, so not an input."""

ACCOUNT_COLUMNS: dict[str, str] = {
    "segment": "segment",
    "region": "region",
    "tier": "tier",
    "industry": "industry",
    "arr": "arr",
    "mrr": "mrr",
    "licensed_seats": "licensed_seats",
    "seats": "licensed_seats",
}
"""Account field name in ``scoring.learn`` -> column of the accounts table."""
TENURE = "tenure_days"
CUSTOM_PREFIX = "custom."
FIELD_PREFIX = "account_"
"""Account-field inputs are named ``account_<field>`` so they never clash with a signal."""


def _days(later: pd.Series, earlier: pd.Series) -> np.ndarray:
    delta = pd.to_datetime(later) - pd.to_datetime(earlier)
    return (delta.dt.total_seconds() / 86400.0).to_numpy(dtype="float64")


def signal_inputs(frame: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """The signal inputs of one date's signal frame (index ``account_id``)."""
    day = pd.Series(pd.Timestamp(as_of), index=frame.index)
    out: dict[str, np.ndarray] = {}
    for col in (*SIGNAL_COUNTS, *SIGNAL_VALUES):
        out[col] = frame[col].to_numpy(dtype="float64")
    for name, col in DAYS_SINCE.items():
        out[name] = np.floor(_days(day, frame[col]))
    for name, col in DAYS_UNTIL.items():
        out[name] = np.floor(_days(frame[col], day))
    for name, (num, den) in RATIOS.items():
        n = pd.to_numeric(frame[num], errors="coerce").to_numpy(dtype="float64")
        d = pd.to_numeric(frame[den], errors="coerce").to_numpy(dtype="float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(d > 0, n / d, np.nan)
    return pd.DataFrame(out, index=frame.index)


def tenure_days(frame: pd.DataFrame, as_of: Any) -> np.ndarray:
    """Whole days from each account's ``contract_start`` to ``as_of`` (NaN if unknown)."""
    day = pd.Series(pd.Timestamp(as_of), index=frame.index)
    return np.floor(_days(day, frame["contract_start"]))


def field_source(name: str) -> tuple[str, str]:
    """``("column", col)``, ``("tenure", "")`` or ``("custom", key)`` for a configured field."""
    name = name.strip()
    if name == TENURE:
        return "tenure", ""
    if name in ACCOUNT_COLUMNS:
        return "column", ACCOUNT_COLUMNS[name]
    key = name[len(CUSTOM_PREFIX) :] if name.startswith(CUSTOM_PREFIX) else name
    return "custom", key


def input_name(field: str) -> str:
    """The input name of a configured account field (``custom.plan`` -> ``account_plan``)."""
    kind, key = field_source(field)
    if kind == "tenure":
        return FIELD_PREFIX + TENURE
    return FIELD_PREFIX + (key if kind == "custom" else field.strip())


def _missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


def _custom_values(custom: pd.Series, key: str) -> pd.Series:
    return custom.map(lambda d: d.get(key) if isinstance(d, Mapping) else None)


def account_field_inputs(
    accounts: pd.DataFrame, learn: LearnConfig, tenure: pd.Series | None = None
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Configured account fields as inputs, and the names of the categorical ones.

    ``accounts`` holds the accounts table's columns and ``custom`` (dicts), one row per
    panel row; ``tenure`` is the panel's tenure on each row's date. Categories are text
    (None when missing); numbers that do not parse are missing.
    """
    out: dict[str, pd.Series] = {}
    categorical: list[str] = []
    for name, numeric in [(n, False) for n in learn.categorical] + [
        (n, True) for n in learn.numeric
    ]:
        kind, key = field_source(name)
        if kind == "tenure":
            values = tenure if tenure is not None else pd.Series(np.nan, index=accounts.index)
        elif kind == "column":
            values = accounts[key]
        else:
            values = _custom_values(accounts["custom"], key)
        label = input_name(name)
        if numeric:
            out[label] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            words = [None if _missing(v) else str(v).strip() or None for v in values]
            out[label] = pd.Series(words, index=accounts.index, dtype=object)
            categorical.append(label)
    return pd.DataFrame(out, index=accounts.index), tuple(categorical)


def unnamed_custom_fields(custom: pd.Series, learn: LearnConfig) -> list[str]:
    """Custom fields some account holds that ``scoring.learn`` does not name (sorted).

    ``custom`` holds each account's custom fields (dicts). Learning reads only the fields
    named in config, so an import's extra columns are otherwise left out without a word.
    """
    named = {field_source(n)[1] for n in (*learn.categorical, *learn.numeric)
             if field_source(n)[0] == "custom"}
    held = {str(k) for d in custom if isinstance(d, Mapping) for k, v in d.items()
            if not _missing(v)}
    return sorted(held - named)


def panel_inputs(panel: pd.DataFrame) -> pd.DataFrame:
    """Component values and flag severities of backtest panel rows, as inputs."""
    out = {name: panel[col].to_numpy(dtype="float64") for name, col in PANEL_INPUTS.items()}
    for col in panel.columns:
        if col.startswith(FLAG_PREFIX) and col not in WEIGHT_DEPENDENT_FLAGS:
            out[col] = panel[col].to_numpy(dtype="float64")
    return pd.DataFrame(out, index=panel.index)


def informative(inputs: pd.DataFrame, categorical: Sequence[str]) -> list[str]:
    """Inputs that take more than one value (missing counting as a value)."""
    keep = []
    for col in inputs.columns:
        values = inputs[col]
        if col in categorical:
            distinct = values.fillna("\0missing").nunique()
        else:
            distinct = values.astype("float64").fillna(np.inf).nunique()
        if distinct > 1:
            keep.append(col)
    return keep
