"""CSM sentiments and overrides in Slack: the reply, the card line, the expiry notice and
the health card's "CSM sentiment" modal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from digests.blocks import (
    context,
    message,
    modal,
    option,
    plain,
    section,
    static_select,
    text_input,
)
from digests.text import day_text, esc, user_mention
from digests.wording import plural

SENTIMENT_EMOJI = {
    "green": ":large_green_circle:",
    "yellow": ":large_yellow_circle:",
    "red": ":red_circle:",
}
USAGE = (
    'Usage: `/health NAME sentiment green|yellow|red "why" [--until YYYY-MM-DD]`, '
    '`/health NAME override 0-100 "why" [--until YYYY-MM-DD]`, `/health NAME sentiment clear`'
)


@dataclass(frozen=True)
class OverrideLine:
    """One override as people read it."""

    account_id: int
    account_name: str
    kind: str  # sentiment | score
    sentiment: str | None
    score: float | None
    reason: str
    author: str  # Slack user id
    author_name: str
    expires_on: date


@dataclass(frozen=True)
class OverrideReply:
    kind: Literal["set", "cleared", "refused"]
    account_name: str
    line: OverrideLine | None = None
    previous: OverrideLine | None = None
    detail: str = ""
    disagreement: str | None = None


@dataclass(frozen=True)
class ExpiryNotice:
    line: OverrideLine
    days_left: int


def override_text(line: OverrideLine, *, mention: bool = True) -> str:
    """ "CSM: red, champion left, until 31 Jan 2027, by @dana" (mrkdwn)."""
    if line.kind == "sentiment":
        what = f"{SENTIMENT_EMOJI.get(line.sentiment or '', '')} {esc(line.sentiment, 20)}".strip()
    else:
        what = f"score set to {line.score:.0f}"
    who = user_mention(line.author) if mention else esc(line.author_name, 100)
    return f"CSM: {what}, {esc(line.reason, 500)}, until {day_text(line.expires_on)}, by {who}"


def override_reply(r: OverrideReply) -> dict[str, Any]:
    name = esc(r.account_name, 200)
    if r.kind == "set" and r.line is not None:
        text = f"Recorded on *{name}*: {override_text(r.line)}."
        if r.previous is not None:
            text += f"\nIt replaces: {override_text(r.previous)}."
        notes = [
            "It counts in every scoring run until it ends (the next run picks it up), "
            "and you get a DM a few days before it does."
        ]
        blocks = [section(text)]
        if r.disagreement:
            blocks.append(
                section(
                    f":warning: {esc(r.disagreement, 500)}: your manager sees "
                    "this disagreement in their digest."
                )
            )
        blocks.append(context(*notes))
        plain = f"Recorded on {name}: {override_text(r.line, mention=False)}"
        return message(blocks, plain)
    if r.kind == "cleared" and r.previous is not None:
        text = f"Cleared on *{name}*: {override_text(r.previous)}. The data alone scores it again."
        return message([section(text)], f"Cleared the CSM entry on {name}.")
    text = f"Nothing recorded on *{name}*: {esc(r.detail, 1000)}"
    return message(
        [section(text), context(USAGE)], f"Nothing recorded on {name}: {esc(r.detail, 1000)}"
    )


def expiry_notice(n: ExpiryNotice) -> dict[str, Any]:
    """The author's DM a few days before their override ends."""
    when = "today" if n.days_left <= 0 else f"in {plural(n.days_left, 'day')}"
    text = (
        f":hourglass: Your entry on *{esc(n.line.account_name, 200)}* ends {when}: "
        f"{override_text(n.line)}.\nTo keep it, record it again with a new `--until`."
    )
    name = esc(n.line.account_name, 200)
    return message([section(text)], f"Your CSM entry on {name} ends {when}.")


OPEN_ACTION = "override_open"
VIEW = "override_view"
SENTIMENT_INPUT = ("sentiment_block", "sentiment_input")
REASON_INPUT = ("override_reason_block", "override_reason_input")
UNTIL_INPUT = ("override_until_block", "override_until_input")
CHOICES = (
    ("green", "Green: on track"),
    ("yellow", "Yellow: watch"),
    ("red", "Red: at risk"),
    ("clear", "Clear my entry"),
)


def override_modal(
    account_name: str, account_id: int, default_until: date, current: OverrideLine | None = None
) -> dict[str, Any]:
    """The health card's "CSM sentiment" modal: sentiment, reason, until.

    ``private_metadata`` carries the account id, so the submission needs no name lookup.
    """

    choices = {value: option(label, value) for value, label in CHOICES}
    select = static_select("Pick one", SENTIMENT_INPUT[1], list(choices.values()))
    if current is not None and current.kind == "sentiment" and current.sentiment in choices:
        select["initial_option"] = choices[current.sentiment]
    now_text = (
        f"Now: {override_text(current)}."
        if current is not None
        else "No CSM entry on this account yet."
    )
    return modal(
        "CSM sentiment",
        VIEW,
        str(account_id),
        [
            section(
                f"*{esc(account_name, 200)}*\n{now_text} It counts in the score until it "
                "ends and is shown with your name and reason."
            ),
            {
                "type": "input",
                "block_id": SENTIMENT_INPUT[0],
                "label": plain("Sentiment"),
                "element": select,
            },
            text_input(
                *REASON_INPUT,
                "Why (required unless clearing)",
                initial=current.reason if current is not None else None,
                optional=True,
            ),
            {
                "type": "input",
                "block_id": UNTIL_INPUT[0],
                "label": plain("Until"),
                "element": {
                    "type": "datepicker",
                    "action_id": UNTIL_INPUT[1],
                    "initial_date": default_until.isoformat(),
                },
            },
        ],
    )
