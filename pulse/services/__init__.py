"""Use cases: they read and write storage and return view models or what to send.

No service calls Slack (import-linter forbids ``slack_sdk`` here): every decision (who
sees what, which alert fires, what a digest lists, which playbook fires) is testable
against a database alone. What goes out is returned as values (:mod:`pulse.services.
outbox`'s :class:`~pulse.services.outbox.Message`, :class:`~pulse.services.notify.
AlertCard`, :class:`~pulse.services.notify.DigestMessage`); ``pulse.jobs`` and ``bot/``
send them through a :class:`~pulse.services.outbox.Delivery`, and a service records
where they landed. Each service takes the request's ``now`` (naive UTC) explicitly, so
tests control time. None of them commits: the caller owns the transaction
(``storage.db.session_scope``).

* :mod:`pulse.services.access` — :class:`Viewer`, :func:`resolve_viewer`, :func:`visible`,
  :func:`can_see`, ``find_visible_account``
* :mod:`pulse.services.health` — ``/health`` lookup and card, attention / risk /
  expansion lists
* :mod:`pulse.services.alerts` — alert evaluation, routing, acknowledge, snooze
* :mod:`pulse.services.digest_data` — CSM and manager digests, App Home, recipients
* :mod:`pulse.services.notify` — the alert messages (one per person) and digests a run sends
* :mod:`pulse.services.outbox` — outgoing messages and the ``Delivery`` protocol
* :mod:`pulse.services.overrides`, :mod:`pulse.services.playbooks` — CSM sentiments and
  playbooks, with the notices and messages they send
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
