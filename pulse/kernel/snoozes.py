"""How long an alert can be snoozed: the choices a CSM is offered, and what each means.

The one owner of this vocabulary: the alert card offers :data:`SNOOZE_LABELS` in this
order (``digests.cards``), and the alert lifecycle turns a choice into an end time
(``pulse.services.alerts``): :data:`SNOOZE_DAYS` days from now, or the account's renewal
date for :data:`UNTIL_RENEWAL`.
"""

from __future__ import annotations

from typing import Literal

SnoozeChoice = Literal["1d", "7d", "30d", "renewal"]

UNTIL_RENEWAL: SnoozeChoice = "renewal"

SNOOZE_DAYS: dict[str, int] = {"1d": 1, "7d": 7, "30d": 30}
"""The fixed-length snoozes, in days."""

SNOOZE_LABELS: dict[str, str] = {
    "1d": "1 day",
    "7d": "7 days",
    "30d": "30 days",
    UNTIL_RENEWAL: "Until renewal",
}
"""Every choice, in the order a card offers them, with the words it shows."""
