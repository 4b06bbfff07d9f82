"""Revenue metrics: the ARR bridge, GRR, NRR and churn."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.metrics.base import (
    EPSILON,
    Period,
    arr_on,
    check_by,
    labels_of,
    number_of,
    ratio,
    rollup,
)

BRIDGE_SUMS = [
    "accounts_start", "arr_start", "kept_arr", "arr_end_cohort", "expansion_arr",
    "expanded_accounts", "contraction_arr", "contracted_accounts", "churned_arr",
    "churned_accounts", "new_arr", "new_accounts", "arr_end", "accounts_end",
]


def account_bridge(accounts: pd.DataFrame, ledger: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Per account: ARR at the start and end of the period and where the difference went.

    The starting cohort is the accounts with ARR > 0 at the opening; accounts in a trial
    now are left out altogether. An account with no ARR at the opening but some at the
    end is new (a customer who came back after churning before the period counts as new).
    """
    base = accounts[accounts["lifecycle"] != "trial"][["account_id"]].copy()
    start = number_of(base["account_id"], arr_on(ledger, period.opening)).clip(lower=0)
    end = number_of(base["account_id"], arr_on(ledger, period.end)).clip(lower=0)
    s, e = start.to_numpy(float), end.to_numpy(float)
    cohort = s > EPSILON
    ended = e > EPSILON
    up = cohort & ended & (e > s + EPSILON)
    down = cohort & ended & (e < s - EPSILON)
    churned = cohort & ~ended
    new = ~cohort & ended
    return base.assign(
        arr_start_raw=s,
        arr_end_raw=e,
        accounts_start=cohort.astype(int),
        arr_start=np.where(cohort, s, 0.0),
        kept_arr=np.where(cohort, np.minimum(s, e), 0.0),
        arr_end_cohort=np.where(cohort, e, 0.0),
        expansion_arr=np.where(up, e - s, 0.0),
        expanded_accounts=up.astype(int),
        contraction_arr=np.where(down, s - e, 0.0),
        contracted_accounts=down.astype(int),
        churned_arr=np.where(churned, s, 0.0),
        churned_accounts=churned.astype(int),
        new_arr=np.where(new, e, 0.0),
        new_accounts=new.astype(int),
        arr_end=np.where(ended, e, 0.0),
        accounts_end=ended.astype(int),
    )


def revenue_bridge(
    accounts: pd.DataFrame, ledger: pd.DataFrame, period: Period, by: str | None = None
) -> pd.DataFrame:
    """GRR, NRR, logo and revenue churn and the ARR bridge of the period.

    GRR = Σ min(ARR_end, ARR_start) / Σ ARR_start and NRR = Σ ARR_end / Σ ARR_start, both
    over the starting cohort; logo churn = cohort accounts at 0 ARR at the end / cohort
    size; revenue churn = churned ARR / starting ARR, gross revenue churn adds
    contraction. The bridge holds: arr_start + new_arr + expansion_arr - contraction_arr
    - churned_arr = arr_end. Rates are NaN for a group without starting ARR.
    """
    check_by(by)
    per_account = account_bridge(accounts, ledger, period)
    out = rollup(per_account, labels_of(accounts, by) if by else None, BRIDGE_SUMS)
    for col in ("accounts_start", "expanded_accounts", "contracted_accounts",
                "churned_accounts", "new_accounts", "accounts_end"):
        out[col] = out[col].astype(int)
    out["grr"] = ratio(out["kept_arr"], out["arr_start"])
    out["nrr"] = ratio(out["arr_end_cohort"], out["arr_start"])
    out["logo_churn_rate"] = ratio(out["churned_accounts"], out["accounts_start"])
    out["revenue_churn_rate"] = ratio(out["churned_arr"], out["arr_start"])
    out["gross_revenue_churn_rate"] = ratio(
        out["churned_arr"] + out["contraction_arr"], out["arr_start"]
    )
    return out
