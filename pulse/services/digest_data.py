"""Data behind the morning digests and the App Home.

Figures come from :mod:`pulse.services.portfolio` (``load_portfolio``, ``manager_summary``,
``attention_list``, ``expansion_candidates``) so a digest, the App Home and
``pulse demo`` never disagree. Builders cut long lists; services return them whole.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import Exists, exists, func, or_, select
from sqlalchemy.orm import Session

from digests.override_blocks import override_text
from digests.text import esc
from digests.views import (
    AccountLine,
    BaselineNote,
    CsmDigest,
    HomeView,
    ManagerDigest,
    RenewalRow,
    RetentionLine,
    TierRow,
)
from pulse.kernel.config import PulseConfig, UsageEngineConfig
from pulse.services.access import Viewer, visible
from pulse.services.alert_outcomes import OUTCOME_WINDOW_DAYS, alert_outcomes, outcomes_due
from pulse.services.alerts import BASELINE, LIVE_STATUSES, open_alert_counts
from pulse.services.alerts.bundles import held_for_digest
from pulse.services.health import account_lines, expansion_why, scoped_portfolio, urgency_order
from pulse.services.metrics import retention_figures
from pulse.services.overrides import manager_overrides
from pulse.services.portfolio import (
    HEALTH_TIERS,
    attention_list,
    expansion_candidates,
    load_portfolio,
    manager_summary,
    snapshot_dates,
)
from pulse.services.preferences import followed_accounts
from scoring.freshness import freshness, stale_parts
from scoring.peers import weakest_peer_note
from storage.models import Account, Alert, Owner, PlaybookFiring, ScoreSnapshot

RENEWAL_RISKS = ("high", "medium", "low")


def _date(value: object) -> date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _open_alerts(session: Session, frame: pd.DataFrame) -> int:
    if frame.empty:
        return 0
    return sum(open_alert_counts(session, [int(a) for a in frame["account_id"]]).values())


def csm_digest(session: Session, config: PulseConfig, owner_id: int, now: datetime) -> CsmDigest:
    """A CSM's morning DM: their accounts needing attention, expansion candidates, and the
    new alerts of the last day that were not sent by DM (``alerts.dm_*``).

    Raises LookupError for an unknown owner id (a stale recipient list).
    """
    owner = session.get(Owner, owner_id)
    if owner is None:
        raise LookupError(f"Owner {owner_id} does not exist.")
    today = now.date()
    df = load_portfolio(session, today)
    if df.empty:
        return CsmDigest(owner.name, today, 0, [], [], 0)
    mine = df[df["owner_id"] == owner_id]
    attention = attention_list(
        df, owner_id, config.scoring.renewal_window_days, config.scoring.flags.score_drop_points
    )
    upsell = expansion_candidates(df, owner_id, limit=max(len(mine), 1))
    return CsmDigest(
        csm_name=owner.name,
        as_of=_date(df["as_of"].iloc[0]) or today,
        accounts_total=len(mine),
        attention=account_lines(session, attention, today, config.scoring.usage),
        expansion=account_lines(
            session,
            upsell,
            today,
            config.scoring.usage,
            why=expansion_why(upsell, config),
        ),
        open_alerts=_open_alerts(session, mine),
        held_back=held_back(session, owner_id, now),
        stale=stale_parts(freshness(session, config, now)),
        held_alerts=held_for_digest(session, [int(a) for a in mine["account_id"]], now),
        following=_followed_lines(session, df, owner, today, config.scoring.usage),
    )


def _followed_lines(
    session: Session, df: pd.DataFrame, owner: Owner, today: date, usage: UsageEngineConfig
) -> list[AccountLine]:
    """The accounts the CSM follows but does not own, with their change since last run."""
    followed = followed_accounts(session, owner.slack_user_id) if owner.slack_user_id else set()
    rows = df[df["account_id"].isin(followed) & (df["owner_id"] != owner.id)]
    if rows.empty:
        return []
    why = [f"score {c:+.1f} since last run" if pd.notna(c) else "first scoring"
           for c in rows["change"]]
    return account_lines(session, rows, today, usage, why=why)


def held_back(session: Session, owner_id: int, now: datetime) -> list[tuple[str, str, str]]:
    """Playbook firings of the last day the per-CSM cap turned into digest lines."""
    rows = session.execute(
        select(Account.name, PlaybookFiring.playbook, PlaybookFiring.reason)
        .join(Account, Account.id == PlaybookFiring.account_id)
        .where(
            PlaybookFiring.owner_id == owner_id,
            PlaybookFiring.status == "deferred",
            PlaybookFiring.fired_at > now - timedelta(days=1),
        )
        .order_by(PlaybookFiring.fired_at, PlaybookFiring.id)
    ).all()
    return [(str(a), str(p), str(r)) for a, p, r in rows]


def _rate(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def retention_line(
    session: Session, config: PulseConfig, end: date, owner_ids: set[int] | None
) -> RetentionLine | None:
    """GRR, NRR and logo churn over the trailing ``metrics.period_months`` to ``end`` and
    the expansion forecast, for the accounts of ``owner_ids`` (None: all); None while the
    scope has no ARR history, so the digest says nothing rather than "0%"."""
    figures = retention_figures(session, config, end, owner_ids)
    if not figures.ledger_rows:
        return None
    r, forecast = figures.revenue, figures.forecast.by_group.iloc[0]
    return RetentionLine(
        start=figures.period.start,
        end=figures.period.end,
        months=config.metrics.period_months,
        accounts_start=int(r["accounts_start"]),
        arr_start=float(r["arr_start"]),
        kept_arr=float(r["kept_arr"]),
        arr_end_cohort=float(r["arr_end_cohort"]),
        churned_accounts=int(r["churned_accounts"]),
        grr=_rate(r["grr"]),
        nrr=_rate(r["nrr"]),
        logo_churn_rate=_rate(r["logo_churn_rate"]),
        expansion_forecast=float(forecast["weighted"]),
        expansion_opportunities=int(forecast["opportunities"]),
        expansion_amount=float(forecast["amount"]),
    )


def _team_owner_ids(session: Session, manager_id: int) -> set[int]:
    """The manager and the owners reporting directly to them (the manager scope of access)."""
    return set(
        session.scalars(
            select(Owner.id).where(or_(Owner.manager_id == manager_id, Owner.id == manager_id))
        )
    )


def manager_digest(
    session: Session, config: PulseConfig, manager_id: int | None, now: datetime
) -> ManagerDigest:
    """A manager's team portfolio (``manager_id``), or every account (``None``).

    The scope name is the manager's team, else "<name>'s team"; "All accounts" for the
    whole portfolio (e.g. the digest channel). Raises LookupError for an unknown manager.
    """
    window = config.scoring.renewal_window_days
    today = now.date()
    scope, team = _manager_scope(session, manager_id)
    df = load_portfolio(session, today)
    if not df.empty and team is not None:
        df = df[df["owner_id"].isin(team)]
    if df.empty:
        return _empty_manager_digest(session, scope, today, window)
    summary = manager_summary(df, window, movers=config.slack.digest_limit)
    prev_as_of = _date(summary.prev_as_of)
    distribution = [
        TierRow(
            tier=str(tier),
            count=int(row["count"]),
            change=int(row["change"]) if prev_as_of is not None else None,
            arr=float(row["arr"]),
        )
        for tier, row in summary.distribution.iterrows()
    ]
    drops = df.loc[summary.top_drops.index]
    rises = df.loc[summary.top_rises.index]
    as_of = _date(summary.as_of) or today
    return ManagerDigest(
        scope=scope,
        as_of=as_of,
        prev_as_of=prev_as_of,
        accounts_total=summary.accounts,
        average_score=summary.average_score,
        average_change=summary.average_change,
        distribution=distribution,
        at_risk_arr=summary.at_risk_arr,
        at_risk_arr_renewing=summary.at_risk_arr_renewing,
        total_arr=summary.total_arr,
        drops=account_lines(
            session, drops, today, config.scoring.usage,
            why=[f"score {c:+.1f} since last run" for c in drops["change"]],
        ),
        rises=account_lines(
            session, rises, today, config.scoring.usage,
            why=[f"score {c:+.1f} since last run" for c in rises["change"]],
        ),
        renewals=[
            RenewalRow(risk=str(risk), accounts=int(row["accounts"]), arr=float(row["arr"]))
            for risk, row in summary.renewals_by_risk.iterrows()
        ],
        renewal_window_days=window,
        retention=retention_line(session, config, as_of, team),
        csm_entries=[
            (f"*{esc(line.account_name, 150)}*: {override_text(line)}", dis)
            for line, dis in manager_overrides(
                session, [int(a) for a in df["account_id"]], today, config.scoring.tiers
            )
        ],
        stale=stale_parts(freshness(session, config, now)),
        catch_all_alerts=catch_all_alerts(session, team),
        catch_all_channel=config.slack.catch_all,
        unreachable=unreachable_owners(session, team),
        outcomes=alert_outcomes(session, team, now) if outcomes_due(config, now) else None,
        outcome_days=OUTCOME_WINDOW_DAYS,
    )


def catch_all_alerts(session: Session, owner_ids: set[int] | None) -> int:
    """Live alerts on the accounts of ``owner_ids`` (None: every account) whose card went
    to the catch-all channel because the owner had no Slack user."""
    stmt = (
        select(func.count())
        .select_from(Alert)
        .join(Account, Account.id == Alert.account_id)
        .where(Alert.catch_all.is_(True), Alert.status.in_(LIVE_STATUSES))
    )
    if owner_ids is not None:
        stmt = stmt.where(Account.owner_id.in_(sorted(owner_ids)))
    return int(session.scalar(stmt) or 0)


def _owns_accounts() -> Exists:
    """The owner (``Owner``, correlated) owns at least one account not deleted in the CRM."""
    return exists().where(Account.owner_id == Owner.id, Account.deleted_at.is_(None))


def unreachable_owners(session: Session, owner_ids: set[int] | None) -> list[str]:
    """Names of the owners among ``owner_ids`` (None: all) who own accounts (not deleted in
    the CRM) and have no Slack user (``pulse people`` says why)."""
    owns = _owns_accounts()
    stmt = select(Owner.name).where(
        or_(Owner.slack_user_id.is_(None), Owner.slack_user_id == ""), owns
    )
    if owner_ids is not None:
        stmt = stmt.where(Owner.id.in_(sorted(owner_ids)))
    return [str(n) for n in session.scalars(stmt.order_by(Owner.name, Owner.id))]


def _manager_scope(session: Session, manager_id: int | None) -> tuple[str, set[int] | None]:
    """The digest's scope name and its owners (None: every account)."""
    if manager_id is None:
        return "All accounts", None
    manager = session.get(Owner, manager_id)
    if manager is None:
        raise LookupError(f"Owner {manager_id} does not exist.")
    return manager.team or f"{manager.name}'s team", _team_owner_ids(session, manager_id)


def _empty_manager_digest(session: Session, scope: str, today: date, window: int) -> ManagerDigest:
    """The digest of a scope without scored accounts: zeros, every tier and risk listed."""
    latest, prev = snapshot_dates(session, today)
    return ManagerDigest(
        scope=scope,
        as_of=latest or today,
        prev_as_of=prev,
        accounts_total=0,
        average_score=0.0,
        average_change=None,
        distribution=[TierRow(t, 0, None, 0.0) for t in HEALTH_TIERS],
        at_risk_arr=0.0,
        at_risk_arr_renewing=0.0,
        total_arr=0.0,
        drops=[],
        rises=[],
        renewals=[RenewalRow(r, 0, 0.0) for r in RENEWAL_RISKS],
        renewal_window_days=window,
    )


def home_view(session: Session, config: PulseConfig, viewer: Viewer, now: datetime) -> HomeView:
    """The App Home: every account in scope, those needing attention first.

    Accounts needing attention come in ``attention_list``'s urgency order (with its
    reasons); the rest follow, lowest score first, larger ARR first on ties.
    """
    df = scoped_portfolio(session, viewer, now)
    today = now.date()
    open_alerts = int(
        session.scalar(
            select(func.count())
            .select_from(Alert)
            .join(Account, Account.id == Alert.account_id)
            .where(Alert.status == "open", visible(session, viewer))
        )
        or 0
    )
    if df.empty:
        return HomeView(viewer.name, viewer.role, None, [], open_alerts)
    urgent = urgency_order(df, config)
    rest = df.drop(index=urgent.index).sort_values(["score", "arr"], ascending=[True, False])
    ordered = pd.concat([urgent, rest.assign(why="")])
    lines = account_lines(session, ordered, today, config.scoring.usage)
    notes = peer_notes(session, [line.account_id for line in lines[:HOME_PEER_NOTES]], today)
    return HomeView(
        viewer_name=viewer.name,
        role=viewer.role,
        as_of=_date(df["as_of"].iloc[0]),
        accounts=[
            replace(line, peer_note=notes.get(line.account_id))
            if line.account_id in notes
            else line
            for line in lines
        ],
        open_alerts=open_alerts,
        baseline=_baseline_note(session, viewer, df),
    )


def _baseline_note(session: Session, viewer: Viewer, df: pd.DataFrame) -> BaselineNote | None:
    """The viewer's accounts whose conditions already held when Pulse started watching and
    have not changed since (live ``baseline`` alerts); None when there are none."""
    ids = {
        int(a)
        for a in session.scalars(
            select(Alert.account_id)
            .join(Account, Account.id == Alert.account_id)
            .where(Alert.status == BASELINE, visible(session, viewer))
            .distinct()
        )
    }
    if not ids:
        return None
    at_risk = int((df[df["account_id"].isin(ids)]["health_tier"] == "at_risk").sum())
    return BaselineNote(len(ids), at_risk, team=viewer.role not in ("csm", "account_executive"))


HOME_PEER_NOTES = 40
"""The App Home shows at most this many rows (digests.home), so only these need a note."""


def peer_notes(session: Session, account_ids: list[int], as_of: date) -> dict[int, str]:
    """Each account's weakest usage signal among its peers, from its latest snapshot:
    "Seats: bottom 8% of Enterprise, 50-199 seats peers"."""
    if not account_ids:
        return {}
    ss = ScoreSnapshot
    latest = (
        select(ss.account_id, func.max(ss.as_of).label("as_of"))
        .where(ss.account_id.in_(account_ids), ss.as_of <= as_of)
        .group_by(ss.account_id)
        .subquery("latest")
    )
    rows = session.execute(
        select(ss.account_id, ss.components).join(
            latest, (latest.c.account_id == ss.account_id) & (latest.c.as_of == ss.as_of)
        )
    ).all()
    notes: dict[int, str] = {}
    for account_id, components in rows:
        note = weakest_peer_note(components or [])
        if note:
            notes[int(account_id)] = note
    return notes


def digest_recipients(session: Session) -> list[tuple[int, str, bool]]:
    """``(owner_id, slack_user_id, is_manager)`` of everyone who gets a morning digest.

    Owners with a Slack user id who own at least one account (not deleted in the CRM), plus
    managers (they get the team digest even without accounts of their own). Owners without
    a Slack id cannot be messaged and are left out; ordered by owner id so runs are
    reproducible.
    """
    owns = _owns_accounts()
    rows = session.execute(
        select(Owner.id, Owner.slack_user_id, Owner.is_manager)
        .where(Owner.slack_user_id.is_not(None), Owner.slack_user_id != "")
        .where(or_(Owner.is_manager.is_(True), owns))
        .order_by(Owner.id)
    ).all()
    return [(int(i), str(s), bool(m)) for i, s, m in rows]
