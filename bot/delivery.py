"""Every call Pulse makes to Slack's Web API to send something goes through here.

The services return what to send (:mod:`pulse.services.outbox`); :class:`SlackDelivery`
sends it, for the jobs (injected by the entry points) and for the Bolt handlers alike:

* **One WebClient recipe** (:func:`web_client`): ``SLACK_API_URL`` as the base, and
  slack_sdk's built-in :class:`RateLimitErrorRetryHandler`, which honours Slack's HTTP 429
  ``Retry-After``. Bolt copies the retry handlers into its per-request clients, so
  handlers get the same behaviour without hand-written retry loops anywhere.
* **DMs go through ``conversations.open``** (scope ``im:write``) rather than posting to a
  user id: the call returns the DM's real channel id (``D...``), which is what must be
  stored for ``chat.update`` later and what ``files_upload_v2`` requires; posting to a
  user id works for messages but not for file uploads, and stores a channel id that is
  not the one Slack later reports in click payloads.
* Every message is checked with :func:`digests.limits.validate_message` (a Home tab with
  :func:`digests.limits.validate_home`) before it is sent: a payload Slack would reject
  is logged with its violations and skipped, so one bad card never stops the rest.
  Modals (:meth:`SlackDelivery.open_view`) are sent as their builders made them.
* ``users.lookupByEmail`` (:meth:`SlackDelivery.lookup_by_email`) is the directory
  :mod:`pulse.services.people` matches CRM owners with.
* Refusals and retries are counted in ``pulse_api_errors_total{api="slack"}`` and
  ``pulse_api_retries_total{api="slack"}`` (:mod:`pulse.kernel.telemetry`).
* Slack's refusals surface as :class:`pulse.services.outbox.DeliveryError` with Slack's
  error code, so no caller outside ``bot/`` handles slack_sdk's exceptions.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from digests.limits import validate_home, validate_message
from pulse.kernel.telemetry import api_error, api_retry
from pulse.services.outbox import DeliveryError, Message, Posted

log = logging.getLogger("pulse.bot.delivery")

DEFAULT_API_URL = "https://slack.com/api/"
RATE_LIMIT_RETRIES = 3
NOT_FOUND_ERRORS = frozenset({"users_not_found", "user_not_found"})
"""``users.lookupByEmail``'s answers for an email no Slack user has (the documented
``users_not_found``; older references name it ``user_not_found``)."""


def api_url() -> str:
    """The Web API base from ``SLACK_API_URL`` (GovSlack, a local fake), with the trailing
    slash slack_sdk needs to join method names."""
    url = os.environ.get("SLACK_API_URL", "").strip() or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"


class CountedConnectionRetries(ConnectionErrorRetryHandler):
    """slack_sdk's default retry of a call whose connection failed, counted in
    ``pulse_api_retries_total{api="slack"}``."""

    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        api_retry("slack")
        super().prepare_for_next_attempt(**kwargs)


class CountedRateLimitRetries(RateLimitErrorRetryHandler):
    """The 429 ``Retry-After`` retry, counted like :class:`CountedConnectionRetries`."""

    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        api_retry("slack")
        super().prepare_for_next_attempt(**kwargs)


def web_client(
    token: str | None, base_url: str | None = None, *, rate_limit_retries: int = RATE_LIMIT_RETRIES
) -> WebClient:
    """The WebClient every Pulse component uses: the right base URL and 429 retries.

    ``RateLimitErrorRetryHandler`` sleeps for ``Retry-After`` and retries the same call
    (up to ``rate_limit_retries`` times); after that the ``ratelimited`` error surfaces
    (as a :class:`DeliveryError` through :class:`SlackDelivery`).
    """
    handlers = [
        CountedConnectionRetries(),
        CountedRateLimitRetries(max_retry_count=rate_limit_retries),
    ]
    return WebClient(token=token, base_url=base_url or api_url(), retry_handlers=handlers)


def is_user_id(destination: str) -> bool:
    """Slack user ids start with U (or W on Enterprise Grid); channels with C, G or D."""
    return destination[:1] in {"U", "W"}


def message_args(payload: dict[str, Any]) -> dict[str, Any]:
    """chat.postMessage / chat.update arguments of a builder payload.

    Link unfurls are off: a CRM link in a card must not expand into a preview of the
    customer's CRM page in a channel.
    """
    return {
        "text": payload["text"],
        "blocks": payload.get("blocks"),
        "unfurl_links": False,
        "unfurl_media": False,
    }


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code of a refused call (``invalid_auth``, ``channel_not_found`` ...)."""
    resp = exc.response
    return str(resp.get("error")) if resp is not None else str(exc)


def refused(exc: SlackApiError) -> DeliveryError:
    """The DeliveryError of a call Slack refused, counted in ``pulse_api_errors_total``."""
    api_error("slack")
    return DeliveryError(slack_error(exc))


def _checked(message: Message) -> dict[str, Any] | None:
    """The payload if Slack would accept it, else None (logged with every violation)."""
    problems = validate_message(message.payload)
    if problems:
        log.error("not sending %s: invalid Block Kit: %s", message.what, "; ".join(problems))
        return None
    return message.payload


class SlackDelivery:
    """:class:`pulse.services.outbox.Delivery` over a WebClient, plus the views a Bolt
    handler opens or publishes.

    ``remember_dms`` keeps each person's DM channel after the first ``conversations.open``
    (what :meth:`batch` turns on for a run of many messages); otherwise each message to a
    person opens their DM again, as a single reply does.
    """

    def __init__(self, client: WebClient, *, remember_dms: bool = False) -> None:
        self.client = client
        self._remember = remember_dms
        self._dms: dict[str, str] = {}

    def batch(self) -> SlackDelivery:
        return SlackDelivery(self.client, remember_dms=True)

    def channel_for(self, destination: str) -> str:
        """The channel to post to: ``destination`` itself, or the DM of a user id."""
        if not is_user_id(destination):
            return destination
        if destination in self._dms:
            return self._dms[destination]
        try:
            resp = self.client.conversations_open(users=destination)
        except SlackApiError as exc:
            raise refused(exc) from exc
        channel = str(resp["channel"]["id"])
        if self._remember:
            self._dms[destination] = channel
        return channel

    def post(self, message: Message) -> Posted | None:
        payload = _checked(message)
        if payload is None:
            return None
        channel = self.channel_for(message.destination)
        try:
            resp = self.client.chat_postMessage(channel=channel, **message_args(payload))
        except SlackApiError as exc:
            raise refused(exc) from exc
        return Posted(str(resp["channel"]), str(resp["ts"]))

    def update(self, message: Message, ts: str) -> Posted | None:
        payload = _checked(message)
        if payload is None:
            return None
        try:
            self.client.chat_update(channel=message.destination, ts=ts, **message_args(payload))
        except SlackApiError as exc:
            raise refused(exc) from exc
        return Posted(message.destination, ts)

    def upload(self, destination: str, content: bytes, *, filename: str, title: str) -> str:
        """``files_upload_v2`` (scope ``files:write``) into the channel or the user's DM."""
        channel = self.channel_for(destination)
        try:
            resp = self.client.files_upload_v2(
                channel=channel, file=content, filename=filename, title=title, alt_txt=title
            )
        except SlackApiError as exc:
            raise refused(exc) from exc
        file_info = resp.get("file") or {}
        return str(file_info.get("id", ""))

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """``views.open``: a modal, in answer to the click that carried ``trigger_id``."""
        try:
            self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            raise refused(exc) from exc

    def publish_home(self, user_id: str, view: dict[str, Any]) -> bool:
        """``views.publish`` of a Home tab; False (logged) when the view breaks the limits."""
        problems = validate_home(view)
        if problems:
            log.error("not publishing the Home view of %s: %s", user_id, "; ".join(problems))
            return False
        try:
            self.client.views_publish(user_id=user_id, view=view)
        except SlackApiError as exc:
            raise refused(exc) from exc
        return True

    def lookup_by_email(self, email: str) -> str | None:
        """``users.lookupByEmail`` (scope ``users:read.email``): the Slack user id of
        ``email``, None when Slack answers ``users_not_found``
        (https://api.slack.com/methods/users.lookupByEmail). Implements
        :class:`pulse.services.people.SlackDirectory`; any other refusal, or the network
        failing, raises :class:`DeliveryError`."""
        try:
            resp = self.client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if slack_error(exc) in NOT_FOUND_ERRORS:
                return None
            raise refused(exc) from exc
        except OSError as exc:  # URLError, timeouts, refused connections
            api_error("slack")
            raise DeliveryError(f"network: {exc}") from exc
        user = resp.get("user") or {}
        return str(user["id"]) if user.get("id") else None

    def user_info(self, user_id: str) -> dict[str, Any]:
        """``users.info``'s user object (the email needs the ``users:read.email`` scope)."""
        try:
            resp = self.client.users_info(user=user_id)
        except SlackApiError as exc:
            raise refused(exc) from exc
        return dict(resp.get("user") or {})
