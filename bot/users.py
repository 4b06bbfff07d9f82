"""Slack user id -> email (and display name), via ``users.info``, cached per process.

The call goes through :meth:`bot.delivery.SlackDelivery.user_info`, like every Slack call.

Access in Pulse is decided by matching the Slack user to a CRM owner by email
(``pulse.services.access``). Every slash command and click needs that, and ``users.info``
is a Tier 4 method but still a network round trip, so answers are cached for a few
minutes: long enough that a burst of clicks costs one call, short enough that a changed
email or a deactivated user is picked up soon.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient

from bot.delivery import SlackDelivery
from pulse.services.outbox import DeliveryError

log = logging.getLogger("pulse.bot.users")

DEFAULT_TTL_SECONDS = 300.0
FAILURE_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class SlackUser:
    """What Pulse needs to know about a Slack user."""

    id: str
    email: str | None  # None when users.info failed or the scope users:read.email is missing
    name: str | None
    is_bot: bool = False


class UserDirectory:
    """A thread-safe TTL cache in front of ``users.info``.

    Failures are cached too, but briefly, so a missing scope or an unknown user does not
    turn every request into an extra API call while still recovering quickly once fixed.
    """

    def __init__(
        self,
        client: WebClient,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slack = SlackDelivery(client)
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, SlackUser]] = {}

    def get(self, user_id: str) -> SlackUser:
        """The user, from cache when fresh, else from ``users.info``."""
        now = self._clock()
        with self._lock:
            hit = self._cache.get(user_id)
            if hit is not None and hit[0] > now:
                return hit[1]
        user, ok = self._fetch(user_id)
        expires = now + (self._ttl if ok else min(self._ttl, FAILURE_TTL_SECONDS))
        with self._lock:
            self._cache[user_id] = (expires, user)
        return user

    def _fetch(self, user_id: str) -> tuple[SlackUser, bool]:
        try:
            data = self._slack.user_info(user_id)
        except DeliveryError as exc:
            log.warning("users.info for %s failed: %s", user_id, exc.error)
            return SlackUser(user_id, None, None), False
        profile = data.get("profile") or {}
        email = profile.get("email")
        if not email:
            log.warning(
                "users.info for %s returned no email: is the users:read.email scope granted?",
                user_id,
            )
        name = profile.get("real_name") or data.get("real_name") or data.get("name")
        return (
            SlackUser(user_id, email or None, name or None, bool(data.get("is_bot"))),
            True,
        )
