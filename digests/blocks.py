"""Block Kit primitives shared by every Pulse card, digest and the App Home.

Every constructor here clips to Slack's documented limits (see :mod:`digests.limits`)
so that no amount of user data (a 300-character account name, a huge portfolio, a flag
detail with markup in it) can make Slack reject a message. Clipping never cuts through
an HTML entity or a ``<...>`` link, because half an entity renders as garbage and half a
link can swallow the rest of the text.

User-provided text (account names, owner names, reasons, alert messages) goes through
:func:`escape` before it is put in mrkdwn: Slack treats ``&``, ``<`` and ``>`` as control
characters, so an unescaped ``<!channel>`` in an account name would ping a whole channel.

Figures are worded by :mod:`digests.wording` (shared with the terminal) and tiers by
:mod:`pulse.kernel.tiers`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from digests.limits import (
    MAX_ACTION_ID,
    MAX_ACTIONS_ELEMENTS,
    MAX_BLOCKS_HOME,
    MAX_BLOCKS_MESSAGE,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_URL,
    MAX_BUTTON_VALUE,
    MAX_CONTEXT_ELEMENTS,
    MAX_FIELD_TEXT,
    MAX_HEADER_TEXT,
    MAX_INPUT_LABEL,
    MAX_MODAL_TITLE,
    MAX_OPTION_TEXT,
    MAX_OPTION_VALUE,
    MAX_OPTIONS,
    MAX_PLACEHOLDER,
    MAX_SECTION_FIELDS,
    MAX_SECTION_TEXT,
    MAX_TEXT_OBJECT,
    slack_len,
)
from digests.views import AccountLine
from digests.wording import money, plural, signed
from pulse.kernel.tiers import tier_label

Block = dict[str, Any]

ELLIPSIS = "…"
FALLBACK_MAX = 3000
"""Our own cap on the notification fallback: far under Slack's 40,000, still a summary."""
HOME_POINTER = "open Pulse's Home tab"
NAME_MAX = 120
"""Raw characters of an account or person name before escaping."""

TIER_EMOJI = {
    "healthy": ":large_green_circle:",
    "fine": ":large_yellow_circle:",
    "at_risk": ":red_circle:",
}
TIER_COLOUR = {"healthy": "green", "fine": "yellow", "at_risk": "red"}
SEVERITY_EMOJI = {"critical": ":rotating_light:", "warning": ":warning:"}
SPARK_BARS = "▁▂▃▄▅▆▇█"

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


# ---------------------------------------------------------------------------------------
# Text: escaping and clipping


def escape(text: Any) -> str:
    """Escape Slack's three control characters so user text can never become markup."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _take_units(text: str, budget: int) -> str:
    """The longest prefix of ``text`` whose :func:`slack_len` is at most ``budget``."""
    used = 0
    for i, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            return text[:i]
    return text


def clip(text: str, limit: int, *, mrkdwn: bool = True) -> str:
    """``text`` cut to ``limit`` (Slack characters) with an ellipsis when it was longer.

    For mrkdwn the cut backs off to before a dangling ``&entity`` or an unclosed ``<...>``
    token, so clipping escaped text never produces broken markup.
    """
    if slack_len(text) <= limit:
        return text
    out = _take_units(text, max(limit - slack_len(ELLIPSIS), 0))
    if mrkdwn:
        amp = out.rfind("&")
        if amp != -1 and ";" not in out[amp:]:
            out = out[:amp]
        lt = out.rfind("<")
        if lt != -1 and ">" not in out[lt:]:
            out = out[:lt]
    return out.rstrip() + ELLIPSIS


def clip_raw(text: Any, limit: int) -> str:
    """Clip user text *before* escaping: budgets are meant in characters a human reads."""
    return clip(str(text), limit, mrkdwn=False)


def esc(text: Any, limit: int = NAME_MAX) -> str:
    """Clip then escape: the usual treatment for a name or sentence from the data."""
    return escape(clip_raw(text, limit))


def pack_lines(lines: Iterable[str], limit: int = MAX_SECTION_TEXT, sep: str = "\n") -> list[str]:
    """Group lines into chunks of at most ``limit`` characters each (lines never split).

    Used to put a long list in as few section blocks as possible: one block per line
    would run out of the 50-block budget long before the 3,000-character one.
    """
    chunks: list[str] = []
    current = ""
    for raw in lines:
        line = clip(raw, limit)
        if not current:
            current = line
        elif slack_len(current) + slack_len(sep) + slack_len(line) <= limit:
            current = f"{current}{sep}{line}"
        else:
            chunks.append(current)
            current = line
    if current:
        chunks.append(current)
    return chunks


def safe_url(url: str | None) -> str | None:
    """``url`` when it is an http(s) URL Slack will take in a button or a link, else None.

    CRM URLs come from synced data; one with spaces, ``|`` or ``>`` would break a mrkdwn
    link, and one over 3,000 characters would get the whole message rejected.
    """
    if not url or not isinstance(url, str):
        return None
    url = url.strip()
    if not url.lower().startswith(("https://", "http://")):
        return None
    if any(c in url for c in " \t\r\n|<>") or slack_len(url) > MAX_BUTTON_URL:
        return None
    return url


def user_mention(user_id: str | None) -> str:
    """``<@U123>`` for a well-formed Slack user id; anything else is shown escaped."""
    if not user_id:
        return "someone"
    if _USER_ID.match(user_id):
        return f"<@{user_id}>"
    return escape(clip_raw(user_id, 40))


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def utc_text(dt: datetime) -> str:
    """``2026-11-25 14:03 UTC``: unambiguous, and what the plain-text fallback shows."""
    return _utc(dt).strftime("%Y-%m-%d %H:%M UTC")


def slack_time(dt: datetime) -> str:
    """A ``<!date>`` token: each reader sees the time in their own timezone.

    Naive datetimes are taken as UTC (that is how storage keeps them).
    """
    ts = int(_utc(dt).timestamp())
    return f"<!date^{ts}^{{date_short_pretty}} at {{time}}|{utc_text(dt)}>"


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


def sparkline(values: Sequence[float], width: int = 30, min_span: float = 10.0) -> str:
    """``▃▄▅▅▂``: one bar per point (at most ``width``), scaled to the series' range.

    The range is widened to at least ``min_span`` points so that a score wobbling by a
    few tenths draws flat instead of looking like a cliff.
    """
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return ""
    if len(vals) > width:
        step = (len(vals) - 1) / (width - 1)
        vals = [vals[round(i * step)] for i in range(width)]
    lo, hi = min(vals), max(vals)
    if hi - lo < min_span:
        mid = (hi + lo) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    top = len(SPARK_BARS) - 1
    return "".join(SPARK_BARS[min(top, max(0, round((v - lo) / (hi - lo) * top)))] for v in vals)


# ---------------------------------------------------------------------------------------
# Block Kit objects


def plain(text: str, limit: int = MAX_TEXT_OBJECT) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text or " ", limit, mrkdwn=False), "emoji": True}


def mrkdwn(text: str, limit: int = MAX_TEXT_OBJECT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text or " ", limit)}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, MAX_HEADER_TEXT)}


def divider() -> Block:
    return {"type": "divider"}


def section(
    text: str, *, accessory: dict[str, Any] | None = None, block_id: str | None = None
) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text, MAX_SECTION_TEXT)}
    if accessory is not None:
        block["accessory"] = accessory
    if block_id is not None:
        block["block_id"] = clip(block_id, 255, mrkdwn=False)
    return block


def fields_section(fields: Sequence[str], text: str | None = None) -> Block:
    """A two-column section; at most 10 fields of 2,000 characters (extra ones dropped)."""
    block: Block = {
        "type": "section",
        "fields": [mrkdwn(f, MAX_FIELD_TEXT) for f in fields[:MAX_SECTION_FIELDS]],
    }
    if text:
        block["text"] = mrkdwn(text, MAX_SECTION_TEXT)
    return block


def context(*texts: str) -> Block:
    return {
        "type": "context",
        "elements": [mrkdwn(t, MAX_TEXT_OBJECT) for t in texts[:MAX_CONTEXT_ELEMENTS] if t]
        or [mrkdwn(" ")],
    }


def actions(elements: Sequence[dict[str, Any]], block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements[:MAX_ACTIONS_ELEMENTS])}
    if block_id is not None:
        block["block_id"] = clip(block_id, 255, mrkdwn=False)
    return block


def button(
    text: str,
    action_id: str,
    *,
    value: str | None = None,
    url: str | None = None,
    style: str | None = None,
) -> dict[str, Any]:
    """A button. ``value`` and ``url`` are never clipped (a cut id or URL is wrong, not
    shorter), so an over-long one is a programming error and raises ValueError."""
    if slack_len(action_id) > MAX_ACTION_ID:
        raise ValueError(f"action_id longer than {MAX_ACTION_ID}: {action_id[:40]}…")
    el: dict[str, Any] = {
        "type": "button",
        "text": plain(text, MAX_BUTTON_TEXT),
        "action_id": action_id,
    }
    if value is not None:
        if slack_len(value) > MAX_BUTTON_VALUE:
            raise ValueError(f"button value longer than {MAX_BUTTON_VALUE}")
        el["value"] = value
    if url is not None:
        if slack_len(url) > MAX_BUTTON_URL:
            raise ValueError(f"button url longer than {MAX_BUTTON_URL}")
        el["url"] = url
    if style is not None:
        el["style"] = style
    return el


def option(text: str, value: str) -> dict[str, Any]:
    if slack_len(value) > MAX_OPTION_VALUE:
        raise ValueError(f"option value longer than {MAX_OPTION_VALUE}")
    return {"text": plain(text, MAX_OPTION_TEXT), "value": value}


def static_select(
    placeholder: str, action_id: str, options: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "static_select",
        "placeholder": plain(placeholder, MAX_PLACEHOLDER),
        "action_id": action_id,
        "options": list(options[:MAX_OPTIONS]),
    }


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


# ---------------------------------------------------------------------------------------
# Rows shared by lists, digests and the App Home


def account_name(line: AccountLine, *, link: bool = True) -> str:
    """Bold, escaped account name; a link to the CRM record when there is one."""
    name = esc(line.name)
    url = safe_url(line.crm_url) if link else None
    return f"*<{url}|{name}>*" if url else f"*{name}*"


def account_row(
    line: AccountLine,
    *,
    why: bool = True,
    owner: bool = False,
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
    if owner:
        facts.append(f"CSM {esc(line.owner_name or 'unassigned')}")
    if expansion:
        facts.append(f"expansion {line.expansion_score:.0f}")
    text = f"{head}\n{' · '.join(facts)}"
    if why and line.why:
        text += f"\n_Why:_ {esc(line.why, 400)}"
    return text


def account_plain(line: AccountLine) -> str:
    """The fallback's version of a row: ``Acme (49.2, At risk, -9.5)``."""
    return (
        f"{escape(clip_raw(line.name, 60))} ({line.score:.1f}, {tier_label(line.health_tier)}, "
        f"{signed(line.change)})"
    )


def fallback(*parts: str) -> str:
    """Join sentences into the top-level ``text``: plain words, capped, never empty."""
    text = " ".join(p.strip() for p in parts if p and p.strip()) or "Pulse"
    return clip(text, FALLBACK_MAX)


# ---------------------------------------------------------------------------------------
# Surfaces


def message(blocks: list[Block], text: str) -> dict[str, Any]:
    """A message payload. Builders plan their budgets; this is only the safety net that
    keeps a miscounted builder from getting the whole message rejected."""
    if len(blocks) > MAX_BLOCKS_MESSAGE:
        blocks = blocks[: MAX_BLOCKS_MESSAGE - 1] + [
            context(f"{ELLIPSIS}cut to fit Slack's message size — {HOME_POINTER}")
        ]
    return {"blocks": blocks, "text": fallback(text)}


def home(blocks: list[Block]) -> dict[str, Any]:
    if len(blocks) > MAX_BLOCKS_HOME:
        blocks = blocks[: MAX_BLOCKS_HOME - 1] + [
            context(f"{ELLIPSIS}cut to fit Slack's Home tab size — use /health NAME")
        ]
    return {"type": "home", "blocks": blocks}


def text_input(
    block_id: str,
    action_id: str,
    label: str,
    *,
    initial: str | None = None,
    optional: bool = False,
    max_length: int = 500,
) -> Block:
    """A multiline text input block for a modal (reasons, justifications)."""
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": action_id,
        "multiline": True,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = clip_raw(initial, max_length)
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, MAX_INPUT_LABEL),
        "element": element,
    }
    if optional:
        block["optional"] = True
    return block


def modal(
    title: str, callback_id: str, private_metadata: str, blocks: list[Block]
) -> dict[str, Any]:
    """A modal view with Save / Cancel; ``private_metadata`` says what it is about, since a
    view_submission payload carries no message or button value."""
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": private_metadata,
        "title": plain(title, MAX_MODAL_TITLE),
        "submit": plain("Save", MAX_MODAL_TITLE),
        "close": plain("Cancel", MAX_MODAL_TITLE),
        "blocks": blocks,
    }


def take(items: Sequence[Any], limit: int, room: int) -> tuple[list[Any], int]:
    """The first ``min(limit, room)`` items and how many were left out."""
    n = max(0, min(limit, room, len(items)))
    return list(items[:n]), len(items) - n
