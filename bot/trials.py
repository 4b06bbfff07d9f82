"""`/health extend-trial NAME ["why"]` and the manager's Approve / Decline buttons.

Thin: parse, call :mod:`pulse.services.trials`, post what the builders of
:mod:`digests.trial_blocks` make. The approval DM goes to the manager the service names;
the decision updates that DM in place and tells the requester by DM.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.context import BotContext, notice, reply_error
from bot.delivery import SlackDelivery
from digests.trial_blocks import (
    APPROVE,
    DECLINE,
    TrialReply,
    approval_request,
    decision_notice,
    not_the_approver,
    trial_reply,
)
from pulse.services import trials
from pulse.services.outbox import DeliveryError, Message

log = logging.getLogger("pulse.bot.trials")

WORD = "extend-trial"
ACTION_IDS = (APPROVE, DECLINE)
USAGE = f'Usage: `/health {WORD} ACCOUNT "why the customer needs more time"`'
_QUOTES = "\"“”'‘’"
_SYNTAX = re.compile(
    rf"^{WORD}\s+(?P<account>[^{_QUOTES}]+?)\s*(?:[{_QUOTES}](?P<why>.*?)[{_QUOTES}]?)?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def is_extend(text: str) -> bool:
    return text.strip().lower().split(" ", 1)[0] == WORD


def parse_extend(text: str) -> tuple[str, str | None]:
    """(account query, justification or None); ValueError with the usage when malformed.

    The justification is the quoted part, so account names may have spaces:
    ``extend-trial acme corp "security review needs two more weeks"``.
    """
    match = _SYNTAX.match(" ".join(text.split()))
    if match is None:
        raise ValueError(USAGE)
    why = (match.group("why") or "").strip() or None
    return match.group("account").strip(), why


def handle_extend(
    ctx: BotContext, delivery: SlackDelivery, user_id: str, text: str, respond: Respond
) -> None:
    """Run the policy for the typed account and answer ephemerally (and DM the approver)."""
    try:
        query, why = parse_extend(text)
    except ValueError as exc:
        respond(**notice(str(exc)), response_type="ephemeral")
        return
    with ctx.session() as session:
        viewer = ctx.viewer(session, user_id)
        try:
            result = trials.request_extension(
                session, ctx.config, viewer, query, why, ctx.clock(), ctx.billing
            )
        except PermissionError as exc:
            respond(**notice(str(exc)), response_type="ephemeral")
            return
    if isinstance(result, TrialReply):
        respond(**trial_reply(result), response_type="ephemeral")
        return
    approver = result.approver
    request = Message(approver, approval_request(result.request), f"approval request to {approver}")
    posted, error = None, "invalid_blocks"  # the error when nothing was posted
    try:
        posted = delivery.post(request)
    except DeliveryError as exc:
        error = exc.error
    if posted is None:
        with ctx.session() as session:
            trials.cancel_request(session, result.request.extension_id, error, ctx.clock())
        failed = TrialReply(
            kind="failed",
            account_name=result.reply.account_name,
            # the detail is escaped as text: a mention in it would show as "<@U…>"
            detail=f"the approval request could not be sent to the approver ({error}).",
        )
        respond(**trial_reply(failed), response_type="ephemeral")
        return
    with ctx.session() as session:
        trials.record_request_message(
            session, result.request.extension_id, posted.channel, posted.ts
        )
    respond(**trial_reply(result.reply), response_type="ephemeral")


def _decide(
    ctx: BotContext, body: dict[str, Any], delivery: SlackDelivery, respond: Respond, approve: bool
) -> None:
    user_id = (body.get("user") or {}).get("id", "")
    value = ((body.get("actions") or [{}])[0]).get("value") or ""
    try:
        extension_id = int(value)
    except ValueError:
        log.warning("trial decision with a malformed value %r", value)
        return
    with ctx.session() as session:
        viewer = ctx.viewer(session, user_id)
        try:
            decided = trials.decide(
                session, ctx.config, viewer, extension_id, approve, ctx.clock(), ctx.billing
            )
        except trials.NotTheApprover as exc:
            respond(**not_the_approver(exc.approver), response_type="ephemeral",
                    replace_original=False)
            return
        except (PermissionError, LookupError) as exc:
            respond(**notice(str(exc)), response_type="ephemeral", replace_original=False)
            return
    if not decided.changed:
        if decided.message:
            respond(**notice(decided.message), response_type="ephemeral", replace_original=False)
        return
    respond(**approval_request(decided.request), replace_original=True)
    requester = decided.requester
    delivery.post(
        Message(requester, decision_notice(decided.request), f"trial decision to {requester}")
    )


def register(app: App, ctx: BotContext) -> None:
    """Attach the Approve / Decline buttons of approval DMs to ``app``."""

    def ack_only(ack: Ack) -> None:
        ack()

    def on_approve(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        try:
            _decide(ctx, body, SlackDelivery(client), respond, approve=True)
        except Exception:  # noqa: BLE001 - reported to the user and logged
            reply_error(respond, APPROVE)

    def on_decline(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        try:
            _decide(ctx, body, SlackDelivery(client), respond, approve=False)
        except Exception:  # noqa: BLE001 - reported to the user and logged
            reply_error(respond, DECLINE)

    app.action(APPROVE)(ack=ack_only, lazy=[on_approve])
    app.action(DECLINE)(ack=ack_only, lazy=[on_decline])
