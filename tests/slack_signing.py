"""Build and sign requests exactly as Slack sends them to ``/slack/events``.

Slack signs ``v0:{timestamp}:{raw body}`` with HMAC-SHA256 and the app's signing secret
and sends ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature: v0=<hex>``. Tests use
these helpers to talk to the running bot over real HTTP, so Bolt's own verification is
what accepts or rejects them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import requests

TEAM_ID = "T0PULSE01"


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's signature headers for ``body`` (the exact bytes that will be sent)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{ts}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def slash_command_body(
    text: str,
    *,
    user_id: str,
    response_url: str,
    command: str = "/health",
    channel_id: str = "C0PULSE001",
    trigger_id: str = "13345224609.738474920.8088930838d88f008e0",
) -> str:
    """The form body Slack posts for a slash command (application/x-www-form-urlencoded)."""
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "pulse-test",
            "channel_id": channel_id,
            "channel_name": "cs-team",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0PULSE001",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def block_actions_payload(
    action: dict[str, Any],
    *,
    user_id: str,
    response_url: str,
    channel_id: str = "C0PULSE001",
    message_ts: str = "1760000001.000001",
    message: dict[str, Any] | None = None,
    container_type: str = "message",
) -> dict[str, Any]:
    """A ``block_actions`` payload for one clicked element (``action`` holds action_id,
    block_id, type and value or selected_option)."""
    act = {"action_ts": f"{time.time():.6f}", "block_id": "b1", **action}
    return {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "pulse-test"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0PULSE001",
        "token": "deprecated-verification-token",
        "container": {
            "type": container_type,
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "channel": {"id": channel_id, "name": "cs-alerts"},
        "message": message or {"type": "message", "ts": message_ts, "text": "alert", "blocks": []},
        "response_url": response_url,
        "actions": [act],
    }


def view_submission_payload(
    view: dict[str, Any], values: dict[str, dict[str, dict[str, Any]]], *, user_id: str
) -> dict[str, Any]:
    """A ``view_submission`` payload: the modal as opened, with what was typed in
    ``view.state.values`` (block_id -> action_id -> element state)."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "pulse-test"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0PULSE001",
        "token": "deprecated-verification-token",
        "trigger_id": "13345224609.738474920.8088930838d88f008e1",
        "view": {
            "id": "V0MODAL001",
            "team_id": TEAM_ID,
            "hash": "156772938.1827394",
            "state": {"values": values},
            **view,
        },
        "response_urls": [],
    }


def block_actions_body(payload: dict[str, Any]) -> str:
    """Interactivity requests are form-encoded with one field, ``payload``, holding JSON."""
    return urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any], *, event_id: str = "Ev0PULSE01") -> str:
    """An Events API ``event_callback`` envelope (sent as JSON)."""
    return json.dumps(
        {
            "token": "deprecated-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A0PULSE001",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "U0PULSEBOT", "is_bot": True}],
        }
    )


class SlackSender:
    """Posts signed requests to a running bot, like Slack's servers would."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        extra_headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> requests.Response:
        headers = {"Content-Type": content_type, **sign(secret or self.secret, body, timestamp)}
        headers.update(extra_headers or {})
        return requests.post(self.url, data=body.encode(), headers=headers, timeout=timeout)

    def command(self, text: str, **kwargs: Any) -> requests.Response:
        opts = {k: kwargs.pop(k) for k in list(kwargs) if k in _POST_OPTS}
        return self.post(
            slash_command_body(text, **kwargs), "application/x-www-form-urlencoded", **opts
        )

    def action(self, action: dict[str, Any], **kwargs: Any) -> requests.Response:
        opts = {k: kwargs.pop(k) for k in list(kwargs) if k in _POST_OPTS}
        return self.post(
            block_actions_body(block_actions_payload(action, **kwargs)),
            "application/x-www-form-urlencoded",
            **opts,
        )

    def event(self, event: dict[str, Any], **kwargs: Any) -> requests.Response:
        opts = {k: kwargs.pop(k) for k in list(kwargs) if k in _POST_OPTS}
        return self.post(event_body(event, **kwargs), "application/json", **opts)


_POST_OPTS = {"timestamp", "secret", "extra_headers", "timeout"}
