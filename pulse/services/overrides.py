"""CSM sentiments and score overrides that stick (issue 7).

A CSM's judgement is stored apart from the scored data (:class:`storage.models.Override`)
with a reason, an author and an expiry, so no later scoring run can overwrite it: the
scorer reads the override in force on its as-of date and shows it as the ``csm``
component ("CSM: red, champion left, until 31 Jan 2027, by Dana Scully"). It ends by
itself on its date; its author is told a few days before (:func:`expiry_messages`, sent
by ``pulse.jobs.deliver.send_expiry_notices``). Every change is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from digests.override_blocks import ExpiryNotice, OverrideLine, OverrideReply, expiry_notice
from pulse.kernel.config import PulseConfig, TierThresholds
from pulse.kernel.tiers import TIER_RANK
from pulse.services.access import Viewer, can_see, find_visible_account
from pulse.services.outbox import Message
from scoring.components import SENTIMENT_VALUES, assign_tier
from storage.models import Account, AuditLog, Override, ScoreSnapshot

SENTIMENTS = tuple(SENTIMENT_VALUES)  # green, yellow, red
SENTIMENT_TIER = {"green": "healthy", "yellow": "fine", "red": "at_risk"}


@dataclass(frozen=True)
class OverrideRequest:
    """What was typed: ``/health NAME sentiment red "why" --until 2027-01-31``."""

    query: str
    kind: Literal["sentiment", "score", "clear"]
    account_id: int | None = None  # from the health card's modal: no name lookup
    sentiment: str | None = None
    score: float | None = None
    reason: str | None = None
    until: date | None = None


def _audit(
    session: Session, now: datetime, actor: str, action: str, row: Override, **detail: object
) -> None:
    session.add(
        AuditLog(
            at=now,
            actor=actor,
            action=action,
            account_id=row.account_id,
            detail={"override_id": row.id, **detail},
        )
    )


def line_of(row: Override, account_name: str) -> OverrideLine:
    return OverrideLine(
        account_id=row.account_id,
        account_name=account_name,
        kind=row.kind,
        sentiment=row.sentiment,
        score=row.score,
        reason=row.reason,
        author=row.author,
        author_name=row.author_name,
        expires_on=row.expires_on,
    )


def active_override(session: Session, account_id: int, today: date) -> Override | None:
    """The override in force today (an expired one still marked active is not)."""
    return session.scalars(
        select(Override).where(
            Override.account_id == account_id,
            Override.status == "active",
            Override.expires_on >= today,
        )
    ).first()


def apply_request(
    session: Session,
    config: PulseConfig,
    viewer: Viewer,
    request: OverrideRequest,
    now: datetime,
) -> OverrideReply:
    """Record, replace or clear the override of the one account ``request.query`` names.

    Raises PermissionError for viewers who may not act; every other problem (unknown or
    ambiguous name, missing reason, a date in the past or too far out) is a reply naming
    it, and changes nothing.
    """
    if not viewer.can_act:
        raise PermissionError("Only CSMs, managers and admins can record a sentiment.")
    account = _requested_account(session, viewer, request)
    if isinstance(account, OverrideReply):
        return account
    today = now.date()
    current = active_override(session, account.id, today)
    if request.kind == "clear":
        return _clear(session, viewer, account, current, now)
    reason = " ".join((request.reason or "").split())
    if not reason:
        return _refused(account, 'a reason is required, in quotes: sentiment red "champion left"')
    until = request.until or today + timedelta(days=config.overrides.default_days)
    problem = _until_problem(until, today, config.overrides.max_days)
    if problem is not None:
        return _refused(account, problem)
    if current is not None:
        _end(session, viewer, current, "replaced", now)
        session.flush()
    row = _record(session, viewer, account, request, reason, until, now)
    return OverrideReply(
        kind="set",
        account_name=account.name,
        line=line_of(row, account.name),
        previous=line_of(current, account.name) if current is not None else None,
        disagreement=disagreement(session, row, today, config.scoring.tiers),
    )


def _refused(account: Account, detail: str) -> OverrideReply:
    return OverrideReply(kind="refused", account_name=account.name, detail=detail)


def _requested_account(
    session: Session, viewer: Viewer, request: OverrideRequest
) -> Account | OverrideReply:
    """The account the request names (by id from the card's modal, else by name among the
    viewer's accounts), or the refusal saying why there is none."""
    if request.account_id is not None:
        found = session.get(Account, request.account_id)
        if found is not None and can_see(session, viewer, found.id):
            return found
        match = None
    else:
        match = find_visible_account(session, viewer, request.query)
        if match.account is not None:
            return match.account
    if match is not None and match.candidates:
        names = ", ".join(a.name for a in match.candidates[:5])
        problem = f"several of your accounts match: {names}. Be more specific."
    else:
        problem = "no account of yours matches that name."
    return OverrideReply(kind="refused", account_name=request.query, detail=problem)


def _until_problem(until: date, today: date, max_days: int) -> str | None:
    """Why ``--until`` cannot be used: in the past, or further out than ``max_days``."""
    if until < today:
        return f"--until {until.isoformat()} is in the past."
    if until > today + timedelta(days=max_days):
        return (
            f"--until may be at most {max_days} days ahead "
            f"({(today + timedelta(days=max_days)).isoformat()})."
        )
    return None


def _end(session: Session, viewer: Viewer, row: Override, status: str, now: datetime) -> None:
    """End the entry in force (``cleared`` or ``replaced``) by the viewer, audited."""
    row.status, row.ended_at, row.ended_by = status, now, viewer.slack_user_id
    _audit(session, now, viewer.slack_user_id, f"override_{status}", row)


def _clear(
    session: Session, viewer: Viewer, account: Account, current: Override | None, now: datetime
) -> OverrideReply:
    if current is None:
        return _refused(account, "it has no CSM sentiment or override to clear.")
    _end(session, viewer, current, "cleared", now)
    return OverrideReply(
        kind="cleared", account_name=account.name, previous=line_of(current, account.name)
    )


def _record(
    session: Session,
    viewer: Viewer,
    account: Account,
    request: OverrideRequest,
    reason: str,
    until: date,
    now: datetime,
) -> Override:
    """Store the new entry and its audit row."""
    row = Override(
        account_id=account.id,
        kind=request.kind,
        sentiment=request.sentiment,
        score=request.score,
        reason=reason[:500],
        author=viewer.slack_user_id,
        author_name=viewer.name,
        created_at=now,
        expires_on=until,
        status="active",
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        now,
        viewer.slack_user_id,
        "override_set",
        row,
        kind=row.kind,
        sentiment=row.sentiment,
        score=row.score,
        reason=row.reason,
        until=until.isoformat(),
    )
    return row


def _data_score(session: Session, account_id: int, today: date) -> float | None:
    """The data's own score in the latest snapshot: its score minus what a CSM entry
    contributed (that snapshot may already count an earlier entry)."""
    row = session.execute(
        select(ScoreSnapshot.score, ScoreSnapshot.components)
        .where(ScoreSnapshot.account_id == account_id, ScoreSnapshot.as_of <= today)
        .order_by(ScoreSnapshot.as_of.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    csm = sum(float(c.get("points") or 0.0) for c in row[1] or [] if c.get("key") == "csm")
    return float(row[0]) - csm


def _tier(score: float, tiers: TierThresholds) -> str:
    return str(assign_tier(pd.Series([score]), tiers).iloc[0])


def disagreement(session: Session, row: Override, today: date, tiers: TierThresholds) -> str | None:
    """A sharp disagreement between the CSM and the data, said out loud (never hidden).

    Sharp = two tiers apart (``scoring.tiers``): a green sentiment (or a healthy score) on
    an account the data puts at risk, or red on one it calls healthy.
    """
    data_score = _data_score(session, row.account_id, today)
    if data_score is None:
        return None
    if row.kind == "sentiment":
        mine = SENTIMENT_TIER.get(row.sentiment or "", "fine")
    else:
        mine = _tier(row.score or 0.0, tiers)
    data_tier = _tier(data_score, tiers)
    if abs(TIER_RANK[mine] - TIER_RANK[data_tier]) < 2:
        return None
    said = row.sentiment if row.kind == "sentiment" else f"score {row.score:.0f}"
    return f"CSM says {said}, the data says {data_tier.replace('_', ' ')} ({data_score:.0f})"


def manager_overrides(
    session: Session, account_ids: list[int], today: date, tiers: TierThresholds
) -> list[tuple[OverrideLine, str | None]]:
    """Active overrides on these accounts, each with its disagreement (for managers)."""
    if not account_ids:
        return []
    rows = session.execute(
        select(Override, Account.name)
        .join(Account, Account.id == Override.account_id)
        .where(
            Override.account_id.in_(account_ids),
            Override.status == "active",
            Override.expires_on >= today,
        )
        .order_by(Override.expires_on, Override.id)
    ).all()
    return [(line_of(o, name), disagreement(session, o, today, tiers)) for o, name in rows]


def due_expiry_notices(session: Session, config: PulseConfig, now: datetime) -> list[ExpiryNotice]:
    """End overrides past their date (audited) and pick the ones whose author should be
    told they end soon (once each; the caller sends and commits)."""
    today = now.date()
    for row in session.scalars(
        select(Override).where(Override.status == "active", Override.expires_on < today)
    ):
        row.status, row.ended_at, row.ended_by = "expired", now, "pulse"
        _audit(
            session, now, "pulse", "override_expired", row, expires_on=row.expires_on.isoformat()
        )
    horizon = today + timedelta(days=config.overrides.remind_days_before)
    due = session.execute(
        select(Override, Account.name)
        .join(Account, Account.id == Override.account_id)
        .where(
            Override.status == "active",
            Override.reminded_at.is_(None),
            Override.expires_on <= horizon,
        )
        .order_by(Override.id)
    ).all()
    notices = []
    for row, name in due:
        row.reminded_at = now
        _audit(
            session,
            now,
            "pulse",
            "override_expiry_notice",
            row,
            expires_on=row.expires_on.isoformat(),
            to=row.author,
        )
        notices.append(
            ExpiryNotice(line=line_of(row, name), days_left=(row.expires_on - today).days)
        )
    session.flush()
    return notices


@dataclass(frozen=True)
class ExpiryMessage:
    """An expiry notice to DM to the entry's author."""

    account_id: int
    message: Message


def expiry_messages(session: Session, config: PulseConfig, now: datetime) -> list[ExpiryMessage]:
    """:func:`due_expiry_notices` as the DMs to send, one to each entry's author."""
    return [
        ExpiryMessage(
            n.line.account_id,
            Message(n.line.author, expiry_notice(n), f"override expiry notice to {n.line.author}"),
        )
        for n in due_expiry_notices(session, config, now)
    ]


def record_notice_failure(session: Session, account_id: int, error: str, now: datetime) -> None:
    """Audit an expiry notice Slack refused (it is not sent again)."""
    session.add(
        AuditLog(
            at=now,
            actor="pulse",
            action="override_expiry_notice",
            account_id=account_id,
            outcome="failed",
            detail={"error": error},
        )
    )


def modal_state(
    session: Session, config: PulseConfig, viewer: Viewer, account_id: int, today: date
) -> tuple[str, OverrideLine | None, date]:
    """(account name, entry in force, default until) for the card's modal; PermissionError
    for a viewer who may not act on the account (same answer as an unknown id)."""
    account = session.get(Account, account_id)
    if not viewer.can_act or account is None or not can_see(session, viewer, account_id):
        raise PermissionError("You cannot record a sentiment on this account.")
    current = active_override(session, account_id, today)
    line = line_of(current, account.name) if current is not None else None
    return account.name, line, today + timedelta(days=config.overrides.default_days)
