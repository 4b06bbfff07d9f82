"""What every handler needs: configuration, a database session, the clock, the viewer.

Handlers receive one :class:`BotContext` (built once by :func:`bot.app.build_app`)
instead of reaching for globals, so tests can run several apps side by side against
different databases, fake Slack servers and frozen clocks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.users import UserDirectory
from connectors.stripe_billing import StripeTrials
from digests.blocks import message, section
from digests.text import escape
from pulse.kernel.clock import utcnow
from pulse.kernel.config import PulseConfig
from pulse.services.access import Viewer, resolve_viewer
from pulse.services.trials import TrialBilling
from storage.db import session_scope

log = logging.getLogger("pulse.bot")

SORRY = "Sorry, something went wrong on Pulse's side. Please try again in a minute."


def notice(text: str) -> dict[str, Any]:
    """A one-line reply (errors, permission messages), built with the digests primitives
    so it passes the same Block Kit validation as every other message. The text is
    escaped: an error may quote what the user typed or an account's name."""
    safe = escape(text)
    return message([section(safe)], safe)


@dataclass
class BotContext:
    config: PulseConfig
    database_url: str
    users: UserDirectory
    clock: Callable[[], datetime] = utcnow
    billing: TrialBilling = field(default_factory=StripeTrials)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction per handler: committed when the block ends, rolled back on error."""
        with session_scope(self.database_url) as session:
            yield session

    def viewer(self, session: Session, slack_user_id: str) -> Viewer:
        """The person behind a request: Slack user -> email (cached users.info) -> Viewer."""
        user = self.users.get(slack_user_id)
        return resolve_viewer(session, self.config, slack_user_id, user.email)


def reply_error(respond: Respond | None, what: str) -> None:
    """Log the exception being handled and tell the user, ephemerally, that it failed.

    Lazy listeners run after the HTTP ack, so an exception there would otherwise vanish
    into a log line while the user waits for an answer that never comes.
    """
    log.exception("%s failed", what)
    if respond is None:
        return
    try:
        respond(**notice(SORRY), response_type="ephemeral", replace_original=False)
    except Exception:  # noqa: BLE001 - nothing more can be done; already logged above
        log.exception("could not tell the user that %s failed", what)


OpenAccountModal = Callable[[WebClient, str, int, str, Respond], None]
"""Opens a modal about an account: (client, Slack user id, account id, trigger_id, respond)."""


def account_modal_opener(
    open_modal: OpenAccountModal, action: str
) -> Callable[[dict[str, Any], WebClient, Respond], None]:
    """The lazy listener of a card button whose value is an account id and that opens a
    modal: a malformed value is logged and ignored, a failure told to the user."""

    def on_open(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        user_id = (body.get("user") or {}).get("id", "")
        value = ((body.get("actions") or [{}])[0]).get("value") or ""
        try:
            trigger_id = str(body.get("trigger_id") or "")
            open_modal(client, user_id, int(value), trigger_id, respond)
        except ValueError:
            log.warning("%s with a malformed value %r", action, value)
        except Exception:  # noqa: BLE001 - reported to the user and logged
            reply_error(respond, action)

    return on_open
