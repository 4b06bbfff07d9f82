"""What every portfolio metric shares: breakdowns, periods, and the helpers that label,
roll up and read ARR and snapshots as of a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from pulse.kernel.breakdowns import BREAKDOWNS
from pulse.kernel.tiers import HEALTH_TIERS

"""Account attributes a metric can be broken down by."""
TOTAL = "All accounts"
"""The label of the row covering every account."""
NO_VALUE = "(none)"
"""The group of accounts without a value for the breakdown attribute."""
UNSCORED = "unscored"
"""The health of an account without a snapshot."""
HEALTH_RANK = {tier: rank for rank, tier in enumerate(reversed(HEALTH_TIERS))}
"""Higher is healthier: at_risk 0, fine 1, healthy 2."""
RENEWAL_RISKS = ("high", "medium", "low", UNSCORED)
"""Renewal-risk levels in the order the pipeline lists them."""
EPSILON = 0.005
"""ARR at or below half a cent is none (float round trips through database drivers)."""


@dataclass(frozen=True)
class Period:
    """First and last day of a period, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"period starts {self.start} after it ends {self.end}")

    @property
    def opening(self) -> date:
        """The day whose close is the period's starting state."""
        return self.start - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def check_by(by: str | None) -> None:
    if by is not None and by not in BREAKDOWNS:
        raise ValueError(f"unknown breakdown '{by}' (one of {', '.join(BREAKDOWNS)})")


def as_days(values: pd.Series) -> pd.Series:
    """Dates as datetime64, whatever the driver handed back (date, str, Timestamp)."""
    return pd.to_datetime(values)


def ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den, NaN where den is 0: a rate over nothing is not 0%, it is no rate."""
    den = den.astype(float)
    return (num.astype(float) / den.where(den != 0)).astype(float)


def text_of(keys: pd.Series, mapping: pd.Series, default: str) -> pd.Series:
    """``mapping[key]`` for each key as text, ``default`` where it has none (also on empty
    frames, where pandas would otherwise guess the dtypes)."""
    out = pd.Series(default, index=keys.index, dtype=object)
    if len(keys) and len(mapping):
        found = keys.map(mapping)
        out = found.astype(object).where(found.notna(), default)
    return out


def number_of(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """``mapping[key]`` for each key as a float, 0 where it has none."""
    out = pd.Series(0.0, index=keys.index, dtype=float)
    if len(keys) and len(mapping):
        out = pd.to_numeric(keys.map(mapping), errors="coerce").astype(float).fillna(0.0)
    return out


def labels_of(accounts: pd.DataFrame, by: str | None) -> pd.Series:
    """Each account's group label (index account_id); NO_VALUE where the attribute is empty."""
    if by is None:
        return pd.Series(TOTAL, index=accounts["account_id"].to_numpy(), dtype=object)
    values = accounts[by].astype(object).where(accounts[by].notna(), NO_VALUE)
    values = values.map(lambda v: str(v).strip() or NO_VALUE)
    return pd.Series(values.to_numpy(), index=accounts["account_id"].to_numpy(), dtype=object)


def rollup(frame: pd.DataFrame, labels: pd.Series | None, columns: list[str]) -> pd.DataFrame:
    """Sums of ``columns``: a TOTAL row, then one row per label (sorted), index "group".

    ``frame`` has an ``account_id`` column; ``labels`` maps account_id to a group.
    """
    total = frame[columns].sum().to_frame(TOTAL).T
    parts = [total]
    if labels is not None:
        grouped = frame.assign(group=text_of(frame["account_id"], labels, NO_VALUE))
        sums = grouped.groupby("group", sort=True)[columns].sum()
        parts.append(sums)
    out = pd.concat(parts)
    out.index.name = "group"
    return out


def arr_on(ledger: pd.DataFrame, day: date) -> pd.Series:
    """Each account's ARR at the close of ``day``: its latest change on or before it.

    Index account_id; accounts without a change by then are absent (ARR 0).
    """
    if ledger.empty:
        return pd.Series(dtype=float)
    rows = ledger[as_days(ledger["effective_on"]) <= pd.Timestamp(day)]
    latest = rows.sort_values(["account_id", "effective_on"]).groupby("account_id").tail(1)
    return latest.set_index("account_id")["arr"].astype(float)


def snapshot_on(snapshots: pd.DataFrame, day: date) -> pd.DataFrame:
    """Each account's latest snapshot on or before ``day`` (index account_id)."""
    if snapshots.empty:
        return pd.DataFrame(columns=["as_of", "tier", "renewal_risk"])
    rows = snapshots[as_days(snapshots["as_of"]) <= pd.Timestamp(day)]
    latest = rows.sort_values(["account_id", "as_of"]).groupby("account_id").tail(1)
    return latest.set_index("account_id")


def with_health(accounts: pd.DataFrame, snapshots: pd.DataFrame, day: date) -> pd.DataFrame:
    """``accounts`` with a ``health`` column: the tier of each account's latest snapshot
    on or before ``day`` (UNSCORED when it has none): the ``by="health"`` breakdown."""
    tiers = snapshot_on(snapshots, day)["tier"] if not snapshots.empty else pd.Series()
    return accounts.assign(health=text_of(accounts["account_id"], tiers, UNSCORED))


def paying_on(accounts: pd.DataFrame, ledger: pd.DataFrame, day: date) -> pd.DataFrame:
    """Accounts paying at the close of ``day`` (ARR > 0), with that ``arr``."""
    arr = number_of(accounts["account_id"], arr_on(ledger, day))
    paying = accounts.assign(arr=arr.to_numpy())
    return paying[paying["arr"] > EPSILON]
