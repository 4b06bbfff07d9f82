"""Replies to `/health` and alert cards: :mod:`.health` (the health card), :mod:`.replies`
(pick list, refusal, "not scored yet", help, account lists), :mod:`.alert` (the alert
card and its reason modal) and :mod:`.bundle` (one person's new alerts of a run in one
message, each line with the alert card's buttons).

Pure functions from :mod:`digests.views` models to message payloads
(``{"blocks": [...], "text": "..."}``); the bot decides where to post them (ephemeral for
`/health`, a channel or DM for alerts).

Interaction contract (what the bot must handle):

========================  ==============================  ===============================
action_id                 value                           meaning
========================  ==============================  ===============================
``health_pick``           ``str(account_id)``             show that account's health card
``alert_ack``             ``str(alert_id)``               acknowledge one alert
``alert_ack_all``         ``"12,15,19"`` (alert ids)      acknowledge every listed alert
``alert_snooze``          ``"<alert_id>:1d|7d|30d|renewal"``  (static_select, read
                                                          ``selected_option.value``)
``alert_reason``          ``str(alert_id)``               open the reason modal
``override_open``         ``str(account_id)``             open the CSM sentiment modal
``note_open``             ``str(account_id)``             open the "Log a note" modal
``open_crm``              none (URL button)               only ack; Slack opens the URL
========================  ==============================  ===============================

On an alert card the actions' ``block_id`` is ``alert_<id>`` (the bot replaces the clicked
card); on a message of several new alerts (:mod:`.bundle`) it is ``bundle_<id>`` (the bot
re-renders the whole message from its record).
"""

from digests.cards.alert import (
    REASON_ACTION,
    REASON_INPUT,
    REASON_VIEW,
    SNOOZE_CHOICES,
    alert_card,
    reason_modal,
)
from digests.cards.bundle import BUNDLE_BLOCK_PREFIX, alert_bundle, baseline_text
from digests.cards.health import component_line, health_card
from digests.cards.replies import (
    REFUSAL_TEXT,
    account_list,
    help_message,
    not_scored,
    pick_list,
    refusal,
)

__all__ = [
    "BUNDLE_BLOCK_PREFIX",
    "REASON_ACTION",
    "REASON_INPUT",
    "REASON_VIEW",
    "REFUSAL_TEXT",
    "SNOOZE_CHOICES",
    "account_list",
    "alert_bundle",
    "alert_card",
    "baseline_text",
    "component_line",
    "health_card",
    "help_message",
    "not_scored",
    "pick_list",
    "reason_modal",
    "refusal",
]
