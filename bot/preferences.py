"""``/health settings`` (a modal of what reaches me) and ``/health mute|unmute|follow|
unfollow NAME``.

Thin: parse, call :mod:`pulse.services.preferences`, render with
:mod:`digests.preference_blocks`, respond. The modal is saved on ``view_submission``;
the confirmation goes by DM (a modal has no ``response_url``).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.context import BotContext, notice, reply_error
from bot.delivery import SlackDelivery
from digests.preference_blocks import (
    ACCOUNT_ACTIONS,
    SETTINGS_VIEW,
    SEVERITY_INPUT,
    settings_modal,
    settings_saved,
    settings_values,
)
from pulse.services import preferences
from pulse.services.outbox import Message

log = logging.getLogger("pulse.bot.preferences")
ACTION_IDS = tuple(ACCOUNT_ACTIONS.values())
SETTINGS_WORD = "settings"


def is_preferences(text: str) -> bool:
    """``/health settings`` or ``/health VERB NAME`` with a verb of ``ACCOUNT_VERBS``."""
    words = text.split()
    if not words:
        return False
    first = words[0].lower()
    return (first == SETTINGS_WORD and len(words) == 1) or (
        first in preferences.ACCOUNT_VERBS and len(words) > 1
    )


def handle(
    ctx: BotContext, delivery: SlackDelivery, command: dict[str, Any], respond: Respond
) -> None:
    """Open the settings modal, or mute/follow an account and say so ephemerally."""
    user_id = str(command.get("user_id") or "")
    verb, _, query = " ".join(str(command.get("text") or "").split()).partition(" ")
    with ctx.session() as session:
        viewer = ctx.viewer(session, user_id)
        if viewer.role == "none":
            respond(**notice("Pulse does not know you yet, so it has no settings for you."),
                    response_type="ephemeral")
            return
        now = ctx.clock()
        if verb.lower() == SETTINGS_WORD:
            view = preferences.settings_view(session, ctx.config, user_id, now)
        else:
            reply = preferences.account_command(session, viewer, verb.lower(), query, now)
            respond(**notice(reply), response_type="ephemeral")
            return
    delivery.open_view(str(command.get("trigger_id") or ""), settings_modal(view))


def save(ctx: BotContext, user_id: str, view: dict[str, Any]) -> str:
    """Store the submitted settings (audited); the confirmation text."""
    severity, days, time = settings_values(view)
    with ctx.session() as session:
        changed = preferences.update(session, user_id, ctx.clock(), digest_time=time,
                                     quiet_days=days, min_severity=severity)
    return settings_saved(changed)


def click(ctx: BotContext, user_id: str, action_id: str, value: str, respond: Respond) -> None:
    """A health card's Mute / Unmute / Follow / Unfollow: do it, say so ephemerally."""
    verb = next(v for v, a in ACCOUNT_ACTIONS.items() if a == action_id)
    with ctx.session() as session:
        viewer = ctx.viewer(session, user_id)
        reply = preferences.account_action(session, viewer, verb, int(value), ctx.clock())
    respond(**notice(reply), response_type="ephemeral", replace_original=False)


def register(app: App, ctx: BotContext) -> None:
    """The health card's preference buttons and the settings modal's submission
    (``/health`` itself routes to :func:`handle`)."""

    def ack_only(ack: Ack) -> None:
        ack()

    def on_click(body: dict[str, Any], respond: Respond) -> None:
        user_id = (body.get("user") or {}).get("id", "")
        action = (body.get("actions") or [{}])[0]
        try:
            click(ctx, user_id, str(action.get("action_id")), str(action.get("value")), respond)
        except ValueError:
            log.warning("%s with a malformed value %r", action.get("action_id"),
                        action.get("value"))
        except Exception:  # noqa: BLE001 - reported to the user and logged
            reply_error(respond, str(action.get("action_id")))

    for action_id in ACTION_IDS:
        app.action(action_id)(ack=ack_only, lazy=[on_click])

    def ack_view(ack: Ack, view: dict[str, Any]) -> None:
        # Validation must happen in the ack: only it can show an error inside the modal.
        severity, _, _ = settings_values(view)
        if severity not in preferences.DM_SEVERITIES:
            ack(response_action="errors", errors={SEVERITY_INPUT[0]: "Choose one."})
            return
        ack()

    def on_submit(body: dict[str, Any], client: WebClient, view: dict[str, Any]) -> None:
        user_id = (body.get("user") or {}).get("id", "")
        try:
            text = save(ctx, user_id, view)
        except ValueError as exc:
            text = str(exc)
        except Exception:  # noqa: BLE001 - no response_url on a view submission: log it
            log.exception("saving settings failed")
            return
        SlackDelivery(client).post(Message(user_id, notice(text), f"settings reply to {user_id}"))

    app.view(SETTINGS_VIEW)(ack=ack_view, lazy=[on_submit])
