"""The baseline: what already held when Pulse started watching an account is not news.

The first evaluation that sees an account (the first run of a new install, or accounts
whose history was just imported) records each condition holding then as a ``baseline``
alert instead of raising it: live, so it is not raised again while it holds; quiet, with
the account as it stood (``quiet_*``, the same baseline an acknowledgement records), so it
reopens as an ordinary open alert when the account gets materially worse
(:func:`pulse.services.alerts.evaluate.materially_worse`); resolved when it clears. The
bot summarises the baseline once per person ("12 accounts were already at risk when
Pulse started watching: see App Home") instead of sending a card per condition.

Critical states still alert: a condition matching ``alerts.baseline_still_alert`` (by
default an invoice 60+ days overdue on an account renewing inside
``alerts.renewal_notice_days``) is raised, at most ``alerts.baseline_max_alerts`` of them
per run, largest ARR first.

An account counts as watched from its first evaluation (a :class:`WatchedAccount` row);
conditions appearing later on it are changes and raise alerts. A source's first
successful sync imports its history (:func:`history_imported`): every account is seen
afresh, and the next evaluation takes a new baseline of what that history shows.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig, StillAlert
from pulse.services.alerts.base import BASELINE, SEVERITY_ORDER, SYSTEM_ACTOR, audit
from pulse.services.alerts.conditions import Condition, Key, Scored
from storage.models import Account, Alert, AuditLog, WatchedAccount


def unwatched(session: Session, account_ids: Collection[int]) -> set[int]:
    """Those of ``account_ids`` no evaluation has seen yet."""
    if not account_ids:
        return set()
    seen = set(
        session.scalars(
            select(WatchedAccount.account_id).where(
                WatchedAccount.account_id.in_(list(account_ids))
            )
        )
    )
    return {int(a) for a in account_ids} - seen


def watch(session: Session, account_ids: Collection[int], since: date, now: datetime) -> None:
    """Record ``account_ids`` as watched from the snapshot date ``since``."""
    for account_id in sorted(account_ids):
        session.add(WatchedAccount(account_id=account_id, since=since, at=now))


def history_imported(session: Session, source: str, now: datetime) -> int:
    """History was imported (a source's first successful sync, or ``pulse alerts
    --baseline`` after a backfill): every account is seen afresh, so the next evaluation
    takes a new baseline of what that history shows instead of alerting on it (live
    alerts stay as they are). Audited as ``alerts_rebaselined``; returns how many accounts
    were watched."""
    watched = list(session.scalars(select(WatchedAccount)))
    for row in watched:
        session.delete(row)
    if watched:
        session.add(
            AuditLog(
                at=now,
                actor=SYSTEM_ACTOR,
                action="alerts_rebaselined",
                detail={"source": source, "accounts": len(watched)},
                outcome="ok",
            )
        )
    session.flush()
    return len(watched)


def _matches(
    rule: StillAlert, condition: Condition, account: Account | None, notice: int, today: date
) -> bool:
    if rule.rule != condition.rule:
        return False
    if SEVERITY_ORDER.get(condition.severity, len(SEVERITY_ORDER)) > SEVERITY_ORDER[rule.severity]:
        return False
    if rule.renewal_within_notice:
        renewal = account.renewal_date if account is not None else None
        return renewal is not None and 0 <= (renewal - today).days <= notice
    return True


def split_first_seen(
    session: Session,
    config: PulseConfig,
    new: dict[Key, Condition],
    first_seen: set[int],
    today: date,
) -> tuple[dict[Key, Condition], dict[Key, Condition]]:
    """``new`` conditions (without a live alert) as (to raise, to record as baseline).

    Conditions of watched accounts are raised; those of ``first_seen`` accounts are
    baseline unless they match ``alerts.baseline_still_alert`` (at most
    ``alerts.baseline_max_alerts`` of those, largest ARR first).
    """
    policy = config.alerts
    raise_now = {k: c for k, c in new.items() if k[0] not in first_seen}
    candidates = {k: c for k, c in new.items() if k[0] in first_seen}
    if not candidates:
        return raise_now, {}
    accounts = {
        a.id: a
        for a in session.scalars(select(Account).where(Account.id.in_({k[0] for k in candidates})))
    }
    urgent = [
        key
        for key, condition in candidates.items()
        if any(
            _matches(rule, condition, accounts.get(key[0]), policy.renewal_notice_days, today)
            for rule in policy.baseline_still_alert
        )
    ]
    urgent.sort(key=lambda k: (-float(getattr(accounts.get(k[0]), "arr", 0) or 0), k))
    for key in urgent[: policy.baseline_max_alerts]:
        raise_now[key] = candidates.pop(key)
    return raise_now, candidates


def record_baseline(
    session: Session,
    now: datetime,
    latest: date,
    conditions: dict[Key, Condition],
    scored: Scored,
) -> list[Alert]:
    """A ``baseline`` alert for each condition, quiet from ``now`` with the account as it
    stands (audited as ``alert_baselined``)."""
    recorded: list[Alert] = []
    for key in sorted(conditions):
        condition = conditions[key]
        score, flags = scored.get(condition.account_id, (None, []))
        alert = Alert(
            account_id=condition.account_id,
            rule=condition.rule,
            severity=condition.severity,
            status=BASELINE,
            message=condition.message,
            label=condition.label,
            action=condition.action,
            opened_at=now,
            quiet_since=now,
            quiet_score=score,
            quiet_flags=sorted({str(f.get("code")) for f in flags}),
        )
        session.add(alert)
        recorded.append(alert)
    session.flush()
    for alert in recorded:
        audit(
            session,
            now,
            SYSTEM_ACTOR,
            "alert_baselined",
            alert,
            severity=alert.severity,
            message=alert.message,
            as_of=latest.isoformat(),
        )
    return recorded
