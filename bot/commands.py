"""`/health`: parse the text, call a service, render with a builder, respond.

The slash command is acked at once with an empty body (Slack shows nothing for an empty
ack) and the answer follows from a lazy listener through ``response_url`` as an
ephemeral message: a lookup over a large portfolio may take longer than Slack's 3-second
ack deadline, and an ephemeral reply keeps health details out of the channel.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import overrides, preferences, trials
from bot.context import BotContext, reply_error
from bot.delivery import SlackDelivery
from digests.cards import (
    account_list,
    help_message,
    not_scored,
    pick_list,
    refusal,
)
from digests.preference_blocks import health_card_with_preferences
from digests.views import HealthCard, PickList
from pulse.services import health
from pulse.services import preferences as preference_service

COMMAND = "/health"
LISTS = {
    "": (
        "Needs your attention today",
        "Nothing in your portfolio needs attention today.",
        health.my_attention,
    ),
    "risk": ("At-risk accounts", "None of your accounts is at risk.", health.risk_list),
    "expansion": (
        "Expansion candidates",
        "No expansion candidates in your portfolio right now.",
        health.expansion_list,
    ),
}
HELP_WORDS = {"help", "?", "-h", "--help"}


def render_health(ctx: BotContext, user_id: str, text: str) -> dict[str, Any]:
    """The reply to ``/health <text>`` for ``user_id``: a builder payload."""
    query = " ".join(text.split())
    word = query.lower()
    if word in HELP_WORDS:
        return help_message()
    with ctx.session() as session:
        viewer = ctx.viewer(session, user_id)
        if viewer.role == "none":
            # Someone Pulse does not know: the same refusal as for an unknown account.
            return refusal(query)
        now = ctx.clock()
        if word in LISTS:
            title, empty, service = LISTS[word]
            lines = service(session, ctx.config, viewer, now)
            return account_list(title, lines, empty, ctx.config.slack.digest_limit)
        result = health.health_lookup(session, ctx.config, viewer, query, now)
        if isinstance(result, HealthCard):
            mine = preference_service.get(session, user_id, now)
            account_id = result.account.account_id
            return health_card_with_preferences(
                result, muted=account_id in mine.mutes, following=account_id in mine.follows
            )
    if isinstance(result, PickList):
        return pick_list(result)
    return not_scored() if result.reason == "not_scored" else refusal(query)


def register(app: App, ctx: BotContext) -> None:
    """Attach `/health` to ``app``."""

    def ack_health(ack: Ack) -> None:
        ack()

    def answer_health(command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        text = command.get("text") or ""
        try:
            if trials.is_extend(text):
                trials.handle_extend(ctx, SlackDelivery(client), command["user_id"], text, respond)
                return
            if preferences.is_preferences(text):
                preferences.handle(ctx, SlackDelivery(client), command, respond)
                return
            if overrides.is_override(text):
                overrides.handle_override(ctx, command["user_id"], text, respond)
                return
            payload = render_health(ctx, command["user_id"], text)
            respond(**payload, response_type="ephemeral")
        except Exception:  # noqa: BLE001 - reported to the user and logged
            reply_error(respond, "/health")

    app.command(COMMAND)(ack=ack_health, lazy=[answer_health])
