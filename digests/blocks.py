"""Block Kit objects and surfaces, each clipped to Slack's documented limits.

Every constructor here cuts to the limits in :mod:`digests.limits`, so that no amount of
user data (a 300-character account name, a huge portfolio, a flag detail with markup in
it) can make Slack reject a message. Text going in is already escaped
(:mod:`digests.text`); clipping it never breaks an entity or a link. :func:`message` and
:func:`home` are the last safety net: a builder plans its block budget, these cut what
still does not fit and say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from digests.limits import (
    MAX_ACTION_ID,
    MAX_ACTIONS_ELEMENTS,
    MAX_BLOCK_ID,
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
from digests.text import ELLIPSIS, clip, clip_raw

Block = dict[str, Any]

FALLBACK_MAX = 3000
"""Our own cap on the notification fallback: far under Slack's 40,000, still a summary."""
HOME_POINTER = "open Pulse's Home tab"
"""Where every cut list sends the reader for the rest."""


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
        block["block_id"] = clip(block_id, MAX_BLOCK_ID, mrkdwn=False)
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
        block["block_id"] = clip(block_id, MAX_BLOCK_ID, mrkdwn=False)
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


# ---------------------------------------------------------------------------------------
# Surfaces


def fallback(*parts: str) -> str:
    """Join sentences into the top-level ``text``: plain words, capped, never empty."""
    text = " ".join(p.strip() for p in parts if p and p.strip()) or "Pulse"
    return clip(text, FALLBACK_MAX)


def message(blocks: list[Block], text: str) -> dict[str, Any]:
    """A message payload. Builders plan their budgets; this is only the safety net that
    keeps a miscounted builder from getting the whole message rejected."""
    if len(blocks) > MAX_BLOCKS_MESSAGE:
        blocks = blocks[: MAX_BLOCKS_MESSAGE - 1] + [
            context(f"{ELLIPSIS}cut to fit Slack's message size — {HOME_POINTER}")
        ]
    return {"blocks": blocks, "text": fallback(text)}


def home(blocks: list[Block]) -> dict[str, Any]:
    """A Home tab view, with the same safety net as :func:`message` at 100 blocks."""
    if len(blocks) > MAX_BLOCKS_HOME:
        blocks = blocks[: MAX_BLOCKS_HOME - 1] + [
            context(f"{ELLIPSIS}cut to fit Slack's Home tab size — use /health NAME")
        ]
    return {"type": "home", "blocks": blocks}


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
