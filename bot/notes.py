""""Log a note" on health and alert cards: the button opens a modal, the submission logs
the note in the account's CRM and the audit log, and the author gets the outcome by DM.

Thin: parse, call :mod:`pulse.services.notes`, render with :mod:`digests.note_blocks`.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.context import BotContext, account_modal_opener, notice
from bot.delivery import SlackDelivery
from digests.note_blocks import NOTE_ACTION, NOTE_INPUT, NOTE_VIEW, note_modal, note_reply
from pulse.services import notes
from pulse.services.outbox import Message

log = logging.getLogger("pulse.bot.notes")
ACTION_IDS = (NOTE_ACTION,)


def note_text(view: dict[str, Any]) -> str:
    """The typed note from a view_submission's ``state.values``."""
    block_id, action_id = NOTE_INPUT
    values = (view.get("state") or {}).get("values") or {}
    return str(((values.get(block_id) or {}).get(action_id) or {}).get("value") or "")


def open_modal(
    ctx: BotContext,
    delivery: SlackDelivery,
    user_id: str,
    account_id: int,
    trigger_id: str,
    respond: Respond,
) -> None:
    """The modal for a person who may act on the account; otherwise why not, ephemerally."""
    with ctx.session() as session:
        viewer = ctx.viewer(session, user_id)
        try:
            target = notes.note_target(session, ctx.config, viewer, account_id)
        except (PermissionError, LookupError) as exc:
            respond(**notice(str(exc)), response_type="ephemeral", replace_original=False)
            return
    delivery.open_view(trigger_id, note_modal(target.account_name, account_id, target.system))


def save_note(ctx: BotContext, delivery: SlackDelivery, user_id: str, view: dict[str, Any]) -> None:
    """Log the note (audited, committed) and tell the author by DM (a modal has no
    response_url); a refusal is told the same way."""
    account_id = int(view.get("private_metadata") or 0)
    with ctx.session() as session:
        viewer = ctx.viewer(session, user_id)
        try:
            reply = notes.log_note(
                session, ctx.config, viewer, account_id, note_text(view), ctx.clock()
            )
        except (PermissionError, LookupError, ValueError) as exc:
            payload = notice(str(exc))
        else:
            payload = note_reply(reply)
    delivery.post(Message(user_id, payload, f"note reply to {user_id}"))


def register(app: App, ctx: BotContext) -> None:
    """The cards' "Log a note" button and its modal."""

    def ack_only(ack: Ack) -> None:
        ack()

    on_open = account_modal_opener(
        lambda client, user_id, account_id, trigger_id, respond: open_modal(
            ctx, SlackDelivery(client), user_id, account_id, trigger_id, respond),
        NOTE_ACTION,
    )

    def ack_view(ack: Ack, view: dict[str, Any]) -> None:
        # Validation must happen in the ack: only it can show an error inside the modal.
        if notes.clean_note(note_text(view)) is None:
            ack(response_action="errors", errors={NOTE_INPUT[0]: "Type a note first."})
            return
        ack()

    def on_submit(body: dict[str, Any], client: WebClient, view: dict[str, Any]) -> None:
        if notes.clean_note(note_text(view)) is None:
            return  # refused in the ack, inside the modal
        user_id = (body.get("user") or {}).get("id", "")
        try:
            save_note(ctx, SlackDelivery(client), user_id, view)
        except Exception:  # noqa: BLE001 - no response_url on a view submission: log it
            log.exception("logging a note failed")

    app.action(NOTE_ACTION)(ack=ack_only, lazy=[on_open])
    app.view(NOTE_VIEW)(ack=ack_view, lazy=[on_submit])
