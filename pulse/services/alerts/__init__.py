"""Alert lifecycle: raise, route, acknowledge, snooze, reopen and resolve.

An alert exists per (account, rule) while its condition holds in the latest snapshots.
Rules are the churn-flag codes (``invoice_overdue`` ...) plus ``tier_crossed``. The
lifecycle, decided by :func:`evaluate_alerts` after each scoring run:

* **baseline**: on the first evaluation of an account (the first run, or its history
  just imported) a condition that already holds is recorded quietly, not raised, and
  summarised once; it reopens like an acknowledged alert when the account gets
  materially worse. Critical states (``alerts.baseline_still_alert``) are raised anyway
  (module ``baseline``).
* **raised**: a condition holds on a watched account and no live (open / acknowledged /
  snoozed / baseline) alert exists for that account and rule. A live alert is never
  raised twice, and the partial unique index ``uq_alerts_live`` makes that a database
  guarantee.
* **acknowledged**: the alert stays quiet for as long as the same condition (same account
  and rule) holds, even if its severity changes. When the condition clears and later comes
  back, that is a new alert.
* **snoozed**: quiet until ``snoozed_until``; after that, if the condition still holds,
  the alert goes back to ``open`` and is reported in ``reopened`` so the bot posts the
  card again.
* **reopened early**: an acknowledged or snoozed alert goes back to ``open`` before its
  time, with the reason on the card, when the account got materially worse since it went
  quiet (the ``quiet_*`` baseline recorded then): the score fell a further
  ``alerts.reopen_score_drop`` points, a critical flag appeared that was not there, or the
  renewal came within ``alerts.renewal_notice_days`` days having been further away. A
  CSM who snoozed "until next week" is not left unaware of an account that burns.
* **resolved**: the condition cleared (or the account is no longer scored), whatever the
  status; reported in ``resolved`` so the bot updates the card it posted.

``tier_crossed`` is raised when the tier worsened since the previous snapshot (into
``fine``: warning; into ``at_risk``: critical). It holds while the account stays in the
tier it crossed into or worse (a warning escalates to critical if it falls further) and
clears when the tier improves, so a CSM is not told "resolved" a day later while the
account is still at risk.

Every change made here writes an :class:`~storage.models.AuditLog` row in the caller's
transaction: ``actor="pulse"`` for evaluations, the Slack user id for user actions.
Nothing here commits; the Slack handler or scheduler owns the transaction.

Parts (modules of this package): ``evaluate`` (the lifecycle above, after each scoring
run), ``conditions`` (what holds in the latest snapshots), ``actions`` (acknowledge,
snooze, reasons), ``baseline`` (the first evaluation of an account), ``routing``
(where a card goes), ``views`` (view models and listings),
``base`` (statuses, the tier rule, the audit row).
"""

from __future__ import annotations

from pulse.services.alerts.actions import (
    SnoozeChoice,
    acknowledge,
    add_reason,
    clean_reason,
    reason_target,
    record_message,
    snooze,
    snooze_until,
)
from pulse.services.alerts.base import BASELINE, LIVE_STATUSES, QUIET_STATUSES, TIER_RULE
from pulse.services.alerts.evaluate import AlertChanges, evaluate_alerts, materially_worse
from pulse.services.alerts.routing import destination, route
from pulse.services.alerts.views import (
    alert_item,
    alert_items,
    crm_url,
    live_alerts,
    open_alert_counts,
)

__all__ = [
    "BASELINE",
    "LIVE_STATUSES",
    "QUIET_STATUSES",
    "TIER_RULE",
    "AlertChanges",
    "SnoozeChoice",
    "acknowledge",
    "add_reason",
    "alert_item",
    "alert_items",
    "clean_reason",
    "crm_url",
    "destination",
    "evaluate_alerts",
    "live_alerts",
    "materially_worse",
    "open_alert_counts",
    "reason_target",
    "record_message",
    "route",
    "snooze",
    "snooze_until",
]
