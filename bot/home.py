"""The App Home tab: publish the viewer's portfolio whenever they open it.

``app_home_opened`` is an Events API event: acked at once, the view is computed and
published by a lazy listener (``views.publish`` needs no extra scope). Opening the
Messages tab fires the same event with ``tab: "messages"``; that one is ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.context import BotContext
from bot.delivery import SlackDelivery
from digests.home import home_view
from pulse.services import digest_data

log = logging.getLogger("pulse.bot.home")

EVENT = "app_home_opened"


def publish_home(ctx: BotContext, delivery: SlackDelivery, user_id: str) -> bool:
    """Compute and publish ``user_id``'s Home view; False when it was not published."""
    with ctx.session() as session:
        viewer = ctx.viewer(session, user_id)
        data = digest_data.home_view(session, ctx.config, viewer, ctx.clock())
    return delivery.publish_home(user_id, home_view(data))


def register(app: App, ctx: BotContext) -> None:
    """Attach ``app_home_opened`` to ``app``."""

    def ack_event(ack: Ack) -> None:
        ack()

    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        try:
            publish_home(ctx, SlackDelivery(client), event["user"])
        except Exception:  # noqa: BLE001 - an event has nobody to reply to: log it
            log.exception("publishing the Home view of %s failed", event.get("user"))

    app.event(EVENT)(ack=ack_event, lazy=[on_home_opened])
