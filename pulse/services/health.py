"""`/health` and the account lists: what one viewer may see of one account or many.

Scope rule for lookups: an account outside the viewer's scope must be indistinguishable
from one that does not exist. Matching therefore runs only over visible accounts
(:func:`pulse.services.access.find_visible_account`: the same exact / substring /
closest-name rules as :func:`pulse.services.lookup.find_account`), and
**when nothing visible matches, the answer is** ``PickList(query, [], closest_visible)``
with closest names computed over visible names only, whether or not some invisible
account would have matched. :class:`Refused` is reserved for viewers with no access at
all (role ``none``), for an account id outside scope (e.g. a tampered button value; the
same answer as an unknown id), and, with ``reason="not_scored"``, for a visible account
that has no snapshot yet. None of these confirms that an invisible account exists.

Lists reuse :mod:`pulse.services.portfolio` (``load_portfolio``, ``attention_list``,
``expansion_candidates``) so Slack shows the numbers the terminal shows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import pandas as pd
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from digests.override_blocks import override_text
from digests.views import AccountLine, HealthCard, PickList
from pulse.kernel.config import PulseConfig, UsageEngineConfig
from pulse.services.access import Viewer, can_see, find_visible_account, visible
from pulse.services.alerts import alert_items, crm_url, live_alerts, open_alert_counts
from pulse.services.overrides import active_override, line_of
from pulse.services.portfolio import (
    ACCOUNT_COLUMNS,
    attention_list,
    expansion_candidates,
    load_portfolio,
)
from scoring.engine import previous_snapshot
from scoring.explain import explain_change
from scoring.freshness import freshness, stale_parts
from scoring.outlook import expansion_signals
from storage.models import Account, Owner, ScoreSnapshot
from storage.usage_engine import usage_engine
from storage.usage_reads import last_active_days

__all__ = [
    "Refused",
    "account_frame",
    "account_lines",
    "crm_url",
    "expansion_list",
    "find_visible_account",
    "health_card",
    "health_lookup",
    "my_attention",
    "risk_list",
    "scoped_portfolio",
    "urgency_order",
]

TREND_DAYS = 30
IN_LIST_MAX = 500
"""Above this many ids, per-account aggregates are computed for all accounts instead of
an ``IN (...)`` list (cheaper than a huge parameter list, and within SQLite's limits)."""


@dataclass(frozen=True)
class Refused:
    """No card for this query: no access (``reason="no_access"``) or not scored yet."""

    query: str
    reason: Literal["no_access", "not_scored"] = "no_access"


# ---------------------------------------------------------------------------------------
# Lookup


def health_lookup(
    session: Session, config: PulseConfig, viewer: Viewer, query: str, now: datetime
) -> HealthCard | PickList | Refused:
    """Answer ``/health QUERY``: a card for one match, a pick list for several or none.

    See the module docstring for why "nothing visible matches" is a pick list with the
    closest *visible* names rather than a refusal. Candidates without a snapshot yet are
    listed by name in ``closest`` (a pick-list row needs a score).
    """
    if viewer.role == "none":
        return Refused(query)
    match = find_visible_account(session, viewer, query)
    if match.account is not None:
        return _card(session, config, viewer, match.account, now, query)
    if match.candidates:
        frame = account_frame(session, [a.id for a in match.candidates], now.date())
        lines = {line.account_id: line
                 for line in account_lines(session, frame, now.date(), config.scoring.usage)}
        ordered = [lines[a.id] for a in match.candidates if a.id in lines]
        unscored = [a.name for a in match.candidates if a.id not in lines]
        return PickList(query=query, candidates=ordered, closest=unscored)
    return PickList(query=query, candidates=[], closest=match.closest)


# ---------------------------------------------------------------------------------------
# Account lines


def _opt(value: Any) -> Any:
    """None for pandas' missing markers (NaN, NaT, None); the value otherwise."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _as_date(value: Any) -> date | None:
    value = _opt(value)
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _days_between(start: date | None, end: date | None) -> int | None:
    return None if start is None or end is None else (end - start).days


def last_activity(
    session: Session, account_ids: Sequence[int], as_of: date, usage: UsageEngineConfig
) -> dict[int, date]:
    """Each account's last product-usage day on or before ``as_of`` (one grouped query,
    asked of the engine holding the usage: :mod:`storage.usage_reads`).

    Bounded by ``as_of`` (the request's today) so a test or a replay with a controlled
    ``now`` never sees activity from its future.
    """
    return last_active_days(session, usage_engine(usage), account_ids, as_of)


def account_lines(
    session: Session,
    frame: pd.DataFrame,
    as_of: date,
    usage: UsageEngineConfig,
    why: Iterable[str] | None = None,
) -> list[AccountLine]:
    """AccountLines from portfolio-shaped rows (``load_portfolio`` or :func:`account_frame`).

    Last activity and open-alert counts come from one GROUP BY query each for all rows.
    ``why`` gives each line's reason; a ``why`` column of the frame is used otherwise.
    """
    if frame is None or frame.empty:
        return []
    ids = [int(a) for a in frame["account_id"]]
    activity = last_activity(session, ids, as_of, usage)
    alerts = open_alert_counts(session, ids if len(ids) <= IN_LIST_MAX else None)
    reasons = list(why) if why is not None else None
    lines: list[AccountLine] = []
    for i, row in enumerate(frame.to_dict("records")):
        account_id = int(row["account_id"])
        change = _opt(row.get("change"))
        days = _opt(row.get("days_to_renewal"))
        reason = reasons[i] if reasons is not None else (_opt(row.get("why")) or "")
        lines.append(
            AccountLine(
                account_id=account_id,
                name=str(row["name"]),
                domain=_opt(row.get("domain")),
                score=float(row["score"]),
                health_tier=str(row["health_tier"]),
                change=None if change is None else round(float(change), 1),
                arr=float(_opt(row.get("arr")) or 0.0),
                renewal_date=_as_date(row.get("renewal_date")),
                days_to_renewal=None if days is None else int(days),
                owner_name=_opt(row.get("owner_name")),
                last_activity=activity.get(account_id),
                open_alerts=alerts.get(account_id, 0),
                expansion_score=float(_opt(row.get("expansion_score")) or 0.0),
                renewal_risk=str(_opt(row.get("renewal_risk")) or ""),
                why=str(reason),
                crm_url=crm_url(_opt(row.get("salesforce_id")), _opt(row.get("hubspot_id"))),
            )
        )
    return lines


def account_frame(session: Session, account_ids: Sequence[int], as_of: date) -> pd.DataFrame:
    """Portfolio-shaped rows for a few accounts, each from its own latest snapshot.

    Unlike ``load_portfolio`` (one scoring date for everyone) this also finds accounts last
    scored earlier, e.g. a churned account someone looks up. ``change`` is against the
    account's previous snapshot. Accounts never scored on or before ``as_of`` are absent.
    """
    if not account_ids:
        return pd.DataFrame()
    ss = ScoreSnapshot
    ids = list(account_ids)
    latest = (
        select(ss.account_id, func.max(ss.as_of).label("as_of"))
        .where(ss.account_id.in_(ids), ss.as_of <= as_of)
        .group_by(ss.account_id)
        .subquery("latest")
    )
    prev_date = (
        select(ss.account_id, func.max(ss.as_of).label("prev_as_of"))
        .join(latest, and_(latest.c.account_id == ss.account_id, ss.as_of < latest.c.as_of))
        .group_by(ss.account_id)
        .subquery("prev_date")
    )
    prev = aliased(ss, name="prev")
    stmt = (
        select(
            *ACCOUNT_COLUMNS,
            ss.as_of,
            ss.score,
            ss.tier.label("health_tier"),
            ss.expansion_score,
            ss.renewal_risk,
            prev.score.label("prev_score"),
        )
        .join(latest, latest.c.account_id == Account.id)
        .join(ss, and_(ss.account_id == Account.id, ss.as_of == latest.c.as_of))
        .outerjoin(Owner, Owner.id == Account.owner_id)
        .outerjoin(prev_date, prev_date.c.account_id == Account.id)
        .outerjoin(prev, and_(prev.account_id == Account.id, prev.as_of == prev_date.c.prev_as_of))
    )
    df = pd.DataFrame(session.execute(stmt).mappings().all())
    if df.empty:
        return df
    df["change"] = [
        None if _opt(p) is None else round(float(s) - float(p), 1)
        for s, p in zip(df["score"], df["prev_score"], strict=True)
    ]
    df["days_to_renewal"] = [
        _days_between(_as_date(a), _as_date(r))
        for r, a in zip(df["renewal_date"], df["as_of"], strict=True)
    ]
    return df


# ---------------------------------------------------------------------------------------
# The card


def health_card(
    session: Session, config: PulseConfig, viewer: Viewer, account_id: int, now: datetime
) -> HealthCard | Refused:
    """The card for one account id (e.g. a pick-list button); Refused when out of scope.

    An unknown id and an invisible one get the same ``Refused(str(account_id))``.
    """
    if viewer.role == "none" or not can_see(session, viewer, account_id):
        return Refused(str(account_id))
    account = session.get(Account, account_id)
    assert account is not None  # can_see checked existence
    return _card(session, config, viewer, account, now, str(account_id))


def _card(
    session: Session,
    config: PulseConfig,
    viewer: Viewer,
    account: Account,
    now: datetime,
    query: str,
) -> HealthCard | Refused:
    today = now.date()
    ss = ScoreSnapshot
    latest = session.scalars(
        select(ss).where(ss.account_id == account.id, ss.as_of <= today).order_by(ss.as_of.desc())
    ).first()
    if latest is None:
        return Refused(query, reason="not_scored")
    frame = account_frame(session, [account.id], today)
    line = account_lines(session, frame, today, config.scoring.usage, why=[""])[0]
    prev = previous_snapshot(session, account.id, latest.as_of)
    trend = [
        (d, float(s))
        for d, s in session.execute(
            select(ss.as_of, ss.score)
            .where(
                ss.account_id == account.id,
                ss.as_of > today - timedelta(days=TREND_DAYS),
                ss.as_of <= today,
            )
            .order_by(ss.as_of)
        ).all()
    ]
    return HealthCard(
        account=line,
        account_tier=account.tier,
        lifecycle=account.lifecycle,
        as_of=latest.as_of,
        components=list(latest.components or []),
        reasons=[str(r) for r in latest.reasons or []],
        change_lines=explain_change(prev, latest) if prev is not None else [],
        trend=trend,
        flags=list(latest.flags or []),
        alerts=alert_items(session, live_alerts(session, account.id)),
        can_act=viewer.can_act,
        csm_entry=_csm_entry(session, account, today),
        stale=stale_parts(freshness(session, config, now)),
    )


def _csm_entry(session: Session, account: Account, today: date) -> str | None:
    row = active_override(session, account.id, today)
    return override_text(line_of(row, account.name)) if row is not None else None


# ---------------------------------------------------------------------------------------
# Lists in scope


def scoped_portfolio(session: Session, viewer: Viewer, now: datetime) -> pd.DataFrame:
    """``load_portfolio`` as of ``now`` restricted to the viewer's accounts."""
    if viewer.role in ("admin", "read_only"):
        return load_portfolio(session, now.date())
    return load_portfolio(session, now.date(), where=visible(session, viewer))


def urgency_order(df: pd.DataFrame, config: PulseConfig) -> pd.DataFrame:
    """``attention_list`` over every account of ``df`` (not one owner's): urgent first.

    ``attention_list`` selects by owner; giving every row the same placeholder owner
    reuses its selection, reasons and urgency ordering for a team or a whole portfolio.
    """
    if df.empty:
        return df
    pooled = df.assign(owner_id=-1)
    items = attention_list(
        pooled, -1, config.scoring.renewal_window_days, config.scoring.flags.score_drop_points
    )
    items["owner_id"] = df.loc[items.index, "owner_id"]
    return items


def my_attention(
    session: Session, config: PulseConfig, viewer: Viewer, now: datetime
) -> list[AccountLine]:
    """Accounts in the viewer's scope needing attention today, most urgent first.

    Scope is the viewer's: a CSM's own accounts, a manager's team, everything for admins
    and read-only users. Each line's ``why`` says what made it urgent.
    """
    df = scoped_portfolio(session, viewer, now)
    if df.empty:
        return []
    items = urgency_order(df, config)
    return account_lines(session, items, now.date(), config.scoring.usage)


def risk_list(
    session: Session, config: PulseConfig, viewer: Viewer, now: datetime
) -> list[AccountLine]:
    """At-risk accounts in scope, renewal soonest first (no renewal date last), then score."""
    df = scoped_portfolio(session, viewer, now)
    if df.empty:
        return []
    risky = df[df["health_tier"] == "at_risk"].copy()
    risky["_renewal_missing"] = risky["days_to_renewal"].isna()
    risky = risky.sort_values(
        ["_renewal_missing", "days_to_renewal", "score"], ascending=[True, True, True]
    )
    why = [
        f"at risk, renews in {int(d)} days" if _opt(d) is not None else "at risk"
        for d in risky["days_to_renewal"]
    ]
    return account_lines(session, risky, now.date(), config.scoring.usage, why=why)


def expansion_list(
    session: Session, config: PulseConfig, viewer: Viewer, now: datetime
) -> list[AccountLine]:
    """Expansion candidates in scope (``expansion_candidates``), strongest signal first."""
    df = scoped_portfolio(session, viewer, now)
    if df.empty:
        return []
    pool = expansion_candidates(df, None, limit=len(df))
    return account_lines(session, pool, now.date(), config.scoring.usage,
                         why=expansion_why(pool, config))


def expansion_why(pool: pd.DataFrame, config: PulseConfig) -> list[str]:
    """Each expansion candidate's reason: the signals behind its score
    (:func:`scoring.outlook.expansion_signals`), not the score again."""
    ratio = config.scoring.expansion_seat_ratio
    return [
        "; ".join(expansion_signals(comps or [], ratio)) or "no seat or growth signal on file"
        for comps in pool["components"]
    ]
