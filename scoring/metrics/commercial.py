"""Commercial metrics: renewals by risk and the expansion forecast."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from scoring.metrics.base import (
    NO_VALUE,
    RENEWAL_RISKS,
    TOTAL,
    UNSCORED,
    as_days,
    check_by,
    labels_of,
    paying_on,
    rollup,
    snapshot_on,
    text_of,
)


def renewal_pipeline(
    accounts: pd.DataFrame,
    ledger: pd.DataFrame,
    snapshots: pd.DataFrame,
    opportunities: pd.DataFrame,
    day: date,
    window_days: int,
    by: str | None = None,
) -> pd.DataFrame:
    """Accounts paying on ``day`` that renew within ``window_days`` (both days included),
    and the open renewal opportunities closing then, by renewal risk of the account's
    latest snapshot on or before ``day`` (UNSCORED without one). Index (group, risk)."""
    check_by(by)
    lo, hi = pd.Timestamp(day), pd.Timestamp(day + timedelta(days=window_days))
    latest = snapshot_on(snapshots, day)
    risk_of = latest["renewal_risk"] if not latest.empty else pd.Series(dtype=object)
    paying = paying_on(accounts, ledger, day)
    renewal = as_days(paying["renewal_date"])
    due = paying[((renewal >= lo) & (renewal <= hi)).fillna(False).to_numpy(bool)]
    acc = due[["account_id"]].assign(
        accounts=1, arr=due["arr"].to_numpy(), opportunities=0, opportunity_amount=0.0)
    opps = opportunities
    if not opps.empty:
        close = as_days(opps["close_date"])
        opps = opps[(opps["kind"] == "renewal") & ~opps["is_closed"].astype(bool)
                    & (close >= lo) & (close <= hi)]
    opp = pd.DataFrame({
        "account_id": opps["account_id"].to_numpy() if not opps.empty else [],
        "accounts": 0, "arr": 0.0, "opportunities": 1,
        "opportunity_amount": opps["amount"].fillna(0.0).to_numpy(float)
        if not opps.empty else [],
    })
    frame = pd.concat([acc, opp], ignore_index=True)
    frame["risk"] = text_of(frame["account_id"], risk_of, UNSCORED)
    labels = labels_of(accounts, by)
    frame["group"] = text_of(frame["account_id"], labels, NO_VALUE)
    cols = ["accounts", "arr", "opportunities", "opportunity_amount"]
    parts = [frame.assign(group=TOTAL)] + ([frame] if by else [])
    out = pd.concat(parts).groupby(["group", "risk"])[cols].sum()
    groups = [TOTAL] + (sorted(set(labels.to_numpy())) if by else [])
    index = pd.MultiIndex.from_product([groups, list(RENEWAL_RISKS)], names=["group", "risk"])
    out = out.reindex(index).fillna(0)
    for col in ("accounts", "opportunities"):
        out[col] = out[col].astype(int)
    return out


@dataclass(frozen=True)
class Forecast:
    """The expansion forecast: per group, per stage, and the stages no probability names."""

    by_group: pd.DataFrame  # index group: opportunities, amount, weighted
    by_stage: pd.DataFrame  # index stage: probability, known, opportunities, amount, weighted
    unknown_stages: list[str]
    default_probability: float


def stage_probability(
    stage: object, probabilities: Mapping[str, float], default: float
) -> tuple[float, bool]:
    """(probability, known) of a stage name, matched ignoring case and spaces."""
    lookup = {k.strip().lower(): v for k, v in probabilities.items()}
    key = str(stage).strip().lower() if stage is not None and not pd.isna(stage) else ""
    if key in lookup:
        return float(lookup[key]), True
    return float(default), False


def expansion_forecast(
    accounts: pd.DataFrame,
    opportunities: pd.DataFrame,
    probabilities: Mapping[str, float],
    default_probability: float,
    by: str | None = None,
) -> Forecast:
    """Σ amount × stage probability over open expansion opportunities (whatever their
    close date). A stage not in ``probabilities`` gets ``default_probability`` and is
    named in ``unknown_stages``; an opportunity without an amount counts as 0."""
    check_by(by)
    opps = opportunities
    if not opps.empty:
        opps = opps[(opps["kind"] == "expansion") & ~opps["is_closed"].astype(bool)]
    opps = opps.copy()
    stage = (opps["stage"].astype(object).where(opps["stage"].notna(), NO_VALUE)
             if not opps.empty else pd.Series(dtype=object))
    looked = [stage_probability(s, probabilities, default_probability) for s in stage]
    amount = opps["amount"].fillna(0.0).astype(float) if not opps.empty else pd.Series(
        dtype=float)
    frame = pd.DataFrame({
        "account_id": opps["account_id"].to_numpy() if not opps.empty else [],
        "stage": stage.map(lambda s: str(s).strip() or NO_VALUE).to_numpy(),
        "probability": [p for p, _ in looked],
        "known": [k for _, k in looked],
        "opportunities": 1,
        "amount": amount.to_numpy(),
    })
    frame["weighted"] = frame["amount"] * frame["probability"]
    by_group = rollup(frame, labels_of(accounts, by) if by else None,
                       ["opportunities", "amount", "weighted"])
    by_group["opportunities"] = by_group["opportunities"].astype(int)
    by_stage = (frame.groupby("stage", sort=False)
                .agg(probability=("probability", "first"), known=("known", "first"),
                     opportunities=("opportunities", "sum"), amount=("amount", "sum"),
                     weighted=("weighted", "sum"))
                .sort_values("probability"))
    unknown = sorted(frame.loc[~frame["known"].astype(bool), "stage"].unique().tolist())
    return Forecast(by_group, by_stage, unknown, float(default_probability))
