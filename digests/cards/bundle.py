"""One person's new alerts of a run in one message: a line per account, largest ARR first.

Each line says what happened and where the alert stands; an open one carries
Acknowledge and Snooze, an acknowledged or snoozed one "Add a reason", and every one
"Full card" (the account's health card): the same contract as the alert card
(``alert_ack`` / ``alert_snooze`` / ``alert_reason`` / ``health_pick``). The actions' ``block_id``
is ``bundle_<alert id>``, so the bot re-renders the whole bundle (not one card over it)
after a click. The footer says how many new alerts wait for the morning digest and,
once, what already held when Pulse started watching.

Budget: a header, two blocks per alert (line, actions), two footer lines: at most 20
alerts (``alerts.dm_max_alerts``) is 43 blocks, inside Slack's 50.
"""

from __future__ import annotations

from typing import Any

from digests.blocks import (
    Block,
    actions,
    button,
    context,
    header,
    message,
    section,
)
from digests.cards.alert import handling_buttons
from digests.limits import MAX_BLOCKS_MESSAGE
from digests.rows import SEVERITY_EMOJI
from digests.text import clip_raw, esc, escape, slack_time, user_mention
from digests.views import AlertBundle, AlertItem, BaselineNote
from digests.wording import money, plural

BUNDLE_BLOCK_PREFIX = "bundle_"
"""``block_id`` of a bundle line's actions: ``bundle_<alert id>``."""
BUNDLE_FIXED_BLOCKS = 3
"""Header, the "more in your digest" line and the baseline line."""
FALLBACK_NAMES = 3
"""Accounts named in the notification text."""
MESSAGE_MAX = 300
"""Raw characters of an alert's message on its line."""


def baseline_text(note: BaselineNote) -> str:
    """"12 of your accounts were already at risk when Pulse started watching ..."."""
    return (
        f"{baseline_phrase(note)}: they alert again only if they get worse. "
        "See Pulse's Home tab."
    )


def baseline_phrase(note: BaselineNote) -> str:
    """"12 of your accounts were already at risk when Pulse started watching (30 with open
    conditions in all)", or "... already had open conditions ..." when none is at risk."""
    whose = "your team's" if note.team else "your"
    if not note.at_risk:
        return (
            f"{note.accounts:,} of {whose} accounts already had open conditions when Pulse "
            "started watching"
        )
    verb = "was" if note.at_risk == 1 else "were"
    text = (
        f"{note.at_risk:,} of {whose} accounts {verb} already at risk when Pulse started "
        "watching"
    )
    if note.accounts > note.at_risk:
        text += f" ({note.accounts:,} with open conditions in all)"
    return text


def _status(alert: AlertItem) -> str:
    if alert.status == "acknowledged":
        return f":white_check_mark: Acknowledged by {user_mention(alert.acknowledged_by)}"
    if alert.status == "snoozed":
        until = f" until {slack_time(alert.snoozed_until)}" if alert.snoozed_until else ""
        return f":zzz: Snoozed by {user_mention(alert.snoozed_by)}{until}"
    if alert.status == "resolved":
        return ":heavy_check_mark: Resolved"
    return ""


def _line(alert: AlertItem) -> str:
    sev = alert.severity if alert.severity in SEVERITY_EMOJI else "warning"
    arr = f" · {money(alert.arr)} ARR" if alert.arr else ""
    text = (
        f"{SEVERITY_EMOJI[sev]} *{esc(alert.account_name)}*{arr} · *{esc(alert.label, 100)}*\n"
        f"{esc(alert.message, MESSAGE_MAX)}"
    )
    if alert.reopen_reason and alert.status == "open":
        text += f"\n:rotating_light: _Reopened:_ {esc(alert.reopen_reason, MESSAGE_MAX)}"
    status = _status(alert)
    if status and alert.quiet_reason:
        status += f' — "{esc(alert.quiet_reason, MESSAGE_MAX)}"'
    return f"{text}\n{status}" if status else text


def _buttons(alert: AlertItem) -> list[dict[str, Any]]:
    elements = handling_buttons(alert)
    elements.append(button("Full card", "health_pick", value=str(alert.account_id)))
    return elements


def _fallback(bundle: AlertBundle) -> str:
    named = ", ".join(
        f"{escape(clip_raw(a.account_name, 60))} ({escape(clip_raw(a.label, 60))})"
        for a in bundle.alerts[:FALLBACK_NAMES]
    )
    parts = [f"{plural(len(bundle.alerts), 'new alert')}: {named}." if bundle.alerts else ""]
    if len(bundle.alerts) > FALLBACK_NAMES:
        parts.append(f"And {len(bundle.alerts) - FALLBACK_NAMES} more.")
    if bundle.held:
        parts.append(f"+{bundle.held} more in your morning digest.")
    if bundle.baseline is not None:
        parts.append(baseline_text(bundle.baseline))
    return " ".join(p for p in parts if p)


def _title(bundle: AlertBundle) -> str:
    if not bundle.alerts:
        return "Pulse is watching your accounts"
    accounts = len({a.account_id for a in bundle.alerts})
    return f"{plural(len(bundle.alerts), 'new alert')} on {plural(accounts, 'account')}"


def alert_bundle(bundle: AlertBundle) -> dict[str, Any]:
    """The message of one person's new alerts (largest ARR first, as given), re-rendered
    by the bot after each click on it."""
    room = (MAX_BLOCKS_MESSAGE - BUNDLE_FIXED_BLOCKS) // 2
    shown = bundle.alerts[:room]
    held = bundle.held + len(bundle.alerts) - len(shown)
    blocks: list[Block] = [header(_title(bundle))]
    for alert in shown:
        blocks.append(section(_line(alert)))
        blocks.append(actions(_buttons(alert), block_id=f"{BUNDLE_BLOCK_PREFIX}{alert.id}"))
    if held:
        blocks.append(context(f"+{held:,} more in your morning digest"))
    if bundle.baseline is not None:
        blocks.append(context(baseline_text(bundle.baseline)))
    return message(blocks, _fallback(bundle))
