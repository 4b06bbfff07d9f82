"""Alerts as view models (:class:`~digests.views.AlertItem`) and the queries that list them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from digests.views import AlertItem
from pulse.services.alerts.base import (
    LIVE_STATUSES,
    QUIET_STATUSES,
    SEVERITY_ORDER,
    TIER_ACTION,
    TIER_LABEL,
    TIER_RULE,
)
from pulse.services.alerts.standing import Standing, standings
from scoring.flags import FLAG_SPECS
from storage.models import Account, Alert


def crm_url(salesforce_id: str | None, hubspot_id: str | None) -> str | None:
    """Link to the account in the CRM, from ``SALESFORCE_INSTANCE_URL`` / ``HUBSPOT_PORTAL_ID``.

    Read from the environment at call time (these are deployment settings, like every
    endpoint in Pulse). Salesforce wins when both are configured and the account has both
    ids. ``None`` when no CRM is configured or the account has no id in it.
    """
    instance = os.environ.get("SALESFORCE_INSTANCE_URL", "").strip()
    if instance and salesforce_id:
        host = instance.split("://", 1)[-1].strip("/")
        return f"https://{host}/lightning/r/Account/{salesforce_id}/view"
    portal = os.environ.get("HUBSPOT_PORTAL_ID", "").strip()
    if portal and hubspot_id:
        return f"https://app.hubspot.com/contacts/{portal}/company/{hubspot_id}"
    return None


def _label_action(alert: Alert) -> tuple[str, str | None]:
    """The flag's current label (a renamed title reaches alerts raised before the rename),
    and the stored action; rows without them fall back to the flag definitions."""
    spec = FLAG_SPECS.get(alert.rule)
    if alert.rule == TIER_RULE:
        default_label, default_action = TIER_LABEL, TIER_ACTION
    elif spec is not None:
        return spec.label, alert.action or spec.action
    else:
        default_label, default_action = alert.rule.replace("_", " ").capitalize(), None
    return alert.label or default_label, alert.action or default_action


def alert_item(session: Session, alert: Alert) -> AlertItem:
    """The view model of one alert (account name, CRM link and owner's Slack id included),
    with where its account stands (:mod:`pulse.services.alerts.standing`)."""
    return _item(session, alert, standings(session, [alert.account_id]).get(alert.account_id))


def _item(session: Session, alert: Alert, standing: Standing | None) -> AlertItem:
    account = session.get(Account, alert.account_id)
    owner = account.owner if account is not None else None
    label, action = _label_action(alert)
    return AlertItem(
        id=alert.id,
        account_id=alert.account_id,
        account_name=account.name if account is not None else f"account {alert.account_id}",
        rule=alert.rule,
        label=label,
        severity=alert.severity,
        status=alert.status,
        message=alert.message,
        action=action,
        opened_at=alert.opened_at,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        snoozed_by=alert.snoozed_by,
        snoozed_until=alert.snoozed_until,
        resolved_at=alert.resolved_at,
        crm_url=crm_url(account.salesforce_id, account.hubspot_id) if account else None,
        owner_slack_id=owner.slack_user_id if owner is not None else None,
        quiet_reason=alert.quiet_reason if alert.status in QUIET_STATUSES else None,
        reopen_reason=alert.reopen_reason if alert.status == "open" else None,
        arr=float(account.arr) if account is not None and account.arr is not None else None,
        **_standing_fields(standing),
    )


def _standing_fields(standing: Standing | None) -> dict[str, Any]:
    """The :class:`AlertItem` fields filled from the account's standing (none unscored)."""
    if standing is None:
        return {}
    return {
        "score": standing.score,
        "tier": standing.tier,
        "prev_score": standing.prev_score,
        "prev_tier": standing.prev_tier,
        "renewal_date": standing.renewal_date,
        "days_to_renewal": standing.days_to_renewal,
        "reasons": standing.reasons,
        "data_as_of": standing.data_as_of,
        "stale": standing.stale,
        "peer_note": standing.peer_note,
    }


def alert_items(session: Session, alerts: Sequence[Alert]) -> list[AlertItem]:
    """View models of many alerts, loading their accounts and owners in one query."""
    ids = {a.account_id for a in alerts}
    if ids:
        session.scalars(
            select(Account).options(selectinload(Account.owner)).where(Account.id.in_(ids))
        ).all()
    where = standings(session, ids)
    return [_item(session, a, where.get(a.account_id)) for a in alerts]


def live_alerts(session: Session, account_id: int) -> list[Alert]:
    """An account's open, acknowledged and snoozed alerts, critical first, newest first."""
    alerts = session.scalars(
        select(Alert)
        .where(Alert.account_id == account_id, Alert.status.in_(LIVE_STATUSES))
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
    ).all()
    return sorted(alerts, key=lambda a: SEVERITY_ORDER.get(a.severity, 9))


def open_alert_counts(session: Session, account_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Alerts in status ``open`` per account (one GROUP BY); ``None`` means all accounts."""
    stmt = select(Alert.account_id, func.count()).where(Alert.status == "open")
    if account_ids is not None:
        ids = list(account_ids)
        if not ids:
            return {}
        stmt = stmt.where(Alert.account_id.in_(ids))
    return {int(a): int(n) for a, n in session.execute(stmt.group_by(Alert.account_id)).all()}
