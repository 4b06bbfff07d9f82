"""The settings modal stays within Slack's limits, shows what is stored, and reads back
what was chosen."""

from __future__ import annotations

from datetime import date

from digest_samples import card

from digests.limits import validate_blocks, validate_message, validate_modal
from digests.preference_blocks import (
    LIST_MAX,
    SettingsView,
    health_card_with_preferences,
    settings_modal,
    settings_saved,
    settings_values,
)


def _view(**kw: object) -> SettingsView:
    base: dict = dict(min_severity=None, default_severity="warning", quiet_days=(),
                      digest_time=None, default_time="06:00", timezone="Europe/Paris")
    return SettingsView(**{**base, **kw})


def test_the_modal_passes_the_limit_checks_with_long_lists() -> None:
    long = "A" * 300
    view = settings_modal(_view(muted=[(long, date(2026, 3, 8))] * 40, followed=[long] * 40))
    assert validate_modal(view) == []
    elements = [b["element"] for b in view["blocks"] if b["type"] == "input"]
    assert validate_blocks([{"type": "actions", "elements": [e]} for e in elements]) == []
    assert f"and {40 - LIST_MAX} more" in str(view["blocks"])


def test_the_modal_shows_the_stored_choices_or_the_defaults() -> None:
    default = settings_modal(_view())
    inputs = {b["block_id"]: b["element"] for b in default["blocks"] if b["type"] == "input"}
    assert inputs["pref_severity"]["initial_option"]["value"] == "warning"
    assert "initial_options" not in inputs["pref_quiet"]  # none chosen: Slack wants none
    assert inputs["pref_time"]["initial_time"] == "06:00"
    mine = settings_modal(_view(min_severity="critical", quiet_days=("sun",), digest_time="07:45"))
    inputs = {b["block_id"]: b["element"] for b in mine["blocks"] if b["type"] == "input"}
    assert inputs["pref_severity"]["initial_option"]["value"] == "critical"
    assert [o["value"] for o in inputs["pref_quiet"]["initial_options"]] == ["sun"]
    assert inputs["pref_time"]["initial_time"] == "07:45"


def test_submitted_values_are_read_back() -> None:
    state = {"values": {
        "pref_severity": {"severity": {"selected_option": {"value": "critical"}}},
        "pref_quiet": {"quiet": {"selected_options": [{"value": "sat"}]}},
        "pref_time": {"time": {"selected_time": None}},
    }}
    assert settings_values({"state": state}) == ("critical", ["sat"], None)
    assert settings_values({}) == (None, [], None)
    assert settings_saved([]) == "Your Pulse settings are unchanged."
    assert "quiet days" in settings_saved(["quiet_days"])


def test_the_health_card_gets_mute_and_follow_buttons_in_its_row() -> None:
    plain_card = card()
    account_id = plain_card.account.account_id
    payload = health_card_with_preferences(plain_card, muted=False, following=False)
    assert validate_message(payload) == []
    buttons = [(e["text"]["text"], e.get("action_id"), e.get("value"))
               for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ("Mute 7 days", "pref_mute", str(account_id)) in buttons
    assert ("Follow", "pref_follow", str(account_id)) in buttons
    flipped = health_card_with_preferences(plain_card, muted=True, following=True)
    labels = [e["text"]["text"] for b in flipped["blocks"] if b["type"] == "actions"
              for e in b["elements"]]
    assert "Unmute" in labels and "Unfollow" in labels and "Follow" not in labels
