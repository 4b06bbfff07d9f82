"""Services a thin Slack handler calls: they read storage and return view models.

No Slack client calls happen here, so every decision (who sees what, which alert fires,
what a digest lists) is testable against a database alone. Each service takes the
request's ``now`` (naive UTC) explicitly, so tests control time. None of them commits:
the caller owns the transaction (``storage.db.session_scope``).

* :mod:`pulse.services.access` — :class:`Viewer`, :func:`resolve_viewer`, :func:`visible`,
  :func:`can_see`
* :mod:`pulse.services.health` — ``/health`` lookup and card, attention / risk /
  expansion lists
* :mod:`pulse.services.alerts` — alert evaluation, routing, acknowledge, snooze
* :mod:`pulse.services.digest_data` — CSM and manager digests, App Home, recipients
* :mod:`pulse.services.metrics` — retention, churn, adoption ... over a period
  (``pulse metrics``, the digest's retention section)
"""

from __future__ import annotations

from pulse.services.access import Viewer, can_see, resolve_viewer, visible
from pulse.services.alerts import (
    AlertChanges,
    acknowledge,
    alert_item,
    evaluate_alerts,
    record_message,
    route,
    snooze,
)
from pulse.services.digest_data import csm_digest, digest_recipients, home_view, manager_digest
from pulse.services.health import (
    Refused,
    expansion_list,
    health_card,
    health_lookup,
    my_attention,
    risk_list,
)

__all__ = [
    "AlertChanges",
    "Refused",
    "Viewer",
    "acknowledge",
    "alert_item",
    "can_see",
    "csm_digest",
    "digest_recipients",
    "evaluate_alerts",
    "expansion_list",
    "health_card",
    "health_lookup",
    "home_view",
    "manager_digest",
    "my_attention",
    "record_message",
    "resolve_viewer",
    "risk_list",
    "route",
    "snooze",
    "visible",
]
