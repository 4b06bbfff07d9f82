"""Health metrics: at-risk ARR, the health distribution and its change."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from pulse.kernel.tiers import HEALTH_TIERS
from scoring.metrics.base import (
    NO_VALUE,
    TOTAL,
    UNSCORED,
    Period,
    as_days,
    check_by,
    labels_of,
    paying_on,
    ratio,
    rollup,
    snapshot_on,
    text_of,
)


def at_risk_arr(
    accounts: pd.DataFrame,
    ledger: pd.DataFrame,
    snapshots: pd.DataFrame,
    day: date,
    renewal_window_days: int,
    by: str | None = None,
) -> pd.DataFrame:
    """ARR of paying accounts whose latest snapshot on or before ``day`` is at risk, and
    the part renewing within ``renewal_window_days`` of ``day`` (both days included)."""
    check_by(by)
    paying = paying_on(accounts, ledger, day)
    latest = snapshot_on(snapshots, day)
    tiers = latest["tier"] if not latest.empty else pd.Series(dtype=object)
    at_risk = (text_of(paying["account_id"], tiers, UNSCORED) == "at_risk").to_numpy(bool)
    renewal = as_days(paying["renewal_date"])
    renewing = ((renewal >= pd.Timestamp(day))
                & (renewal <= pd.Timestamp(day + timedelta(days=renewal_window_days))))
    both = at_risk & renewing.fillna(False).to_numpy(bool)
    frame = paying[["account_id"]].assign(
        accounts=1,
        arr=paying["arr"].to_numpy(),
        at_risk_accounts=at_risk.astype(int),
        at_risk_arr=np.where(at_risk, paying["arr"], 0.0),
        renewing_accounts=both.astype(int),
        renewing_arr=np.where(both, paying["arr"], 0.0),
    )
    cols = ["accounts", "arr", "at_risk_accounts", "at_risk_arr", "renewing_accounts",
            "renewing_arr"]
    out = rollup(frame, labels_of(accounts, by) if by else None, cols)
    for col in ("accounts", "at_risk_accounts", "renewing_accounts"):
        out[col] = out[col].astype(int)
    out["at_risk_share"] = ratio(out["at_risk_arr"], out["arr"])
    return out


def _tier_frame(
    accounts: pd.DataFrame, ledger: pd.DataFrame, snapshots: pd.DataFrame, day: date
) -> pd.DataFrame:
    paying = paying_on(accounts, ledger, day)
    latest = snapshot_on(snapshots, day)
    tiers = latest["tier"] if not latest.empty else pd.Series(dtype=object)
    return paying[["account_id", "arr"]].assign(
        health_tier=text_of(paying["account_id"], tiers, UNSCORED))


def health_distribution(
    accounts: pd.DataFrame,
    ledger: pd.DataFrame,
    snapshots: pd.DataFrame,
    period: Period,
    by: str | None = None,
) -> pd.DataFrame:
    """Paying accounts and their ARR per health tier at the opening and at the end.

    Index (group, health_tier) over healthy, fine, at_risk and unscored (no snapshot on or
    before the day); columns accounts/arr at start and end and their change.
    """
    check_by(by)
    labels = labels_of(accounts, by)
    tiers = [*HEALTH_TIERS, UNSCORED]
    frames = []
    for suffix, day in (("start", period.opening), ("end", period.end)):
        f = _tier_frame(accounts, ledger, snapshots, day)
        f = f.assign(group=text_of(f["account_id"], labels, NO_VALUE))
        parts = [f.assign(group=TOTAL)] + ([f] if by else [])
        both = pd.concat(parts)
        agg = both.groupby(["group", "health_tier"]).agg(
            **{f"accounts_{suffix}": ("account_id", "count"), f"arr_{suffix}": ("arr", "sum")}
        )
        frames.append(agg)
    groups = [TOTAL] + (sorted(set(labels.to_numpy())) if by else [])
    index = pd.MultiIndex.from_product([groups, tiers], names=["group", "health_tier"])
    out = pd.concat(frames, axis=1).reindex(index).fillna(0)
    for col in ("accounts_start", "accounts_end"):
        out[col] = out[col].astype(int)
    out["change_accounts"] = out["accounts_end"] - out["accounts_start"]
    out["change_arr"] = out["arr_end"] - out["arr_start"]
    return out
