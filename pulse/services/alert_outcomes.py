"""What became of the alerts: per CSM, for the weekly section of the manager digest.

So a manager (and whoever tunes the rules) can judge them, each CSM's line counts, over
the last :data:`OUTCOME_WINDOW_DAYS` days, the alerts raised on their accounts and what
was done with them (acknowledged, snoozed, reopened by Pulse), read from the audit log
the alert changes write; and, of the accounts alerted in that window, how many churned
since the first of those alerts and how many recovered (every alert on them resolved,
the account not churned). The section is sent on :data:`OUTCOME_WEEKDAY` (Monday) in the
workspace's time zone, so it is a weekly figure in a daily digest.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from digests.views import OutcomeRow
from pulse.kernel.clock import local_date
from pulse.kernel.config import PulseConfig
from storage.models import Account, Alert, AuditLog, Owner

OUTCOME_WINDOW_DAYS = 90
"""The alerts counted: raised (and acted on) in this many days up to the digest. Long
enough for "later churned or recovered" to mean something."""
OUTCOME_WEEKDAY = 0
"""The weekday (Monday = 0, workspace time zone) whose manager digest carries the section."""
COUNTED = {
    "alert_raised": "raised",
    "alert_acknowledged": "acknowledged",
    "alert_snoozed": "snoozed",
    "alert_reopened": "reopened",
}
"""Audit actions counted, and the column each one counts in."""


def outcomes_due(config: PulseConfig, now: datetime) -> bool:
    """Whether today's manager digest (workspace time zone) carries the weekly section."""
    return local_date(config.workspace.timezone, now).weekday() == OUTCOME_WEEKDAY


def alert_outcomes(
    session: Session, owner_ids: set[int] | None, now: datetime
) -> list[OutcomeRow]:
    """Per owner of accounts (among ``owner_ids``; None: all) with any alert activity in the
    window, sorted by name: the counts of :data:`COUNTED` and the churned / recovered
    accounts among those alerted."""
    since = now - timedelta(days=OUTCOME_WINDOW_DAYS)
    stmt = (
        select(Account.owner_id, AuditLog.action, AuditLog.account_id, AuditLog.at)
        .join(Account, Account.id == AuditLog.account_id)
        .where(AuditLog.at >= since, AuditLog.at <= now, AuditLog.action.in_(list(COUNTED)),
               Account.owner_id.is_not(None))
    )
    if owner_ids is not None:
        stmt = stmt.where(Account.owner_id.in_(sorted(owner_ids)))
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    first_alert: dict[tuple[int, int], datetime] = {}  # (owner, account) -> first raised
    for owner, action, account, at in session.execute(stmt):
        if owner is None or account is None:  # excluded by the query; for the type checker
            continue
        owner_id, account_id = int(owner), int(account)
        counts[owner_id][COUNTED[action]] += 1
        if action == "alert_raised":
            key = (owner_id, account_id)
            first_alert[key] = min(at, first_alert.get(key, at))
    if not counts:
        return []
    churned, recovered = _fates(session, first_alert)
    names = {int(o): str(n) for o, n in session.execute(
        select(Owner.id, Owner.name).where(Owner.id.in_(list(counts))))}
    rows = [
        OutcomeRow(owner=str(names.get(owner_id, f"owner {owner_id}")), **counted,
                   churned=churned[owner_id], recovered=recovered[owner_id])
        for owner_id, counted in counts.items()
    ]
    return sorted(rows, key=lambda r: r.owner.lower())


def _fates(
    session: Session, first_alert: dict[tuple[int, int], datetime]
) -> tuple[dict[int, int], dict[int, int]]:
    """Per owner: alerted accounts churned since their first alert, and alerted accounts
    not churned whose every alert is resolved."""
    churned: dict[int, int] = defaultdict(int)
    recovered: dict[int, int] = defaultdict(int)
    accounts = sorted({account for _, account in first_alert})
    if not accounts:
        return churned, recovered
    churned_on = {int(a): day for a, day in session.execute(
        select(Account.id, Account.churned_on).where(Account.id.in_(accounts)))}
    unresolved = set(session.scalars(
        select(Alert.account_id).where(Alert.account_id.in_(accounts),
                                       Alert.resolved_at.is_(None))))
    for (owner_id, account_id), first in first_alert.items():
        gone = churned_on.get(account_id)
        if gone is not None and gone >= first.date():
            churned[owner_id] += 1
        elif account_id not in unresolved:
            recovered[owner_id] += 1
    return churned, recovered
