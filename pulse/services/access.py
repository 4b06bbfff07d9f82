"""Who sees what: a Slack user resolved to a role and an account scope.

Every service takes a :class:`Viewer` and filters with :func:`visible`, so scope is
decided in one place and applied inside the SQL of each query (never by filtering in
Python after the fact, which is easy to forget in one code path).

Resolution order (:func:`resolve_viewer`):

1. ``config.access`` lists, matched on the Slack user id or the email (case-insensitive),
   first list that names the user wins: ``admins`` (see and act on everything),
   ``read_only`` (see everything, cannot act), ``account_executives`` (see the accounts
   they own in the CRM, cannot act).
2. The CRM owner: ``config.access.user_map`` (Slack id -> owner email) when it names the
   user, else the owner whose email matches (case-insensitive), else the owner whose
   ``slack_user_id`` matches. An owner with ``is_manager`` is a ``manager`` (their own
   accounts plus those of owners whose manager they are); any other owner is a ``csm``
   (their own accounts).
3. Anyone else gets role ``none``: sees nothing and cannot act.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from pulse.services.lookup import AccountMatch, find_account
from storage.models import Account, Owner

Role = Literal["admin", "manager", "csm", "account_executive", "read_only", "none"]
ACTING_ROLES: frozenset[str] = frozenset({"admin", "manager", "csm"})
"""Roles that may acknowledge and snooze alerts; read-only and AEs only read."""
PICK_LIMIT = 10
"""At most this many candidates when a typed name matches several visible accounts."""


@dataclass(frozen=True)
class Viewer:
    """The person behind a Slack request, as far as Pulse's permissions go."""

    slack_user_id: str
    email: str | None
    role: Role
    owner_id: int | None  # the matching CRM owner, if any
    team: str | None
    name: str
    can_act: bool


def _norm(value: str | None) -> str:
    return (value or "").strip().lower()


def _listed(entries: list[str], keys: set[str]) -> bool:
    return any(_norm(e) in keys for e in entries)


def find_owner(
    session: Session, config: PulseConfig, slack_user_id: str, email: str | None
) -> Owner | None:
    """The CRM owner behind a Slack user: ``user_map`` first, then email, then Slack id.

    ``user_map`` wins because it exists precisely for people whose Slack email differs
    from their CRM email. Ties (the same email in two sources) go to the lowest id, so the
    answer is stable.
    """
    mapped = config.access.user_map.get(slack_user_id)
    emails = [e for e in (_norm(mapped), "" if mapped else _norm(email)) if e]
    for address in emails:
        owner = session.scalars(
            select(Owner).where(func.lower(Owner.email) == address).order_by(Owner.id).limit(1)
        ).first()
        if owner is not None:
            return owner
    if mapped:
        return None
    return session.scalars(
        select(Owner).where(Owner.slack_user_id == slack_user_id).order_by(Owner.id).limit(1)
    ).first()


def resolve_viewer(
    session: Session, config: PulseConfig, slack_user_id: str, email: str | None
) -> Viewer:
    """Resolve a Slack user (id and, when Slack shares it, email) to a :class:`Viewer`."""
    keys = {k for k in (_norm(slack_user_id), _norm(email)) if k}
    owner = find_owner(session, config, slack_user_id, email)
    access = config.access
    role: Role
    if _listed(access.admins, keys):
        role = "admin"
    elif _listed(access.read_only, keys):
        role = "read_only"
    elif _listed(access.account_executives, keys):
        role = "account_executive"
    elif owner is not None:
        role = "manager" if owner.is_manager else "csm"
    else:
        role = "none"
    return Viewer(
        slack_user_id=slack_user_id,
        email=email,
        role=role,
        owner_id=owner.id if owner is not None else None,
        team=owner.team if owner is not None else None,
        name=(owner.name if owner is not None else None) or email or slack_user_id,
        can_act=role in ACTING_ROLES,
    )


def visible(session: Session, viewer: Viewer) -> ColumnElement[bool]:
    """A WHERE clause on :class:`Account` selecting the accounts ``viewer`` may see.

    Use it inside every query (``select(Account).where(visible(session, viewer))``) so an
    out-of-scope account never leaves the database. ``session`` is part of the signature
    so a future scope (e.g. nested teams) can look things up; today the scope is a
    sub-select evaluated by the database.
    """
    del session  # the scope is expressed in SQL; see the docstring
    if viewer.role in ("admin", "read_only"):
        return true()
    if viewer.owner_id is None or viewer.role == "none":
        return false()
    if viewer.role == "manager":
        team = select(Owner.id).where(
            or_(Owner.manager_id == viewer.owner_id, Owner.id == viewer.owner_id)
        )
        return Account.owner_id.in_(team.scalar_subquery())
    return Account.owner_id == viewer.owner_id


def can_see(session: Session, viewer: Viewer, account_id: int) -> bool:
    """True when the account exists and is in the viewer's scope (one query)."""
    found = session.scalar(
        select(Account.id).where(Account.id == account_id, visible(session, viewer))
    )
    return found is not None


def find_visible_account(
    session: Session, viewer: Viewer, query: str, limit: int = PICK_LIMIT
) -> AccountMatch:
    """:func:`pulse.services.lookup.find_account`'s rules, applied only to accounts in scope.

    Exact name or domain wins; else a unique substring match; else candidates; else the
    closest visible names. Restricting inside each query (not filtering the unrestricted
    answer afterwards) matters: "one exact match" must be counted among visible accounts.
    """
    return find_account(session, query, limit, scope=visible(session, viewer))
