"""Text that is safe in Slack mrkdwn: escaping, clipping, links, mentions and times.

This module is the one place that makes data safe in Slack mrkdwn. Every text from the
data (account, owner and contact names, reasons, alert messages, feature names) goes
through :func:`escape` (or :func:`esc`, which clips first) before it is put in mrkdwn,
whether in a block or in a message's top-level ``text``; what is not escaped is sent as
``plain_text``. Slack treats ``&``, ``<`` and ``>`` as control characters
(https://api.slack.com/reference/surfaces/formatting#escaping), so an unescaped
``<!channel>`` in an account name would ping a whole channel. Slack has no escape for the
formatting characters (``*bold*``, ``_italic_``, ``~strike~``, `` `code` ``), so they are
replaced by look-alike characters that Slack does not parse; a ``>`` that would start a
line (a block quote) is preceded by an invisible soft hyphen.

Clipping (:func:`clip`) counts Slack characters (:func:`digests.limits.slack_len`) and
never cuts through an HTML entity or a ``<...>`` link, because half an entity renders as
garbage and half a link can swallow the rest of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from digests.limits import MAX_BUTTON_URL, MAX_SECTION_TEXT, slack_len

ELLIPSIS = "…"
NAME_MAX = 120
"""Raw characters of an account or person name before escaping."""
MENTION_MAX = 40
"""Raw characters of a malformed user id shown instead of a mention."""

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")

LOOKALIKES = {
    "*": "\u2217",  # ∗ asterisk operator
    "\uff0a": "\ufe61",  # fullwidth asterisk -> ﹡ small asterisk
    "_": "\u02cd",  # ˍ modifier letter low macron
    "\uff3f": "\u2e0f",  # fullwidth low line -> ⸏ paragraphos
    "~": "\u223c",  # ∼ tilde operator
    "`": "\u02cb",  # ˋ modifier letter grave accent
    "\uff40": "\u02cb",  # fullwidth grave accent
}
"""Formatting characters of mrkdwn and the characters that stand in for them in data."""
_FORMATTING = str.maketrans(LOOKALIKES)
_CODE_FORMATTING = str.maketrans({k: v for k, v in LOOKALIKES.items() if k in "`\uff40"})
_QUOTE_START = re.compile(r"(^|\n)(\s*)&gt;")
SOFT_HYPHEN = "\u00ad"


# ---------------------------------------------------------------------------------------
# Escaping and clipping


def escape(text: Any, *, code: bool = False) -> str:
    """``text`` from the data, made literal in mrkdwn: it can never become a mention, a
    link, formatting or a block quote.

    ``&``, ``<`` and ``>`` become entities; ``*``, ``_``, ``~`` and backticks become
    :data:`LOOKALIKES`. With ``code=True`` (text put inside a `` `code` `` span, which
    Slack does not format but a backtick would end) only backticks are replaced, so a
    ``/health acme_corp`` command shown in a span can still be copied and typed.
    """
    out = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = out.translate(_CODE_FORMATTING if code else _FORMATTING)
    return _QUOTE_START.sub(rf"\1\2{SOFT_HYPHEN}&gt;", out)


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


def esc(text: Any, limit: int = NAME_MAX, *, code: bool = False) -> str:
    """Clip then escape: the usual treatment for a name or sentence from the data."""
    return escape(clip_raw(text, limit), code=code)


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


# ---------------------------------------------------------------------------------------
# Links and mentions


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
    return escape(clip_raw(user_id, MENTION_MAX))


# ---------------------------------------------------------------------------------------
# Times and dates


def as_utc(dt: datetime) -> datetime:
    """``dt`` in UTC; a naive datetime is taken as UTC (that is how storage keeps them)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def utc_text(dt: datetime) -> str:
    """``2026-11-25 14:03 UTC``: unambiguous, and what the plain-text fallback shows."""
    return as_utc(dt).strftime("%Y-%m-%d %H:%M UTC")


def slack_time(dt: datetime) -> str:
    """A ``<!date>`` token: each reader sees the time in their own timezone.

    Naive datetimes are taken as UTC (that is how storage keeps them).
    """
    ts = int(as_utc(dt).timestamp())
    return f"<!date^{ts}^{{date_short_pretty}} at {{time}}|{utc_text(dt)}>"


def day_text(day: date) -> str:
    """``31 Jan 2027``: how an end date (of an override, of a trial) reads in a sentence."""
    return day.strftime("%-d %b %Y")
