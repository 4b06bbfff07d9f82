"""The "Log a note" button on the cards, its modal and the replies, within Slack's limits."""

from __future__ import annotations

from typing import Any

from digest_samples import NOW, alert, card, line

from digests.cards import alert_card, health_card
from digests.limits import MAX_PLAIN_TEXT_INPUT, validate_message, validate_modal
from digests.note_blocks import NOTE_INPUT, NOTE_VIEW, NoteReply, note_modal, note_reply


def _note_buttons(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]
            if e.get("action_id") == "note_open"]


def test_the_modal_takes_a_long_multiline_note_within_the_limits() -> None:
    view = note_modal("Acme & Co " + "x" * 400, 42, "salesforce")
    assert validate_modal(view) == []
    assert view["callback_id"] == NOTE_VIEW and view["private_metadata"] == "42"
    assert view["title"] == {"type": "plain_text", "text": "Log a note", "emoji": True}
    (field,) = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["block_id"] == NOTE_INPUT[0]
    assert field["element"] == {"type": "plain_text_input", "action_id": NOTE_INPUT[1],
                                "multiline": True, "max_length": MAX_PLAIN_TEXT_INPUT}
    assert "as a completed Task" in view["blocks"][0]["text"]["text"]
    assert "Acme &amp; Co" in view["blocks"][0]["text"]["text"]


def test_validate_modal_catches_a_text_input_over_slacks_maximum() -> None:
    view = note_modal("Acme", 1, "hubspot")
    view["blocks"][1]["element"]["max_length"] = MAX_PLAIN_TEXT_INPUT + 1
    assert any("max_length" in e for e in validate_modal(view))


def test_replies_fit_even_with_the_longest_note() -> None:
    note = "line\n" * (MAX_PLAIN_TEXT_INPUT // 5)
    for reply in (NoteReply("logged", "Acme", "hubspot", note, crm_url="https://x.example/1"),
                  NoteReply("failed", "Acme", "salesforce", note, detail="x" * 5000)):
        assert validate_message(note_reply(reply)) == []
    failed = note_reply(NoteReply("failed", "Acme", "salesforce", "call them", detail="401"))
    assert "could not be logged in Salesforce" in failed["text"]
    assert "call them" in failed["blocks"][0]["text"]["text"]


def test_cards_offer_a_note_only_where_it_can_go_and_to_who_may_act() -> None:
    assert [b["value"] for b in _note_buttons(alert_card(alert(), NOW))] == ["1"]
    assert _note_buttons(alert_card(alert(crm_url=None), NOW)) == []
    assert _note_buttons(alert_card(alert(status="resolved"), NOW)) == []
    assert len(_note_buttons(health_card(card()))) == 1
    assert _note_buttons(health_card(card(can_act=False))) == []
    assert _note_buttons(health_card(card(account=line(1, crm_url=None)))) == []
