"""Outgoing messages: what services hand over to be sent, and who sends them.

Services never call Slack. They return what to send as frozen values (a :class:`Message`:
where to, the Block Kit payload, a name for the logs), and the job or handler that
called them gives each one to a :class:`Delivery`. The one implementation that reaches
Slack is ``bot.delivery.SlackDelivery``, built by the entry points (``pulse serve``,
``pulse run``, ``pulse alerts`` ...) and injected down into ``pulse.jobs``; tests may
inject anything with the same methods. Recording where a message landed (an alert
card's channel and ts) stays a service function the caller runs with the
:class:`Posted` it got back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    """One message to send.

    ``destination`` is a channel id, or a person's Slack user id for their DM.
    ``what`` names the message in logs ("alert card 12", "csm digest for U0CSM0002").
    """

    destination: str
    payload: dict[str, Any]
    what: str


@dataclass(frozen=True)
class Posted:
    """Where a message landed: the real channel id (a DM's ``D...``) and its ts."""

    channel: str
    ts: str


class DeliveryError(Exception):
    """Slack refused a call; ``error`` is Slack's error code (``channel_not_found`` ...)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class Delivery(Protocol):
    """Sends messages. ``post`` and ``update`` return None, sending nothing, when the
    payload would break Slack's limits (logged with every violation); they raise
    :class:`DeliveryError` when Slack refuses the call."""

    def batch(self) -> Delivery:
        """A delivery for one run of many messages: each person's DM is opened once."""
        ...

    def post(self, message: Message) -> Posted | None:
        """Post to a channel, or to the DM of the user id ``message.destination`` names."""
        ...

    def update(self, message: Message, ts: str) -> Posted | None:
        """Replace the message ``ts`` in channel ``message.destination``."""
        ...

    def upload(self, destination: str, content: bytes, *, filename: str, title: str) -> str:
        """Upload a file into a channel or a user's DM; the file id."""
        ...
