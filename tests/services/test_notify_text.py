"""Dry runs print a message as it reads: Slack's tokens, links, marks and entities made plain."""

from __future__ import annotations

from datetime import datetime

from digests.cards import alert_bundle
from digests.views import AlertBundle, AlertItem, BaselineNote
from pulse.services.notify import payload_as_text, readable


def test_mrkdwn_reads_plain() -> None:
    text = readable(
        "*Acme* &amp; <https://crm.example/a|Smith &amp; Co> _Why:_ owner_silent "
        "<@U0CSM0002> <!date^1767258000^{date_short_pretty}|2026-01-01 09:00 UTC> 2*3*4"
    )
    assert text == "Acme & Smith & Co Why: owner_silent @U0CSM0002 2026-01-01 09:00 UTC 2*3*4"


def test_a_message_of_new_alerts_as_text() -> None:
    item = AlertItem(
        id=4, account_id=9, account_name="Smith & <Sons>", rule="invoice_overdue",
        label="Invoice overdue", severity="critical", status="open",
        message="1 unpaid invoice ($900), oldest 64 days past due", action=None,
        opened_at=datetime(2026, 3, 1, 8, 0), arr=52_000.0,
    )
    text = payload_as_text(alert_bundle(AlertBundle([item], held=2, baseline=BaselineNote(3, 1))))
    assert text.splitlines() == [
        "1 new alert on 1 account",
        "========================",
        ":rotating_light: Smith & <Sons> · $52k ARR · Invoice overdue",
        "1 unpaid invoice ($900), oldest 64 days past due",
        "[Acknowledge] [Snooze… v] [Full card]",
        "  +2 more in your morning digest",
        "  1 of your accounts was already at risk when Pulse started watching (3 with open "
        "conditions in all): they alert again only if they get worse. See Pulse's Home tab.",
    ]
