"""`/health`'s other replies: the pick list, the refusal, "not scored yet", help, and the
account lists of `/health`, `/health risk` and `/health expansion`."""

from __future__ import annotations

from typing import Any

from digests.blocks import context, header, message, section, take
from digests.limits import MAX_BLOCKS_MESSAGE
from digests.rows import (
    account_name,
    account_plain,
    account_row,
    details_button,
    more_text,
    tier_badge,
)
from digests.text import ELLIPSIS, clip_raw, esc, escape
from digests.views import AccountLine, PickList
from digests.wording import money, plural

MAX_CANDIDATES = 10
"""Accounts a pick list shows with a "Show" button."""
REFUSAL_TEXT = "I can't show that account. Ask your CS manager if you think you should see it."


def pick_list(pl: PickList) -> dict[str, Any]:
    """Several matches: a short list with a "Show" button each. None: the closest names."""
    query = esc(pl.query, 80)
    if pl.candidates:
        shown, left = take(pl.candidates, MAX_CANDIDATES, MAX_CANDIDATES)
        blocks: list[dict[str, Any]] = [
            section(f"{plural(len(pl.candidates), 'account')} match '{query}'. Which one?")
        ]
        for line in shown:
            domain = f" ({esc(line.domain, 80)})" if line.domain else ""
            blocks.append(
                section(
                    f"{account_name(line, link=False)}{domain}\n{tier_badge(line.health_tier)} "
                    f"· {line.score:.1f} · {money(line.arr)} ARR · "
                    f"CSM {esc(line.owner_name or 'unassigned')}",
                    accessory=details_button(line.account_id, "Show"),
                )
            )
        if left:
            blocks.append(context(f"{ELLIPSIS}and {left} more — type more of the name"))
        names = ", ".join(escape(clip_raw(c.name, 40)) for c in shown[:5])
        return message(blocks, f"{plural(len(pl.candidates), 'account')} match '{query}': {names}.")
    closest = [esc(n, 80) for n in pl.closest[:5]]
    text = f"No account matches '{query}'."
    if closest:
        text += " Closest: " + ", ".join(closest) + "."
    return message(
        [section(text), context("Try part of the name or the domain, e.g. `/health acme`.")],
        text,
    )


def refusal(query: str) -> dict[str, Any]:
    """The same words whether the account exists or not, and nothing from the query:
    anything else would let a user probe which customers exist."""
    del query  # deliberately unused
    return message([section(REFUSAL_TEXT)], REFUSAL_TEXT)


NOT_SCORED_TEXT = (
    "That account has no health score yet. It gets one at the next scoring run "
    "(`pulse score`, or the daily pipeline)."
)


def not_scored() -> dict[str, Any]:
    """For an account the viewer may see but that has never been scored: saying so leaks
    nothing, and the generic refusal would wrongly suggest missing access."""
    return message([section(NOT_SCORED_TEXT)], NOT_SCORED_TEXT)


HELP_LINES = (
    ("/health", "your accounts that need attention, most urgent first"),
    ("/health NAME", "one account's health card (name or domain, part of it is fine)"),
    ("/health risk", "your at-risk accounts"),
    ("/health expansion", "your expansion candidates"),
    (
        '/health NAME sentiment green|yellow|red "why" [--until DATE]',
        "record your judgement; it counts in the score until it ends",
    ),
    (
        '/health extend-trial NAME "why"',
        "extend a Stripe trial (7 days, then 14 with a reason, then a manager approves)",
    ),
    ("/health help", "this message"),
)


def help_message() -> dict[str, Any]:
    lines = "\n".join(f"• `{cmd}` — {what}" for cmd, what in HELP_LINES)
    blocks = [
        section(f"*Pulse: customer health in Slack*\n{lines}"),
        context("Your morning list arrives by DM; your whole portfolio is on Pulse's Home tab."),
    ]
    text = "Pulse commands: " + "; ".join(f"{cmd} - {what}" for cmd, what in HELP_LINES) + "."
    return message(blocks, text)


def account_list(
    title: str, lines: list[AccountLine], empty_text: str, limit: int
) -> dict[str, Any]:
    """`/health`, `/health risk`, `/health expansion`: rows with a Details button each,
    cut at ``limit`` (and at what fits in a message) with a count of the rest."""
    blocks: list[dict[str, Any]] = [header(title)]
    if not lines:
        blocks.append(section(esc(empty_text, 500)))
        return message(blocks, f"{esc(title, 150)}: {esc(empty_text, 500)}")
    room = MAX_BLOCKS_MESSAGE - 3  # header, "more" line, footer
    shown, left = take(lines, limit, room)
    for line in shown:
        blocks.append(
            section(
                account_row(line, expansion=True),
                accessory=details_button(line.account_id),
            )
        )
    if left:
        blocks.append(context(more_text(left)))
    blocks.append(context("`/health NAME` for any account · `/health help`"))
    names = ", ".join(account_plain(line) for line in shown[:5])
    more = f" and {len(lines) - min(5, len(shown))} more" if len(lines) > 5 else ""
    return message(blocks, f"{esc(title, 150)}: {plural(len(lines), 'account')}. {names}{more}.")

