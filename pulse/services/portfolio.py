"""Portfolio figures behind the manager summary and the CSM attention list.

Pure functions over a snapshot frame, so the terminal demo, the Slack digests and the
App Home all show the same numbers computed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session, aliased

from pulse.kernel.collector import collector_paused
from pulse.kernel.tiers import HEALTH_TIERS
from storage.models import Account, Owner, ScoreSnapshot

ACCOUNT_COLUMNS = (
    Account.id.label("account_id"),
    Account.name,
    Account.domain,
    Account.tier.label("account_tier"),
    Account.segment,
    Account.region,
    Account.arr,
    Account.renewal_date,
    Account.lifecycle,
    Account.do_not_contact,
    Account.salesforce_id,
    Account.hubspot_id,
    Owner.id.label("owner_id"),
    Owner.name.label("owner_name"),
    Owner.team.label("owner_team"),
    Owner.slack_user_id.label("owner_slack_id"),
)
"""The account and owner columns of a portfolio row, as :func:`load_portfolio` and
``health.account_frame`` select them (the query must outer-join ``Owner`` on the
account's owner)."""


def snapshot_dates(session: Session, as_of: date | None = None) -> tuple[date | None, date | None]:
    """The latest scoring date on or before ``as_of`` and the one before it."""
    stmt = select(func.max(ScoreSnapshot.as_of))
    if as_of is not None:
        stmt = stmt.where(ScoreSnapshot.as_of <= as_of)
    latest = session.scalar(stmt)
    if latest is None:
        return None, None
    prev = session.scalar(select(func.max(ScoreSnapshot.as_of)).where(ScoreSnapshot.as_of < latest))
    return latest, prev


def load_portfolio(
    session: Session, as_of: date | None = None, where: ColumnElement[bool] | None = None
) -> pd.DataFrame:
    """One row per scored account: account facts, owner, latest and previous snapshot.

    ``where`` filters accounts in SQL (a viewer's scope), so a CSM's list never has to
    decode the snapshots of the whole portfolio.
    """
    latest, prev = snapshot_dates(session, as_of)
    if latest is None:
        return pd.DataFrame()
    manager = aliased(Owner)
    stmt = (
        select(
            *ACCOUNT_COLUMNS,
            manager.id.label("manager_id"),
            manager.name.label("manager_name"),
            ScoreSnapshot.as_of,
            ScoreSnapshot.score,
            ScoreSnapshot.tier.label("health_tier"),
            ScoreSnapshot.components,
            ScoreSnapshot.flags,
            ScoreSnapshot.reasons,
            ScoreSnapshot.expansion_score,
            ScoreSnapshot.renewal_risk,
        )
        .join(ScoreSnapshot, ScoreSnapshot.account_id == Account.id)
        .outerjoin(Owner, Owner.id == Account.owner_id)
        .outerjoin(manager, manager.id == Owner.manager_id)
        .where(ScoreSnapshot.as_of == latest)
    )
    if where is not None:
        stmt = stmt.where(where)
    with collector_paused():  # each row's explanation: many small containers
        df = pd.DataFrame(session.execute(stmt).mappings().all())
    if df.empty:
        return df
    if prev is not None:
        prev_df = pd.DataFrame(
            session.execute(
                select(
                    ScoreSnapshot.account_id,
                    ScoreSnapshot.score.label("prev_score"),
                    ScoreSnapshot.tier.label("prev_tier"),
                ).where(
                    ScoreSnapshot.as_of == prev,
                    ScoreSnapshot.account_id.in_(select(Account.id).where(where))
                    if where is not None
                    else true(),
                )
            ).all(),
            columns=["account_id", "prev_score", "prev_tier"],
        )
        df = df.merge(prev_df, on="account_id", how="left")
    else:
        df["prev_score"] = float("nan")
        df["prev_tier"] = None
    df["prev_as_of"] = prev
    df["change"] = (df["score"] - df["prev_score"]).round(1)
    df["arr"] = df["arr"].fillna(0.0)
    df["days_to_renewal"] = (pd.to_datetime(df["renewal_date"]) - pd.Timestamp(latest)).dt.days
    df["flag_count"] = df["flags"].map(len)
    df["critical_flags"] = df["flags"].map(
        lambda flags: sum(1 for f in flags if f.get("severity") == "critical")
    )
    return df


@dataclass(frozen=True)
class ManagerSummary:
    as_of: date
    prev_as_of: date | None
    accounts: int
    average_score: float
    average_change: float | None
    distribution: pd.DataFrame  # index tier: count, prev, change, arr
    at_risk_arr: float
    at_risk_arr_renewing: float
    total_arr: float
    top_drops: pd.DataFrame
    top_rises: pd.DataFrame
    renewals_by_risk: pd.DataFrame  # index renewal_risk: accounts, arr
    flag_counts: pd.Series


def manager_summary(
    df: pd.DataFrame, renewal_window_days: int = 90, movers: int = 5
) -> ManagerSummary:
    """The CS manager's portfolio view: distribution, at-risk ARR, movers, renewals."""
    now = df["health_tier"].value_counts().reindex(HEALTH_TIERS, fill_value=0)
    prev = df["prev_tier"].value_counts().reindex(HEALTH_TIERS, fill_value=0)
    arr = df.groupby("health_tier")["arr"].sum().reindex(HEALTH_TIERS, fill_value=0.0)
    distribution = pd.DataFrame({"count": now, "prev": prev, "change": now - prev, "arr": arr})
    at_risk = df["health_tier"] == "at_risk"
    renewing = df["days_to_renewal"].between(0, renewal_window_days)
    moved = df.dropna(subset=["change"])
    cols = ["name", "owner_name", "prev_score", "score", "change", "health_tier", "arr"]
    window = df[renewing]
    renewals = (
        window.groupby("renewal_risk")
        .agg(accounts=("account_id", "count"), arr=("arr", "sum"))
        .reindex(["high", "medium", "low"], fill_value=0)
    )
    flag_codes = df["flags"].explode().dropna().map(lambda f: f.get("label", f.get("code")))
    has_prev = df["prev_score"].notna().any()
    return ManagerSummary(
        as_of=df["as_of"].iloc[0],
        prev_as_of=df["prev_as_of"].iloc[0],
        accounts=len(df),
        average_score=round(float(df["score"].mean()), 1),
        average_change=round(float(df["change"].mean()), 1) if has_prev else None,
        distribution=distribution,
        at_risk_arr=float(df.loc[at_risk, "arr"].sum()),
        at_risk_arr_renewing=float(df.loc[at_risk & renewing, "arr"].sum()),
        total_arr=float(df["arr"].sum()),
        top_drops=moved[moved["change"] < 0].nsmallest(movers, "change")[cols],
        top_rises=moved[moved["change"] > 0].nlargest(movers, "change")[cols],
        renewals_by_risk=renewals,
        flag_counts=flag_codes.value_counts(),
    )


def attention_list(
    df: pd.DataFrame, owner_id: int, renewal_window_days: int = 90, drop_points: float = 5.0
) -> pd.DataFrame:
    """A CSM's accounts that need attention today, most urgent first, each with why.

    An account needs attention when it carries a churn flag, dropped ``drop_points`` or
    more since the last run, or is at risk with its renewal inside the window.
    """
    mine = df[df["owner_id"] == owner_id].copy()
    mine["dropped"] = mine["change"].fillna(0) <= -drop_points
    mine["at_risk_renewing"] = (mine["health_tier"] == "at_risk") & mine["days_to_renewal"].between(
        0, renewal_window_days
    )
    mine = mine[mine["dropped"] | mine["at_risk_renewing"] | (mine["flag_count"] > 0)].copy()
    why_flags = mine["flags"].map(lambda flags: "; ".join(f["label"] for f in flags))
    why_drop = (
        mine["change"].map(lambda c: f"score {c:+.1f} since last run").where(mine["dropped"], "")
    )
    why_renewal = mine["days_to_renewal"].map(lambda d: f"at risk, renews in {d:.0f} days")
    why_renewal = why_renewal.where(mine["at_risk_renewing"], "")
    mine["why"] = [
        "; ".join(part for part in parts if part)
        for parts in zip(why_flags, why_drop, why_renewal, strict=True)
    ]
    mine["urgency"] = (
        mine["critical_flags"] * 30
        + mine["flag_count"] * 10
        + (-mine["change"].fillna(0)).clip(lower=0)
        + mine["at_risk_renewing"].astype(int) * 25
        + (100 - mine["score"]) / 10
    )
    return mine.sort_values(["urgency", "arr"], ascending=False)


def expansion_candidates(
    df: pd.DataFrame, owner_id: int | None = None, threshold: float = 60.0, limit: int = 10
) -> pd.DataFrame:
    """Healthy-enough accounts whose expansion signal is strong, strongest first."""
    pool = df if owner_id is None else df[df["owner_id"] == owner_id]
    pool = pool[(pool["expansion_score"] >= threshold) & (pool["health_tier"] != "at_risk")]
    return pool.sort_values("expansion_score", ascending=False).head(limit)
