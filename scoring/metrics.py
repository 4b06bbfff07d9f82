"""Portfolio metrics (retention, churn, at-risk ARR, adoption, ...) as pure functions.

Each function takes DataFrames (no database) and returns one row per group: the first
row, labelled :data:`TOTAL`, covers every account; with ``by`` (one of
:data:`BREAKDOWNS`) one row per value of that account attribute follows. Counts and
amounts of the group rows add up to the total row; rates are recomputed from each row's
own counts and amounts, never averaged. Every definition, with its formula and edge
cases, is in docs/metrics.md; the service (``pulse.services.metrics``) loads the frames.

Frames, by column:

* ``accounts``: account_id, segment, region, tier (commercial: smb / mid-market /
  enterprise), csm (owner name), health (tier on the end date, see :func:`with_health`),
  lifecycle, contract_start, renewal_date;
* ``ledger``: account_id, effective_on, arr: the ARR ledger (``storage.models.ArrChange``);
* ``snapshots``: account_id, as_of, tier, renewal_risk (score snapshots);
* ``alerts``: alert_id, account_id, acknowledged_on (date);
* ``opportunities``: account_id, kind, stage, amount, close_date, is_closed.

A period is a first and last day, both included: start-of-period figures are taken at
the close of the day before the first day (:attr:`Period.opening`), end-of-period figures
at the close of the last day, so a change effective on the first day belongs to the
period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from pulse.kernel.breakdowns import BREAKDOWNS
from pulse.kernel.tiers import HEALTH_TIERS

TOTAL = "All accounts"
NO_VALUE = "(none)"
UNSCORED = "unscored"
HEALTH_RANK = {"at_risk": 0, "fine": 1, "healthy": 2}
RENEWAL_RISKS = ("high", "medium", "low", UNSCORED)
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


# --- shared helpers ----------------------------------------------------------------------


def _check_by(by: str | None) -> None:
    if by is not None and by not in BREAKDOWNS:
        raise ValueError(f"unknown breakdown '{by}' (one of {', '.join(BREAKDOWNS)})")


def _days(values: pd.Series) -> pd.Series:
    """Dates as datetime64, whatever the driver handed back (date, str, Timestamp)."""
    return pd.to_datetime(values)


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den, NaN where den is 0: a rate over nothing is not 0%, it is no rate."""
    den = den.astype(float)
    return (num.astype(float) / den.where(den != 0)).astype(float)


def _text_of(keys: pd.Series, mapping: pd.Series, default: str) -> pd.Series:
    """``mapping[key]`` for each key as text, ``default`` where it has none (also on empty
    frames, where pandas would otherwise guess the dtypes)."""
    out = pd.Series(default, index=keys.index, dtype=object)
    if len(keys) and len(mapping):
        found = keys.map(mapping)
        out = found.astype(object).where(found.notna(), default)
    return out


def _number_of(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """``mapping[key]`` for each key as a float, 0 where it has none."""
    out = pd.Series(0.0, index=keys.index, dtype=float)
    if len(keys) and len(mapping):
        out = pd.to_numeric(keys.map(mapping), errors="coerce").astype(float).fillna(0.0)
    return out


def _labels(accounts: pd.DataFrame, by: str | None) -> pd.Series:
    """Each account's group label (index account_id); NO_VALUE where the attribute is empty."""
    if by is None:
        return pd.Series(TOTAL, index=accounts["account_id"].to_numpy(), dtype=object)
    values = accounts[by].astype(object).where(accounts[by].notna(), NO_VALUE)
    values = values.map(lambda v: str(v).strip() or NO_VALUE)
    return pd.Series(values.to_numpy(), index=accounts["account_id"].to_numpy(), dtype=object)


def _rollup(frame: pd.DataFrame, labels: pd.Series | None, columns: list[str]) -> pd.DataFrame:
    """Sums of ``columns``: a TOTAL row, then one row per label (sorted), index "group".

    ``frame`` has an ``account_id`` column; ``labels`` maps account_id to a group.
    """
    total = frame[columns].sum().to_frame(TOTAL).T
    parts = [total]
    if labels is not None:
        grouped = frame.assign(group=_text_of(frame["account_id"], labels, NO_VALUE))
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
    rows = ledger[_days(ledger["effective_on"]) <= pd.Timestamp(day)]
    latest = rows.sort_values(["account_id", "effective_on"]).groupby("account_id").tail(1)
    return latest.set_index("account_id")["arr"].astype(float)


def snapshot_on(snapshots: pd.DataFrame, day: date) -> pd.DataFrame:
    """Each account's latest snapshot on or before ``day`` (index account_id)."""
    if snapshots.empty:
        return pd.DataFrame(columns=["as_of", "tier", "renewal_risk"])
    rows = snapshots[_days(snapshots["as_of"]) <= pd.Timestamp(day)]
    latest = rows.sort_values(["account_id", "as_of"]).groupby("account_id").tail(1)
    return latest.set_index("account_id")


def with_health(accounts: pd.DataFrame, snapshots: pd.DataFrame, day: date) -> pd.DataFrame:
    """``accounts`` with a ``health`` column: the tier of each account's latest snapshot
    on or before ``day`` (UNSCORED when it has none): the ``by="health"`` breakdown."""
    tiers = snapshot_on(snapshots, day)["tier"] if not snapshots.empty else pd.Series()
    return accounts.assign(health=_text_of(accounts["account_id"], tiers, UNSCORED))


def _paying(accounts: pd.DataFrame, ledger: pd.DataFrame, day: date) -> pd.DataFrame:
    """Accounts paying at the close of ``day`` (ARR > 0), with that ``arr``."""
    arr = _number_of(accounts["account_id"], arr_on(ledger, day))
    paying = accounts.assign(arr=arr.to_numpy())
    return paying[paying["arr"] > EPSILON]


# --- revenue: the ARR bridge, GRR, NRR and churn ---------------------------------------


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
    start = _number_of(base["account_id"], arr_on(ledger, period.opening)).clip(lower=0)
    end = _number_of(base["account_id"], arr_on(ledger, period.end)).clip(lower=0)
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
    _check_by(by)
    per_account = account_bridge(accounts, ledger, period)
    out = _rollup(per_account, _labels(accounts, by) if by else None, BRIDGE_SUMS)
    for col in ("accounts_start", "expanded_accounts", "contracted_accounts",
                "churned_accounts", "new_accounts", "accounts_end"):
        out[col] = out[col].astype(int)
    out["grr"] = _ratio(out["kept_arr"], out["arr_start"])
    out["nrr"] = _ratio(out["arr_end_cohort"], out["arr_start"])
    out["logo_churn_rate"] = _ratio(out["churned_accounts"], out["accounts_start"])
    out["revenue_churn_rate"] = _ratio(out["churned_arr"], out["arr_start"])
    out["gross_revenue_churn_rate"] = _ratio(
        out["churned_arr"] + out["contraction_arr"], out["arr_start"]
    )
    return out


# --- health: at-risk ARR, distribution and its change ----------------------------------


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
    _check_by(by)
    paying = _paying(accounts, ledger, day)
    latest = snapshot_on(snapshots, day)
    tiers = latest["tier"] if not latest.empty else pd.Series(dtype=object)
    at_risk = (_text_of(paying["account_id"], tiers, UNSCORED) == "at_risk").to_numpy(bool)
    renewal = _days(paying["renewal_date"])
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
    out = _rollup(frame, _labels(accounts, by) if by else None, cols)
    for col in ("accounts", "at_risk_accounts", "renewing_accounts"):
        out[col] = out[col].astype(int)
    out["at_risk_share"] = _ratio(out["at_risk_arr"], out["arr"])
    return out


def _tier_frame(
    accounts: pd.DataFrame, ledger: pd.DataFrame, snapshots: pd.DataFrame, day: date
) -> pd.DataFrame:
    paying = _paying(accounts, ledger, day)
    latest = snapshot_on(snapshots, day)
    tiers = latest["tier"] if not latest.empty else pd.Series(dtype=object)
    return paying[["account_id", "arr"]].assign(
        health_tier=_text_of(paying["account_id"], tiers, UNSCORED))


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
    _check_by(by)
    labels = _labels(accounts, by)
    tiers = [*HEALTH_TIERS, UNSCORED]
    frames = []
    for suffix, day in (("start", period.opening), ("end", period.end)):
        f = _tier_frame(accounts, ledger, snapshots, day)
        f = f.assign(group=_text_of(f["account_id"], labels, NO_VALUE))
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


# --- product: adoption and time-to-value -------------------------------------------------


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
    _check_by(by)
    paying = _paying(accounts, ledger, day)
    counts = core_days.set_index("account_id")["days"] if not core_days.empty else pd.Series()
    used = _number_of(paying["account_id"], counts).to_numpy(float)
    frame = paying[["account_id"]].assign(accounts=1, adopted=(used >= min_days).astype(int))
    out = _rollup(frame, _labels(accounts, by) if by else None, ["accounts", "adopted"])
    out = out.astype(int)
    out["adoption_rate"] = _ratio(out["adopted"], out["accounts"])
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
    _check_by(by)
    start = _days(accounts["contract_start"])
    started = accounts[(start >= pd.Timestamp(period.start)) & (start <= pd.Timestamp(period.end))]
    first_day = np.full(len(started), np.datetime64("NaT"), dtype="datetime64[ns]")
    if len(started) and not first_core.empty:
        first = first_core.set_index("account_id")["first_core_day"]
        first_day = _days(started["account_id"].map(first)).to_numpy("datetime64[ns]")
    began = _days(started["contract_start"]).to_numpy("datetime64[ns]")
    days = pd.Series((first_day - began) / np.timedelta64(1, "D"), index=started.index)
    blind = np.zeros(len(started), bool)
    if usage_from is not None:
        blind = (_days(started["contract_start"]) < pd.Timestamp(usage_from)).to_numpy(bool)
    frame = started[["account_id"]].assign(days=days.to_numpy(float), blind=blind)
    labels = _labels(accounts, by)
    groups = [(TOTAL, frame)]
    if by:
        grouped = frame.assign(group=_text_of(frame["account_id"], labels, NO_VALUE))
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


# --- CS impact: health improvement after acknowledged alerts ----------------------------


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
    _check_by(by)
    cols = ["acknowledged", "not_eligible", "pending", "measured", "improved"]
    acked = alerts.copy()
    if not acked.empty:
        on = _days(acked["acknowledged_on"])
        acked = acked[(on >= pd.Timestamp(period.start)) & (on <= pd.Timestamp(period.end))]
    if acked.empty or snapshots.empty:
        frame = acked[["account_id"]].assign(acknowledged=1, not_eligible=1, pending=0,
                                             measured=0, improved=0)
    else:
        acked = acked.assign(ack=_days(acked["acknowledged_on"]))
        snaps = snapshots.assign(day=_days(snapshots["as_of"]),
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
    out = _rollup(frame, _labels(accounts, by) if by else None, cols).astype(int)
    out["improvement_rate"] = _ratio(out["improved"], out["measured"])
    return out


# --- commercial: renewals by risk and the expansion forecast ---------------------------


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
    _check_by(by)
    lo, hi = pd.Timestamp(day), pd.Timestamp(day + timedelta(days=window_days))
    latest = snapshot_on(snapshots, day)
    risk_of = latest["renewal_risk"] if not latest.empty else pd.Series(dtype=object)
    paying = _paying(accounts, ledger, day)
    renewal = _days(paying["renewal_date"])
    due = paying[((renewal >= lo) & (renewal <= hi)).fillna(False).to_numpy(bool)]
    acc = due[["account_id"]].assign(
        accounts=1, arr=due["arr"].to_numpy(), opportunities=0, opportunity_amount=0.0)
    opps = opportunities
    if not opps.empty:
        close = _days(opps["close_date"])
        opps = opps[(opps["kind"] == "renewal") & ~opps["is_closed"].astype(bool)
                    & (close >= lo) & (close <= hi)]
    opp = pd.DataFrame({
        "account_id": opps["account_id"].to_numpy() if not opps.empty else [],
        "accounts": 0, "arr": 0.0, "opportunities": 1,
        "opportunity_amount": opps["amount"].fillna(0.0).to_numpy(float)
        if not opps.empty else [],
    })
    frame = pd.concat([acc, opp], ignore_index=True)
    frame["risk"] = _text_of(frame["account_id"], risk_of, UNSCORED)
    labels = _labels(accounts, by)
    frame["group"] = _text_of(frame["account_id"], labels, NO_VALUE)
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
    _check_by(by)
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
    by_group = _rollup(frame, _labels(accounts, by) if by else None,
                       ["opportunities", "amount", "weighted"])
    by_group["opportunities"] = by_group["opportunities"].astype(int)
    by_stage = (frame.groupby("stage", sort=False)
                .agg(probability=("probability", "first"), known=("known", "first"),
                     opportunities=("opportunities", "sum"), amount=("amount", "sum"),
                     weighted=("weighted", "sum"))
                .sort_values("probability"))
    unknown = sorted(frame.loc[~frame["known"].astype(bool), "stage"].unique().tolist())
    return Forecast(by_group, by_stage, unknown, float(default_probability))
