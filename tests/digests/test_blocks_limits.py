"""The Slack-limit validator, the shared Block Kit primitives and the text helpers.

The validator guards every builder test, so it is tested first on its own: each limit is
broken deliberately and must be reported (otherwise the builder tests could pass
vacuously), and a valid payload must produce no violation at all.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from digests.blocks import (
    actions,
    button,
    context,
    divider,
    fields_section,
    header,
    home,
    message,
    option,
    section,
    static_select,
)
from digests.cards.health import sparkline
from digests.limits import (
    MAX_BLOCKS_HOME,
    MAX_BLOCKS_MESSAGE,
    slack_len,
    validate_blocks,
    validate_home,
    validate_message,
)
from digests.text import (
    as_utc,
    clip,
    day_text,
    escape,
    pack_lines,
    safe_url,
    slack_time,
    user_mention,
    utc_text,
)


def _btn(text: str = "Go", action_id: str = "go", **kw: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        **kw,
    }


def _select(options: list[dict[str, Any]], placeholder: str = "Pick") -> dict[str, Any]:
    return {
        "type": "static_select",
        "placeholder": {"type": "plain_text", "text": placeholder},
        "action_id": "pick",
        "options": options,
    }


def _opt(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def valid_message() -> dict[str, Any]:
    return {
        "text": "fallback",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Title"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "hello"},
                "accessory": _btn(value="1"),
            },
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "a"}] * 10},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
            {"type": "divider"},
            {
                "type": "actions",
                "block_id": "acts",
                "elements": [
                    _btn("Ack", "ack", value="x" * 2000, style="primary"),
                    _btn("CRM", "crm", url="https://example.com/" + "a" * 2900),
                    _select(
                        [_opt("o" * 75, f"v{i}".ljust(150, "z")) for i in range(100)], "p" * 150
                    ),
                ],
            },
        ],
    }


def test_valid_payloads_have_no_violations() -> None:
    assert validate_message(valid_message()) == []
    assert validate_home({"type": "home", "blocks": valid_message()["blocks"]}) == []


def _mutate(path: str, value: Any) -> dict[str, Any]:
    payload = valid_message()
    target: Any = payload
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return payload


OVERSIZED = {
    "section text 3001": ("blocks.1.text.text", "x" * 3001, "limit 3000"),
    "header text 151": ("blocks.0.text.text", "x" * 151, "limit 150"),
    "header mrkdwn": ("blocks.0.text.type", "mrkdwn", "plain_text"),
    "11 fields": ("blocks.2.fields", [{"type": "mrkdwn", "text": "a"}] * 11, "11 fields"),
    "field 2001": ("blocks.2.fields.0", {"type": "mrkdwn", "text": "x" * 2001}, "limit 2000"),
    "11 context elements": (
        "blocks.3.elements",
        [{"type": "mrkdwn", "text": "c"}] * 11,
        "limit 10",
    ),
    "button text 76": ("blocks.1.accessory.text.text", "x" * 76, "limit 75"),
    "action_id 256": ("blocks.1.accessory.action_id", "a" * 256, "limit 255"),
    "value 2001": ("blocks.5.elements.0.value", "x" * 2001, "limit 2000"),
    "url 3001": ("blocks.5.elements.1.url", "https://e.com/" + "a" * 2988, "limit 3000"),
    "placeholder 151": ("blocks.5.elements.2.placeholder.text", "p" * 151, "limit 150"),
    "option text 76": ("blocks.5.elements.2.options.0.text.text", "o" * 76, "limit 75"),
    "option value 151": ("blocks.5.elements.2.options.0.value", "v" * 151, "limit 150"),
    "101 options": (
        "blocks.5.elements.2.options",
        [_opt("o", f"v{i}") for i in range(101)],
        "101 options",
    ),
    "26 actions": ("blocks.5.elements", [_btn(action_id=f"a{i}") for i in range(26)], "limit 25"),
    "empty text": ("blocks.1.text.text", "", "empty"),
    "bad style": ("blocks.5.elements.0.style", "loud", "style"),
    "unknown block": ("blocks.4.type", "table_of_doom", "unknown block type"),
    "block_id 256": ("blocks.5.block_id", "b" * 256, "limit 255"),
}


@pytest.mark.parametrize("case", sorted(OVERSIZED))
def test_validator_catches_each_broken_limit(case: str) -> None:
    path, value, expect = OVERSIZED[case]
    errors = validate_message(_mutate(path, value))
    assert errors, f"{case} was not reported"
    assert any(expect in e for e in errors), errors


def test_validator_reports_every_violation_not_just_the_first() -> None:
    payload = _mutate("blocks.1.text.text", "x" * 3001)
    payload["blocks"][0]["text"]["text"] = "x" * 151
    del payload["text"]
    errors = validate_message(payload)
    assert len(errors) == 3, errors


def test_block_count_limits_for_message_and_home() -> None:
    block = {"type": "divider"}
    assert validate_message({"text": "t", "blocks": [block] * MAX_BLOCKS_MESSAGE}) == []
    errors = validate_message({"text": "t", "blocks": [block] * (MAX_BLOCKS_MESSAGE + 1)})
    assert any("51 blocks, limit 50" in e for e in errors)
    assert validate_home({"type": "home", "blocks": [block] * MAX_BLOCKS_HOME}) == []
    errors = validate_home({"type": "home", "blocks": [block] * (MAX_BLOCKS_HOME + 1)})
    assert any("101 blocks, limit 100" in e for e in errors)


def test_missing_or_blank_fallback_text_is_a_violation() -> None:
    payload = valid_message()
    del payload["text"]
    assert any("fallback" in e for e in validate_message(payload))
    payload["text"] = "   "
    assert any("fallback" in e for e in validate_message(payload))
    payload["text"] = "x" * 40_001
    assert any("40000" in e for e in validate_message(payload))


def test_duplicate_action_ids_in_a_block_and_duplicate_block_ids() -> None:
    payload = valid_message()
    payload["blocks"][5]["elements"][1]["action_id"] = "ack"
    assert any("duplicate action_id 'ack'" in e for e in validate_message(payload))
    payload = valid_message()
    payload["blocks"][1]["block_id"] = "acts"
    assert any("duplicate block_id" in e for e in validate_message(payload))
    # The same action_id in *different* blocks is what Slack allows (one row, one button).
    rows = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"row {i}"},
            "accessory": _btn("Show", "health_pick", value=str(i)),
        }
        for i in range(3)
    ]
    assert validate_blocks(rows) == []


def test_home_view_type_is_checked() -> None:
    assert any("expected 'home'" in e for e in validate_home({"type": "modal", "blocks": []}))


def test_validator_counts_astral_characters_twice() -> None:
    text = "😀" * 1501  # 1501 code points, 3002 UTF-16 units
    assert len(text) == 1501 and slack_len(text) == 3002
    payload = _mutate("blocks.1.text.text", text)
    assert any("3002 characters" in e for e in validate_message(payload))


# ---------------------------------------------------------------------------------------
# Primitives


def test_escape_only_touches_slacks_control_characters() -> None:
    assert escape("A&B <C> 'd' \"e\"") == "A&amp;B &lt;C&gt; 'd' \"e\""
    assert escape("<!channel>") == "&lt;!channel&gt;"


@pytest.mark.parametrize("limit", range(5, 60))
def test_clip_never_breaks_an_entity_or_link_and_respects_the_limit(limit: int) -> None:
    text = escape("Tom & Jerry <Co> ") * 4 + "<https://x.io|link> tail"
    out = clip(text, limit)
    assert slack_len(out) <= limit
    amp = out.rfind("&")
    assert amp == -1 or ";" in out[amp:], out
    lt = out.rfind("<")
    assert lt == -1 or ">" in out[lt:], out


def test_clip_leaves_short_text_alone_and_marks_a_cut() -> None:
    assert clip("short", 10) == "short"
    assert clip("x" * 20, 10).endswith("…")
    assert slack_len(clip("😀" * 20, 9)) <= 9


def test_pack_lines_keeps_order_and_limit() -> None:
    lines = [f"line {i} " + "x" * (i * 37 % 400) for i in range(200)]
    chunks = pack_lines(lines, limit=1000)
    assert all(slack_len(c) <= 1000 for c in chunks)
    assert "\n".join(chunks).split("\n") == lines
    assert pack_lines(["y" * 5000], limit=100)[0].endswith("…")


def test_constructors_clip_text_to_slacks_limits() -> None:
    long = "é" * 5000
    blocks = [
        header(long),
        section(long, accessory=button(long, "a", value="1")),
        fields_section([long] * 12, text=long),
        context(*([long] * 12)),
        actions([static_select(long, "s", [option(long, "v")])]),
    ]
    assert validate_blocks(blocks) == []


def test_button_refuses_to_cut_values_and_urls() -> None:
    with pytest.raises(ValueError):
        button("x", "a", value="1" * 2001)
    with pytest.raises(ValueError):
        button("x", "a", url="https://e.com/" + "a" * 3000)
    with pytest.raises(ValueError):
        button("x", "a" * 256)
    with pytest.raises(ValueError):
        option("x", "v" * 151)


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://acme.my.salesforce.com/001ABC", True),
        ("http://crm.local/x?y=1&z=2", True),
        ("javascript:alert(1)", False),
        ("https://e.com/a b", False),
        ("https://e.com/a|b", False),
        ("https://e.com/a>b", False),
        ("https://e.com/" + "a" * 3000, False),
        (None, False),
        ("", False),
    ],
)
def test_safe_url(url: str | None, ok: bool) -> None:
    assert (safe_url(url) is not None) is ok


def test_user_mention_only_for_real_user_ids() -> None:
    assert user_mention("U123ABC") == "<@U123ABC>"
    assert user_mention("<!channel>") == "&lt;!channel&gt;"
    assert user_mention(None) == "someone"


def test_times_read_naive_datetimes_as_utc() -> None:
    naive = datetime(2026, 11, 25, 14, 3)
    aware = datetime(2026, 11, 25, 9, 3, tzinfo=timezone(timedelta(hours=-5)))
    assert as_utc(naive) == as_utc(aware) == datetime(2026, 11, 25, 14, 3, tzinfo=UTC)
    assert utc_text(aware) == "2026-11-25 14:03 UTC"
    assert slack_time(naive) == (
        f"<!date^{int(as_utc(naive).timestamp())}^{{date_short_pretty}} at {{time}}"
        "|2026-11-25 14:03 UTC>"
    )
    assert day_text(date(2027, 1, 5)) == "5 Jan 2027"


def test_sparkline() -> None:
    assert sparkline([]) == ""
    rising = sparkline([10, 30, 50, 70, 90])
    assert rising[0] == "▁" and rising[-1] == "█" and list(rising) == sorted(rising)
    assert len(set(sparkline([75.0, 75.2, 74.9, 75.1]))) <= 2  # wobble draws flat
    assert len(sparkline(list(range(100)), width=30)) == 30


def test_message_safety_net_never_exceeds_the_block_limit() -> None:
    payload = message([divider()] * 80, "t")
    assert validate_message(payload) == []
    assert "cut to fit" in payload["blocks"][-1]["elements"][0]["text"]
    view = home([divider()] * 150)
    assert validate_home(view) == []


def test_validator_input_is_not_modified() -> None:
    payload = valid_message()
    before = copy.deepcopy(payload)
    validate_message(payload)
    assert payload == before
