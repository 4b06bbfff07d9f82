"""`/health NAME sentiment red "why" --until DATE`, `override 45 "why"`, `sentiment clear`.

Thin: parse, call :mod:`pulse.services.overrides`, answer with its builder.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.context import BotContext, account_modal_opener, notice
from bot.delivery import SlackDelivery
from digests.override_blocks import (
    OPEN_ACTION,
    REASON_INPUT,
    SENTIMENT_INPUT,
    UNTIL_INPUT,
    USAGE,
    VIEW,
    override_modal,
    override_reply,
)
from pulse.services import overrides
from pulse.services.outbox import Message
from pulse.services.overrides import SENTIMENTS, OverrideRequest

_Q = "\"“”'‘’"
_SYNTAX = re.compile(
    rf"^(?P<account>.+?)\s+(?P<verb>sentiment|override)\s+(?P<value>[^\s{_Q}]+)"
    rf"(?:\s+[{_Q}](?P<why>[^{_Q}]*)[{_Q}])?"
    r"(?:\s+--until\s+(?P<until>\S+))?\s*$",
    re.IGNORECASE,
)
log = logging.getLogger("pulse.bot.overrides")
ACTION_IDS = (OPEN_ACTION,)
_VERB = re.compile(r"\s(sentiment|override)(\s|$)", re.IGNORECASE)


def is_override(text: str) -> bool:
    return bool(_VERB.search(" ".join(text.split())))


def parse_override(text: str) -> OverrideRequest:
    """The request typed after ``/health``; ValueError naming what is wrong otherwise."""
    match = _SYNTAX.match(" ".join(text.split()))
    if match is None:
        raise ValueError(USAGE)
    account = match.group("account").strip()
    verb = match.group("verb").lower()
    value = match.group("value").lower()
    until_text = match.group("until")
    until = None
    if until_text:
        try:
            until = date.fromisoformat(until_text)
        except ValueError:
            raise ValueError(f"--until '{until_text}' is not a date (YYYY-MM-DD).") from None
    why = match.group("why")
    if value == "clear":
        return OverrideRequest(query=account, kind="clear")
    if verb == "sentiment":
        if value not in SENTIMENTS:
            raise ValueError(f"'{value}' is not a sentiment: use green, yellow, red or clear.")
        return OverrideRequest(account, "sentiment", sentiment=value, reason=why, until=until)
    try:
        score = float(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a score: use a number from 0 to 100.") from None
    if not 0 <= score <= 100:
        raise ValueError(f"{value} is outside 0-100.")
    return OverrideRequest(account, "score", score=score, reason=why, until=until)


def handle_override(ctx: BotContext, user_id: str, text: str, respond: Respond) -> None:
    try:
        request = parse_override(text)
    except ValueError as exc:
        respond(**notice(str(exc)), response_type="ephemeral")
        return
    with ctx.session() as session:
        viewer = ctx.viewer(session, user_id)
        try:
            reply = overrides.apply_request(session, ctx.config, viewer, request, ctx.clock())
        except PermissionError as exc:
            respond(**notice(str(exc)), response_type="ephemeral")
            return
    respond(**override_reply(reply), response_type="ephemeral")


def submitted(view: dict[str, Any]) -> tuple[OverrideRequest | None, dict[str, str]]:
    """The modal's values as a request, or the errors to show inside the modal."""
    values = (view.get("state") or {}).get("values") or {}

    def value(block: tuple[str, str], key: str) -> Any:
        return ((values.get(block[0]) or {}).get(block[1]) or {}).get(key)

    choice = (value(SENTIMENT_INPUT, "selected_option") or {}).get("value")
    reason = (value(REASON_INPUT, "value") or "").strip()
    until_text = value(UNTIL_INPUT, "selected_date")
    account_id = int(view.get("private_metadata") or 0)
    errors: dict[str, str] = {}
    if choice not in (*SENTIMENTS, "clear"):
        errors[SENTIMENT_INPUT[0]] = "Pick a sentiment."
    if choice != "clear" and not reason:
        errors[REASON_INPUT[0]] = "Say why: it is shown with the score."
    until = date.fromisoformat(until_text) if until_text else None
    if errors:
        return None, errors
    if choice == "clear":
        return OverrideRequest(query="", kind="clear", account_id=account_id), {}
    return OverrideRequest(
        query="",
        kind="sentiment",
        sentiment=choice,
        reason=reason,
        until=until,
        account_id=account_id,
    ), {}


def open_modal(
    ctx: BotContext,
    delivery: SlackDelivery,
    user_id: str,
    account_id: int,
    trigger_id: str,
    respond: Respond,
) -> None:
    with ctx.session() as session:
        viewer = ctx.viewer(session, user_id)
        try:
            name, current, until = overrides.modal_state(
                session, ctx.config, viewer, account_id, ctx.clock().date()
            )
        except PermissionError as exc:
            respond(**notice(str(exc)), response_type="ephemeral", replace_original=False)
            return
    delivery.open_view(trigger_id, override_modal(name, account_id, until, current))


def save_modal(
    ctx: BotContext, delivery: SlackDelivery, user_id: str, request: OverrideRequest
) -> None:
    """Apply the modal's request and tell the person by DM (a modal has no response_url)."""
    with ctx.session() as session:
        viewer = ctx.viewer(session, user_id)
        reply = overrides.apply_request(session, ctx.config, viewer, request, ctx.clock())
    delivery.post(Message(user_id, override_reply(reply), f"sentiment reply to {user_id}"))


def register(app: App, ctx: BotContext) -> None:
    """The health card's "CSM sentiment" button and its modal."""

    def ack_only(ack: Ack) -> None:
        ack()

    on_open = account_modal_opener(
        lambda client, user_id, account_id, trigger_id, respond: open_modal(
            ctx, SlackDelivery(client), user_id, account_id, trigger_id, respond),
        OPEN_ACTION,
    )

    def ack_view(ack: Ack, view: dict[str, Any]) -> None:
        _, errors = submitted(view)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()

    def on_submit(body: dict[str, Any], client: WebClient, view: dict[str, Any]) -> None:
        request, errors = submitted(view)
        if request is None:
            return  # refused in the ack, inside the modal
        user_id = (body.get("user") or {}).get("id", "")
        try:
            save_modal(ctx, SlackDelivery(client), user_id, request)
        except PermissionError as exc:
            log.warning("sentiment from %s refused: %s", user_id, exc)
        except Exception:  # noqa: BLE001 - no response_url on a view submission: log it
            log.exception("saving a CSM sentiment failed")

    app.action(OPEN_ACTION)(ack=ack_only, lazy=[on_open])
    app.view(VIEW)(ack=ack_view, lazy=[on_submit])
