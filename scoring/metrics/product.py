"""Product and CS-impact metrics: adoption, time-to-value, and health improvement after
acknowledged alerts."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from scoring.metrics.base import (
    HEALTH_RANK,
    NO_VALUE,
    TOTAL,
    Period,
    as_days,
    check_by,
    labels_of,
    number_of,
    paying_on,
    ratio,
    rollup,
    text_of,
)


def adoption(
    accounts: pd.DataFrame,
    ledger: pd.DataFrame,
    core_days: pd.DataFrame,
    day: date,
    min_days: int,
    by: str | None = None,
) -> pd.DataFrame:
    """Share of accounts paying on ``day`` that used a core feature on ``min_days`` or more
    distinct days of the adoption window (``core_days``: account_id, days: the distinct
    days with any core-feature usage in the window, counted by the caller)."""
    check_by(by)
    paying = paying_on(accounts, ledger, day)
    counts = core_days.set_index("account_id")["days"] if not core_days.empty else pd.Series()
    used = number_of(paying["account_id"], counts).to_numpy(float)
    frame = paying[["account_id"]].assign(accounts=1, adopted=(used >= min_days).astype(int))
    out = rollup(frame, labels_of(accounts, by) if by else None, ["accounts", "adopted"])
    out = out.astype(int)
    out["adoption_rate"] = ratio(out["adopted"], out["accounts"])
    return out


def time_to_value(
    accounts: pd.DataFrame,
    first_core: pd.DataFrame,
    period: Period,
    by: str | None = None,
    usage_from: date | None = None,
) -> pd.DataFrame:
    """Days from contract start to the first core-feature use, for accounts that started
    within the period: median and 75th percentile over those that got there, and how many
    had not by the period's end (``first_core``: account_id, first_core_day, the first
    core-feature use on or after contract_start and on or before the period's end).

    Accounts that started before ``usage_from`` (the first day of stored usage) cannot be
    measured, their first use may predate the data, and are counted as ``no_usage_data``.
    """
    check_by(by)
    start = as_days(accounts["contract_start"])
    started = accounts[(start >= pd.Timestamp(period.start)) & (start <= pd.Timestamp(period.end))]
    first_day = np.full(len(started), np.datetime64("NaT"), dtype="datetime64[ns]")
    if len(started) and not first_core.empty:
        first = first_core.set_index("account_id")["first_core_day"]
        first_day = as_days(started["account_id"].map(first)).to_numpy("datetime64[ns]")
    began = as_days(started["contract_start"]).to_numpy("datetime64[ns]")
    days = pd.Series((first_day - began) / np.timedelta64(1, "D"), index=started.index)
    blind = np.zeros(len(started), bool)
    if usage_from is not None:
        blind = (as_days(started["contract_start"]) < pd.Timestamp(usage_from)).to_numpy(bool)
    frame = started[["account_id"]].assign(days=days.to_numpy(float), blind=blind)
    labels = labels_of(accounts, by)
    groups = [(TOTAL, frame)]
    if by:
        grouped = frame.assign(group=text_of(frame["account_id"], labels, NO_VALUE))
        groups += [(str(g), part) for g, part in grouped.groupby("group", sort=True)]
    rows = {}
    for name, part in groups:
        seen = part[~part["blind"]]
        reached = seen["days"].dropna()
        rows[name] = {
            "started": len(part),
            "no_usage_data": int(part["blind"].sum()),
            "reached": len(reached),
            "not_reached": len(seen) - len(reached),
            "median_days": float(reached.median()) if len(reached) else np.nan,
            "p75_days": float(reached.quantile(0.75)) if len(reached) else np.nan,
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "group"
    for col in ("started", "no_usage_data", "reached", "not_reached"):
        out[col] = out[col].astype(int)
    return out


def improvement_rate(
    accounts: pd.DataFrame,
    alerts: pd.DataFrame,
    snapshots: pd.DataFrame,
    period: Period,
    window_days: int,
    by: str | None = None,
) -> pd.DataFrame:
    """Among alerts acknowledged in the period on accounts at risk or fine (latest
    snapshot on or before the acknowledgement day), the share whose account reached a
    higher tier in a snapshot within ``window_days`` after that day.

    Only alerts whose window has closed by the period's end are measured; the others are
    counted as ``pending``. Alerts on healthy or unscored accounts are ``not_eligible``.
    """
    check_by(by)
    cols = ["acknowledged", "not_eligible", "pending", "measured", "improved"]
    acked = alerts.copy()
    if not acked.empty:
        on = as_days(acked["acknowledged_on"])
        acked = acked[(on >= pd.Timestamp(period.start)) & (on <= pd.Timestamp(period.end))]
    if acked.empty or snapshots.empty:
        frame = acked[["account_id"]].assign(acknowledged=1, not_eligible=1, pending=0,
                                             measured=0, improved=0)
    else:
        acked = acked.assign(ack=as_days(acked["acknowledged_on"]))
        snaps = snapshots.assign(day=as_days(snapshots["as_of"]),
                                 rank=snapshots["tier"].map(HEALTH_RANK))
        pairs = acked[["alert_id", "account_id", "ack"]].merge(
            snaps[["account_id", "day", "rank"]], on="account_id", how="left")
        before = pairs[pairs["day"] <= pairs["ack"]].sort_values("day")
        rank_at = before.groupby("alert_id")["rank"].last()
        end = pairs["ack"] + pd.Timedelta(days=window_days)
        after = pairs[(pairs["day"] > pairs["ack"]) & (pairs["day"] <= end)]
        best_after = after.groupby("alert_id")["rank"].max()
        rank = acked["alert_id"].map(rank_at)
        eligible = rank.isin([HEALTH_RANK["at_risk"], HEALTH_RANK["fine"]]).to_numpy(bool)
        closed = (acked["ack"] + pd.Timedelta(days=window_days)
                  <= pd.Timestamp(period.end)).to_numpy(bool)
        rose = (acked["alert_id"].map(best_after) > rank).fillna(False).to_numpy(bool)
        frame = acked[["account_id"]].assign(
            acknowledged=1,
            not_eligible=(~eligible).astype(int),
            pending=(eligible & ~closed).astype(int),
            measured=(eligible & closed).astype(int),
            improved=(eligible & closed & rose).astype(int),
        )
    out = rollup(frame, labels_of(accounts, by) if by else None, cols).astype(int)
    out["improvement_rate"] = ratio(out["improved"], out["measured"])
    return out
