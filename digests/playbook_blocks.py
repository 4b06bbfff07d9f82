"""What a playbook posts in Slack: which playbook, which account, why, and for whom."""

from __future__ import annotations

from typing import Any

from digests.blocks import context, message, section
from digests.rows import tier_badge
from digests.text import esc, user_mention


def playbook_message(playbook: str, account: str, reason: str, tier: str | None,
                     score: float | None, owner_slack_id: str | None, *,
                     escalation: bool = False) -> dict[str, Any]:
    """One short card: the trigger in words first, since that is what the reader acts on."""
    lead = ":rotating_light: Escalation" if escalation else ":clipboard: Playbook"
    score_text = f" · score {score:.0f}" if score is not None else ""
    blocks = [
        section(f"{lead} *{esc(playbook)}* for *{esc(account)}*\n{esc(reason, 600)}"),
        context(f"{tier_badge(tier)}{score_text} · owner {user_mention(owner_slack_id)} · "
                f"`/health {esc(account, 60, code=True)}` for the breakdown"),
    ]
    return message(blocks, f"{esc(playbook)}: {esc(account)}: {esc(reason, 600)}")


def reminder_message(playbook: str, account: str, text: str) -> dict[str, Any]:
    """A follow-up a playbook scheduled days ago, in the owner's DM."""
    blocks = [
        section(f":alarm_clock: *Reminder* for *{esc(account)}*\n{esc(text, 1000)}"),
        context(f"Scheduled by the playbook {esc(playbook)} · "
                f"`/health {esc(account, 60, code=True)}`"),
    ]
    return message(blocks, f"Reminder: {esc(text, 1000)}")
