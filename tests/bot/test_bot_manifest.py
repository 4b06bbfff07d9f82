"""manifest.yml must match the code: the command and event the app handles, the request
URL path it serves, and exactly the OAuth scopes its Web API calls need.

A scope missing from the manifest fails only in production (``missing_scope``); an extra
one asks every workspace admin for more than Pulse uses. Both are caught here by scanning
the code that talks to Slack for the API methods it calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.harness import SECRET, TOKEN
from fakes.slack_api import FakeSlack
from slack_bolt import App, BoltRequest
from slack_signing import (
    block_actions_body,
    block_actions_payload,
    event_body,
    sign,
    slash_command_body,
)

from bot.app import REGISTERED_ACTIONS, REGISTERED_COMMANDS, REGISTERED_EVENTS, build_app
from bot.delivery import web_client
from bot.server import EVENTS_PATH
from pulse.kernel.config import PulseConfig

ROOT = Path(__file__).resolve().parents[2]
SLACK_CODE = sorted((ROOT / "bot").glob("*.py"))
"""Only bot/ talks to Slack (import-linter enforces it), so only bot/ is scanned."""

SCOPES_OF_METHOD: dict[str, set[str]] = {
    "chat_postMessage": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "conversations_open": {"im:write"},
    "users_info": {"users:read"},
    # https://api.slack.com/methods/users.lookupByEmail
    "users_lookupByEmail": {"users:read", "users:read.email"},
    "files_upload_v2": {"files:write"},
    "views_publish": set(),
    "views_open": set(),  # "No scopes required" (https://api.slack.com/methods/views.open)
    "auth_test": set(),
}
"""Bot-token scopes per WebClient method (https://docs.slack.dev/reference/methods)."""


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert isinstance(data, dict)
    return data


def called_methods() -> set[str]:
    """WebClient methods called anywhere in the Slack-facing code."""
    pattern = re.compile(r"client\.([a-z]+_[A-Za-z0-9_]+)\(")  # client. and self._client.
    found: set[str] = set()
    for path in SLACK_CODE:
        found |= set(pattern.findall(path.read_text()))
    return found


def test_manifest_has_the_required_sections(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    info = manifest["display_information"]
    assert info["name"] and len(info["description"]) <= 140
    assert 174 <= len(info["long_description"]) <= 4000  # Slack rejects shorter ones
    assert manifest["features"]["bot_user"]["display_name"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is False


def test_request_urls_point_at_the_served_path(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    urls = [
        *(c["url"] for c in manifest["features"]["slash_commands"]),
        settings["interactivity"]["request_url"],
        settings["event_subscriptions"]["request_url"],
    ]
    for url in urls:
        assert url.startswith("https://") and url.endswith(EVENTS_PATH), url


def test_commands_and_events_match_the_code(manifest: dict[str, Any]) -> None:
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == list(REGISTERED_COMMANDS)
    assert all(c.get("usage_hint") and c.get("description") for c in commands)
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert sorted(events) == sorted(REGISTERED_EVENTS)


def test_scopes_are_exactly_what_the_code_uses(manifest: dict[str, Any]) -> None:
    methods = called_methods()
    unknown = methods - set(SCOPES_OF_METHOD)
    assert not unknown, f"add the scopes of {unknown} to SCOPES_OF_METHOD and manifest.yml"
    needed = {"commands"} if manifest["features"]["slash_commands"] else set()
    for method in methods:
        needed |= SCOPES_OF_METHOD[method]
    if "users_info" in methods and "email" in (ROOT / "bot" / "users.py").read_text():
        needed.add("users:read.email")  # bot/users.py reads profile.email
    declared = manifest["oauth_config"]["scopes"]["bot"]
    assert len(declared) == len(set(declared))
    assert set(declared) == needed
    assert set(declared) == {
        "commands",
        "chat:write",
        "im:write",
        "users:read",
        "users:read.email",
        "files:write",
    }


# ---------------------------------------------------------------------------------------
# The app really routes what the manifest subscribes to


@pytest.fixture(scope="module")
def routed() -> Iterator[tuple[App, FakeSlack]]:
    with FakeSlack(token=TOKEN) as fake:
        app = build_app(PulseConfig(), "sqlite://", web_client(TOKEN, fake.base_url), SECRET)
        yield app, fake


def _dispatch(app: App, body: str, content_type: str) -> int:
    headers = {
        "content-type": content_type,
        **{k.lower(): v for k, v in sign(SECRET, body).items()},
    }
    return app.dispatch(BoltRequest(body=body, headers=headers)).status


def test_the_app_handles_the_manifest_command(
    manifest: dict[str, Any], routed: tuple[App, FakeSlack]
) -> None:
    app, fake = routed
    for command in manifest["features"]["slash_commands"]:
        body = slash_command_body(
            "help", user_id="U1", command=command["command"], response_url=fake.response_url()
        )
        assert _dispatch(app, body, "application/x-www-form-urlencoded") == 200
    body = slash_command_body("", user_id="U1", command="/other", response_url="http://x")
    assert _dispatch(app, body, "application/x-www-form-urlencoded") == 404


def test_the_app_handles_the_manifest_events_and_actions(
    manifest: dict[str, Any], routed: tuple[App, FakeSlack]
) -> None:
    app, fake = routed
    for name in manifest["settings"]["event_subscriptions"]["bot_events"]:
        body = event_body({"type": name, "user": "U1", "tab": "messages"})
        assert _dispatch(app, body, "application/json") == 200
    for action_id in REGISTERED_ACTIONS:
        payload = block_actions_payload(
            {"action_id": action_id, "type": "button", "value": "not-a-number"},
            user_id="U1",
            response_url=fake.response_url(),
        )
        assert (
            _dispatch(app, block_actions_body(payload), "application/x-www-form-urlencoded") == 200
        )
