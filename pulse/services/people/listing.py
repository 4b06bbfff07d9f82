"""Every owner as ``pulse people`` shows them: Slack user, where it came from, manager,
team, and why an owner without a Slack user has none."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.services.people.matching import (
    ERROR,
    FOUND,
    NOT_FOUND,
    OVERRIDE,
    SOURCE,
    norm,
)
from storage.models import Account, Owner, SlackLookup

SLACK_FROM = {SOURCE: "CRM", OVERRIDE: "override", "email": "email lookup"}
"""How ``pulse people`` names where a Slack user id came from."""


@dataclass(frozen=True)
class Person:
    """One CRM owner, as far as reaching them in Slack goes."""

    owner_id: int
    name: str
    email: str | None
    source: str
    crm_owner_id: str | None
    slack_user_id: str | None
    slack_from: str | None  # "CRM" | "override" | "email lookup"
    checked_at: datetime | None  # when Slack was last asked about the email
    manager: str | None
    team: str | None
    is_manager: bool
    accounts: int
    unmatched_reason: str | None  # None when the owner has a Slack user

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checked_at"] = self.checked_at.isoformat() if self.checked_at else None
        return out


def _reason(owner: Owner, row: SlackLookup | None, slack_configured: bool) -> str | None:
    if owner.slack_user_id:
        return None
    if not norm(owner.email):
        return "no email in the CRM"
    if row is not None and row.status == NOT_FOUND:
        return "users_not_found: no Slack user has this email"
    if row is not None and row.status == ERROR:
        return f"lookup error: {row.error}"
    if row is not None and row.status == FOUND:
        return "found in Slack; applied at the next run"
    if not slack_configured:
        return "Slack not configured (SLACK_BOT_TOKEN not set)"
    return "not looked up yet (pulse people --refresh)"


def people(session: Session, *, slack_configured: bool) -> list[Person]:
    """Every owner, by name; ``slack_configured`` words the reason of the never-looked-up."""
    owners = list(session.scalars(select(Owner).order_by(Owner.name, Owner.id)))
    cache = {row.email: row for row in session.scalars(select(SlackLookup))}
    names = {o.id: o.name for o in owners}
    counts = dict(
        session.execute(
            select(Account.owner_id, func.count())
            .where(Account.owner_id.is_not(None), Account.lifecycle != "churned",
                   Account.deleted_at.is_(None))
            .group_by(Account.owner_id)
        ).all()
    )
    out = []
    for owner in owners:
        row = cache.get(norm(owner.email)) if norm(owner.email) else None
        out.append(
            Person(
                owner_id=owner.id,
                name=owner.name,
                email=owner.email,
                source=owner.source,
                crm_owner_id=owner.crm_owner_id,
                slack_user_id=owner.slack_user_id,
                slack_from=SLACK_FROM.get(owner.slack_user_source or "")
                if owner.slack_user_id
                else None,
                checked_at=row.checked_at if row is not None else None,
                manager=names.get(owner.manager_id) if owner.manager_id else None,
                team=owner.team,
                is_manager=bool(owner.is_manager),
                accounts=int(counts.get(owner.id, 0)),
                unmatched_reason=_reason(owner, row, slack_configured),
            )
        )
    return out
