"""Finding an account from what a person types: a name fragment or a domain."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.orm import Session

from storage.models import LINKED_ONLY_SOURCES, Account


@dataclass(frozen=True)
class AccountMatch:
    """``account`` when exactly one matched; ``candidates`` when several; ``closest`` when none."""

    query: str
    account: Account | None = None
    candidates: list[Account] = field(default_factory=list)
    closest: list[str] = field(default_factory=list)


def find_account(
    session: Session, query: str, limit: int = 10, scope: ColumnElement[bool] | None = None
) -> AccountMatch:
    """Exact name or domain wins; else a unique substring match; else the closest names.

    ``scope`` restricts every step to the accounts a viewer may see; restricting inside
    each query (not filtering the answer afterwards) matters, because "one exact match"
    must be counted among visible accounts only.
    """
    wanted = query.strip().lower()
    if not wanted:
        return AccountMatch(query=query)
    # Stripe customers and Zendesk organisations are linked to CRM accounts, not accounts
    # a person asks about: they would show up as unscored twins of real customers. So
    # would records deleted in the CRM (a duplicate merged into the account asked about).
    scope = and_(
        Account.source.not_in(LINKED_ONLY_SOURCES),
        Account.deleted_at.is_(None),
        true() if scope is None else scope,
    )
    exact = session.scalars(
        select(Account).where(
            scope, or_(func.lower(Account.name) == wanted, func.lower(Account.domain) == wanted)
        )
    ).all()
    if len(exact) == 1:
        return AccountMatch(query=query, account=exact[0])
    pattern = f"%{wanted.replace('%', '').replace('_', '')}%"
    partial = session.scalars(
        select(Account)
        .where(
            scope,
            or_(func.lower(Account.name).like(pattern), func.lower(Account.domain).like(pattern)),
        )
        .order_by(Account.name)
        .limit(limit + 1)
    ).all()
    if len(partial) == 1:
        return AccountMatch(query=query, account=partial[0])
    if partial:
        return AccountMatch(query=query, candidates=list(partial[:limit]))
    names = session.scalars(select(Account.name).where(scope)).all()
    lowered = {n.lower(): n for n in names}
    close = difflib.get_close_matches(wanted, list(lowered), n=5, cutoff=0.5)
    return AccountMatch(query=query, closest=[lowered[c] for c in close])
