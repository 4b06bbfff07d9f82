"""What every part of the alert lifecycle shares: statuses, the tier rule, the audit row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.models import Alert, AuditLog

SYSTEM_ACTOR = "pulse"
"""The audit actor of evaluations (user actions are audited under the Slack user id)."""
TIER_RULE = "tier_crossed"
TIER_LABEL = "Health tier dropped"
TIER_ACTION = (
    "Open the health card to see what changed, then contact the account before the next "
    "scoring run."
)
BASELINE = "baseline"
"""The status of a condition that already held when Pulse started watching the account:
live (not raised again while it holds), quiet, and summarised once instead of sent."""
LIVE_STATUSES = ("open", "acknowledged", "snoozed", BASELINE)
QUIET_STATUSES = ("acknowledged", "snoozed")
"""Quiet because a person acknowledged or snoozed it (a reason can be added)."""
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def audit(
    session: Session,
    now: datetime,
    actor: str,
    action: str,
    alert: Alert,
    **detail: Any,
) -> None:
    """Add the audit row of a change to ``alert`` (in the caller's transaction)."""
    session.add(
        AuditLog(
            at=now,
            actor=actor,
            action=action,
            account_id=alert.account_id,
            detail={"alert_id": alert.id, "rule": alert.rule, **detail},
            outcome="ok",
        )
    )
