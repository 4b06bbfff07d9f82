"""Accounts in words, the same in every list: tier badges, renewal and alert phrases, the
account row of digests, lists and the App Home, and the buttons that go with a row.

Figures are worded by :mod:`digests.wording` (shared with the terminal) and tier names by
:mod:`pulse.kernel.tiers`; this module only puts them together for Slack.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from digests.blocks import HOME_POINTER, button
from digests.text import ELLIPSIS, clip_raw, esc, escape, safe_url
from digests.views import AccountLine
from digests.wording import money, plural, signed
from pulse.kernel.tiers import tier_label

TIER_EMOJI = {
    "healthy": ":large_green_circle:",
    "fine": ":large_yellow_circle:",
    "at_risk": ":red_circle:",
}
TIER_COLOUR = {"healthy": "green", "fine": "yellow", "at_risk": "red"}
SEVERITY_EMOJI = {"critical": ":rotating_light:", "warning": ":warning:"}
WHY_MAX = 400
"""Raw characters of a row's "why" before escaping."""


# ---------------------------------------------------------------------------------------
# Tiers, renewals and alerts in words


def tier_badge(tier: str | None) -> str:
    """Emoji plus word, so the tier reads without colour (and in screen readers)."""
    emoji = TIER_EMOJI.get(tier or "", ":white_circle:")
    return f"{emoji} {tier_label(tier)}"


def tier_plain(tier: str | None) -> str:
    """The fallback's version: ``At risk (red)``."""
    colour = TIER_COLOUR.get(tier or "")
    return f"{tier_label(tier)} ({colour})" if colour else tier_label(tier)


def renewal_text(renewal: date | None, days: int | None) -> str:
    """``2026-12-08 (in 13 days)``, ``(today)``, ``(passed 2 days ago)``."""
    if renewal is None:
        return "no renewal date"
    text = renewal.isoformat()
    if days is None:
        return text
    if days > 0:
        return f"{text} (in {plural(days, 'day')})"
    if days == 0:
        return f"{text} (today)"
    return f"{text} (passed {plural(-days, 'day')} ago)"


def activity_text(last: date | None) -> str:
    return f"last activity {last.isoformat()}" if last else "no recorded activity"


def alerts_text(n: int) -> str:
    return "no open alerts" if n == 0 else plural(n, "open alert")


def more_text(left: int, pointer: str = HOME_POINTER) -> str:
    """The line that closes every cut list: how many were left out and where they are."""
    return f"{ELLIPSIS}and {left:,} more — {pointer}"


# ---------------------------------------------------------------------------------------
# The account row and its buttons


def account_name(line: AccountLine, *, link: bool = True) -> str:
    """Bold, escaped account name; a link to the CRM record when there is one."""
    name = esc(line.name)
    url = safe_url(line.crm_url) if link else None
    return f"*<{url}|{name}>*" if url else f"*{name}*"


def account_row(
    line: AccountLine,
    *,
    why: bool = True,
    expansion: bool = False,
    activity: bool = False,
) -> str:
    """A two-or-three-line mrkdwn summary of one account, the same everywhere."""
    head = (
        f"{account_name(line)} · {tier_badge(line.health_tier)} · "
        f"*{line.score:.1f}* ({signed(line.change)})"
    )
    facts = [
        f"{money(line.arr)} ARR",
        f"renews {renewal_text(line.renewal_date, line.days_to_renewal)}",
    ]
    if activity:
        facts.append(activity_text(line.last_activity))
    facts.append(alerts_text(line.open_alerts))
    if expansion:
        facts.append(f"expansion score {line.expansion_score:.0f}/100")
    text = f"{head}\n{' · '.join(facts)}"
    if why and line.why:
        text += f"\n_Why:_ {esc(line.why, WHY_MAX)}"
    return text


def account_plain(line: AccountLine) -> str:
    """The fallback's version of a row: ``Acme (49.2, At risk, -9.5)``."""
    return (
        f"{escape(clip_raw(line.name, 60))} ({line.score:.1f}, {tier_label(line.health_tier)}, "
        f"{signed(line.change)})"
    )


def crm_button(url: str | None) -> dict[str, Any] | None:
    """ "Open in CRM" link button, or None when there is no usable URL.

    Slack still sends an interaction payload for a URL button; the bot acks
    ``open_crm`` and does nothing else.
    """
    good = safe_url(url)
    return button("Open in CRM", "open_crm", url=good) if good else None


def details_button(account_id: int, text: str = "Details") -> dict[str, Any]:
    """The button that opens an account's health card: ``health_pick`` / account id."""
    return button(text, "health_pick", value=str(account_id))
