"""``/health settings`` end to end: the modal on the Slack fake (within Slack's limits,
showing what is stored), the signed view_submission storing the choices (audited), the
DM confirming them; ``/health mute|follow NAME`` from Slack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.harness import SECRET, BotHarness, prepare_database
from fakes.harness import start_bot as start_harness
from slack_signing import SlackSender, block_actions_body, view_submission_payload
from sqlalchemy import select
from workspace import D1, load_people, put_snapshot

from digests.limits import validate_blocks, validate_modal
from digests.preference_blocks import SETTINGS_VIEW
from pulse.kernel.config import PulseConfig
from pulse.services import preferences
from storage.db import get_engine, session_factory, session_scope
from storage.models import AuditLog

CONFIG = PulseConfig()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bot(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotHarness]:
    """Owners and accounts of the small workspace, the bot serving."""
    url = prepare_database(request, request.param, tmp_path_factory.mktemp("bot_prefs"))
    with session_scope(url) as session:
        ids = load_people(session)
        put_snapshot(session, ids["a4"], D1)  # Initech has a health card
    harness = start_harness(url, CONFIG)
    yield harness
    harness.close()
    if request.param == "sqlite":
        get_engine(url).dispose()


@pytest.fixture
def slack(bot: BotHarness) -> SlackSender:
    return SlackSender(bot.events_url, SECRET)


def _open(bot: BotHarness, slack: SlackSender, user: str, key: str) -> dict[str, Any]:
    """``/health settings`` (``key``: its response_url, so no two requests are replays)."""
    before = len(bot.fake.calls_to("views.open"))
    assert slack.command("settings", user_id=user,
                         response_url=bot.fake.response_url(key)).ok
    view: dict[str, Any] = bot.fake.wait_for("views.open", before + 1)[-1].args["view"]
    assert view["callback_id"] == SETTINGS_VIEW and validate_modal(view) == []
    elements = [b["element"] for b in view["blocks"] if b["type"] == "input"]
    assert validate_blocks([{"type": "actions", "elements": [e]} for e in elements]) == []
    return view


def _submit(slack: SlackSender, view: dict[str, Any], user: str, severity: str,
            days: list[str], time: str | None) -> None:
    values = {
        "pref_severity": {"severity": {"type": "static_select",
                                       "selected_option": {"value": severity}}},
        "pref_quiet": {"quiet": {"type": "checkboxes",
                                 "selected_options": [{"value": d} for d in days]}},
        "pref_time": {"time": {"type": "timepicker", "selected_time": time}},
    }
    body = block_actions_body(view_submission_payload(view, values, user_id=user))
    assert slack.post(body, "application/x-www-form-urlencoded").status_code == 200


def _reply(bot: BotHarness, slack: SlackSender, text: str, user: str, key: str) -> str:
    assert slack.command(text, user_id=user, response_url=bot.fake.response_url(key)).ok
    return json.dumps(bot.wait_response(key).args)


def test_the_settings_modal_saves_each_choice_audited_and_confirms_by_dm(
    bot: BotHarness, slack: SlackSender
) -> None:
    view = _open(bot, slack, "UOLGA", "s1")
    severity = next(b for b in view["blocks"] if b.get("block_id") == "pref_severity")
    assert severity["element"]["initial_option"]["value"] == "warning"  # workspace default
    assert view["title"]["type"] == "plain_text"
    assert view["title"]["text"] == "Your Pulse settings"
    before = len(bot.fake.calls_to("chat.postMessage"))
    _submit(slack, view, "UOLGA", "critical", ["sat", "sun"], "07:30")
    dm = bot.fake.wait_for("chat.postMessage", before + 1)[-1].args
    assert dm["channel"] == "DOLGA" and "Saved your Pulse settings" in dm["text"]
    with session_factory(bot.url)() as s:
        prefs = preferences.get(s, "UOLGA", bot.clock())
        audits = s.scalars(select(AuditLog).where(AuditLog.actor == "UOLGA",
                                                  AuditLog.action == "preference_changed"))
        changed = {a.detail["preference"] for a in audits}
    assert (prefs.min_severity, prefs.quiet_days, prefs.digest_time) == (
        "critical", ("sat", "sun"), "07:30")
    assert changed == {"min_severity", "quiet_days", "digest_time"}
    # reopened, the modal shows what is stored
    again = _open(bot, slack, "UOLGA", "s2")
    quiet = next(b for b in again["blocks"] if b.get("block_id") == "pref_quiet")
    assert [o["value"] for o in quiet["element"]["initial_options"]] == ["sat", "sun"]


def test_mute_and_follow_from_slack_show_in_the_settings(
    bot: BotHarness, slack: SlackSender
) -> None:
    assert "Muted Acme Corp until" in _reply(bot, slack, "mute acme corp", "UOLGA", "m1")
    # Maya manages Olga: she may follow Olga's account
    assert "You now follow Initech" in _reply(bot, slack, "follow Initech", "UMAYA", "f1")
    assert "No account you can see" in _reply(bot, slack, "follow Globex", "UOLGA", "f2")
    view = json.dumps(_open(bot, slack, "UMAYA", "s3")["blocks"])
    assert "*Following:* Initech" in view
    assert "Acme Corp (until" in json.dumps(_open(bot, slack, "UOLGA", "s4")["blocks"])
    assert "no longer follow Initech" in _reply(bot, slack, "unfollow initech", "UMAYA", "f3")


def test_the_health_card_mute_and_follow_buttons(bot: BotHarness, slack: SlackSender) -> None:
    url = bot.fake.response_url("card")
    assert slack.command("Initech", user_id="UMAYA", response_url=url).ok
    card = bot.wait_response("card").args
    buttons = {e["action_id"]: e for b in card["blocks"] if b["type"] == "actions"
               for e in b["elements"] if "action_id" in e}
    assert buttons["pref_mute"]["text"]["text"] == "Mute 7 days"
    assert "pref_follow" in buttons or "pref_unfollow" in buttons
    value = buttons["pref_mute"]["value"]
    assert slack.action({"action_id": "pref_mute", "type": "button", "value": value},
                        user_id="UMAYA", response_url=bot.fake.response_url("mute")
                        ).status_code == 200
    assert "Muted Initech until" in json.dumps(bot.wait_response("mute").args)
    # someone who cannot see the account is refused, and nothing is stored for them
    assert slack.action({"action_id": "pref_follow", "type": "button", "value": value},
                        user_id="UPETE", response_url=bot.fake.response_url("nope")
                        ).status_code == 200
    assert "You cannot follow or mute" in json.dumps(bot.wait_response("nope").args)
    with session_factory(bot.url)() as s:
        assert preferences.get(s, "UPETE", bot.clock()).follows == frozenset()
        assert int(value) in preferences.get(s, "UMAYA", bot.clock()).mutes
