"""The one-line notices handlers answer with (errors, refusals) quote what the user typed
or an account's name: they are escaped like every other text from the data (issue 18)."""

from __future__ import annotations

from bot.context import notice
from digests.limits import validate_message


def test_a_notice_quoting_markup_pings_and_formats_nothing() -> None:
    payload = notice("'<!channel> *now*' is not a sentiment: use green, yellow, red or clear.")
    assert validate_message(payload) == []
    for text in (payload["text"], payload["blocks"][0]["text"]["text"]):
        assert "<!channel>" not in text and "*now*" not in text
        assert "&lt;!channel&gt; ∗now∗" in text
