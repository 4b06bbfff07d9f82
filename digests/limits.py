"""Slack's documented Block Kit limits, and a validator that reports every violation.

Slack rejects a whole message (``invalid_blocks``) when a single field is one character
too long, and it does so at send time, in production, in front of a CSM. Every builder in
``digests`` therefore cuts to these limits itself, and the tests run every builder's
output through :func:`validate_message` / :func:`validate_home` so that a regression is
caught on a laptop instead. The validator is deliberately independent of the builders
(it walks the JSON), so it cannot pass just because a builder helper clipped something.

Sources (Slack's developer documentation; figures as documented there):

* Blocks: "You can include up to 50 blocks in each message, and 100 blocks in modals or
  Home tabs." https://docs.slack.dev/reference/block-kit/blocks
  (also https://api.slack.com/reference/messaging/blocks)
* Section block: ``text`` minimum 1, maximum 3000 characters; ``fields`` "Maximum number
  of items is 10. Maximum length for the text in each item is 2000 characters";
  ``block_id`` maximum 255 characters, unique for each message.
  https://docs.slack.dev/reference/block-kit/blocks/section-block
* Header block: plain_text ``text``, "Maximum length for the text in this field is 150
  characters." https://docs.slack.dev/reference/block-kit/blocks/header-block
* Context block: ``elements`` "An array of image elements and text objects. Maximum
  number of items is 10." https://docs.slack.dev/reference/block-kit/blocks/context-block
* Actions block: "There is a maximum of 25 elements in each action block."
  https://api.slack.com/reference/messaging/blocks (actions) and
  https://docs.slack.dev/tools/node-slack-sdk/reference/types/interfaces/ActionsBlock
* Button element: ``text`` plain_text, maximum 75 characters; ``action_id`` maximum 255
  characters and "should be unique among all other action_ids in the containing block";
  ``url`` maximum 3000 characters; ``value`` maximum 2000 characters; ``style`` primary
  or danger. https://docs.slack.dev/reference/block-kit/block-elements/button-element
  (as summarised in https://docs.slack.dev/tools/node-slack-sdk/reference/types/interfaces/Button)
* Select menu of static options: ``placeholder`` maximum 150 characters; ``options``
  "Maximum number of options is 100"; ``action_id`` maximum 255.
  https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element#static_select
* Option object: ``text`` maximum 75 characters; ``value`` maximum 150 characters.
  https://docs.slack.dev/reference/block-kit/composition-objects/option-object
  (as summarised in https://docs.slack.dev/tools/node-slack-sdk/reference/web-api/interfaces/PlainTextOption)
* Top-level ``text``: with blocks it is "used as fallback text for notifications only"
  and is strongly recommended (https://api.slack.com/methods/chat.postMessage); Slack
  truncates it beyond 40,000 characters
  (https://api.slack.com/changelog/2018-04-truncating-really-long-messages).
* Escaping: "Slack uses &, <, and > as control characters for special parsing in text
  objects, so they must be converted to HTML entities"
  https://api.slack.com/reference/surfaces/formatting#escaping

Lengths are counted in UTF-16 code units (:func:`slack_len`), which is never less than
Python's ``len`` and matches how JSON clients count astral characters, so a count that
passes here cannot be over Slack's count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MAX_BLOCKS_MESSAGE = 50
MAX_BLOCKS_HOME = 100
MAX_BLOCK_ID = 255
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_TEXT_OBJECT = 3000
"""Any text object (used for context elements, which have no stricter documented limit)."""
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_ACTION_ID = 255
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_PLACEHOLDER = 150
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_MESSAGE_TEXT = 40_000
MAX_IMAGE_ALT_TEXT = 2000
MAX_IMAGE_URL = 3000
MAX_VIEW_PRIVATE_METADATA = 3000
MAX_VIEW_CALLBACK_ID = 255
MAX_MODAL_TITLE = 24
"""Modal ``title``, ``submit`` and ``close``: plain text, "Maximum length ... 24 characters"
(https://api.slack.com/reference/surfaces/views)."""
MAX_INPUT_LABEL = 2000
MAX_PLAIN_TEXT_INPUT = 3000
"""Plain-text input element: ``max_length`` "Maximum value is 3000"
(https://docs.slack.dev/reference/block-kit/block-elements/plain-text-input-element)."""

TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
BUTTON_STYLES = frozenset({"primary", "danger"})
KNOWN_BLOCKS = frozenset(
    {
        "section",
        "header",
        "context",
        "actions",
        "divider",
        "image",
        "rich_text",
        "input",
        "video",
        "file",
        "markdown",
    }
)


def slack_len(text: str) -> int:
    """Length in UTF-16 code units: astral characters (most emoji) count twice."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


# ---------------------------------------------------------------------------------------
# Validation


class _Checker:
    """Collects violations while walking one payload."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, where: str, problem: str) -> None:
        self.errors.append(f"{where}: {problem}")

    def length(self, where: str, value: Any, limit: int, what: str) -> None:
        if not isinstance(value, str):
            self.add(where, f"{what} must be a string, got {type(value).__name__}")
            return
        n = slack_len(value)
        if n > limit:
            self.add(where, f"{what} is {n} characters, limit {limit}")

    def text_object(self, where: str, obj: Any, limit: int, *, plain_only: bool = False) -> None:
        if not isinstance(obj, Mapping):
            self.add(where, "text object missing or not an object")
            return
        kind = obj.get("type")
        if kind not in TEXT_TYPES:
            self.add(where, f"text object type {kind!r} is not plain_text or mrkdwn")
        elif plain_only and kind != "plain_text":
            self.add(where, "text must be plain_text")
        text = obj.get("text")
        if not isinstance(text, str) or not text:
            self.add(where, "text is empty (Slack requires at least 1 character)")
            return
        self.length(where, text, limit, "text")

    def element(self, where: str, el: Any, seen_ids: dict[str, str]) -> None:
        if not isinstance(el, Mapping):
            self.add(where, "element is not an object")
            return
        kind = el.get("type")
        action_id = el.get("action_id")
        if action_id is not None:
            self.length(where, action_id, MAX_ACTION_ID, "action_id")
            if action_id in seen_ids:
                self.add(
                    where,
                    f"duplicate action_id {action_id!r} in the same block "
                    f"(also at {seen_ids[action_id]})",
                )
            else:
                seen_ids[action_id] = where
        if kind == "button":
            self.text_object(f"{where}.text", el.get("text"), MAX_BUTTON_TEXT, plain_only=True)
            if "value" in el:
                self.length(where, el["value"], MAX_BUTTON_VALUE, "value")
            if "url" in el:
                self.length(where, el["url"], MAX_BUTTON_URL, "url")
            style = el.get("style")
            if style is not None and style not in BUTTON_STYLES:
                self.add(where, f"button style {style!r} is not primary or danger")
        elif kind in {"static_select", "multi_static_select", "overflow"}:
            if "placeholder" in el:
                self.text_object(
                    f"{where}.placeholder", el["placeholder"], MAX_PLACEHOLDER, plain_only=True
                )
            options = el.get("options")
            groups = el.get("option_groups")
            if options is None and groups is None:
                self.add(where, f"{kind} has neither options nor option_groups")
            if options is not None:
                self.options(where, options)
            if groups is not None:
                if not isinstance(groups, list) or len(groups) > MAX_OPTIONS:
                    self.add(where, f"option_groups must be a list of at most {MAX_OPTIONS}")
                else:
                    for i, group in enumerate(groups):
                        self.options(f"{where}.option_groups[{i}]", group.get("options"))
        elif kind == "image":
            self.length(where, el.get("alt_text", ""), MAX_IMAGE_ALT_TEXT, "alt_text")
            if "image_url" in el:
                self.length(where, el["image_url"], MAX_IMAGE_URL, "image_url")

    def options(self, where: str, options: Any) -> None:
        if not isinstance(options, list) or not options:
            self.add(where, "options must be a non-empty list")
            return
        if len(options) > MAX_OPTIONS:
            self.add(where, f"{len(options)} options, limit {MAX_OPTIONS}")
        values: set[str] = set()
        for i, opt in enumerate(options):
            at = f"{where}.options[{i}]"
            if not isinstance(opt, Mapping):
                self.add(at, "option is not an object")
                continue
            self.text_object(f"{at}.text", opt.get("text"), MAX_OPTION_TEXT)
            value = opt.get("value")
            if not isinstance(value, str) or not value:
                self.add(at, "option value is empty")
                continue
            self.length(at, value, MAX_OPTION_VALUE, "option value")
            if value in values:
                self.add(at, f"duplicate option value {value!r}")
            values.add(value)

    def block(self, where: str, block: Any, block_ids: set[str]) -> None:
        if not isinstance(block, Mapping):
            self.add(where, "block is not an object")
            return
        kind = block.get("type")
        where = f"{where} ({kind})"
        if kind not in KNOWN_BLOCKS:
            self.add(where, f"unknown block type {kind!r}")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            self.length(where, block_id, MAX_BLOCK_ID, "block_id")
            if block_id in block_ids:
                self.add(where, f"duplicate block_id {block_id!r} in the message")
            block_ids.add(block_id)
        seen_ids: dict[str, str] = {}
        if kind == "header":
            self.text_object(f"{where}.text", block.get("text"), MAX_HEADER_TEXT, plain_only=True)
        elif kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and not fields:
                self.add(where, "section needs text or fields")
            if text is not None:
                self.text_object(f"{where}.text", text, MAX_SECTION_TEXT)
            if fields is not None:
                if not isinstance(fields, list):
                    self.add(where, "fields must be a list")
                else:
                    if len(fields) > MAX_SECTION_FIELDS:
                        self.add(where, f"{len(fields)} fields, limit {MAX_SECTION_FIELDS}")
                    for i, f in enumerate(fields):
                        self.text_object(f"{where}.fields[{i}]", f, MAX_FIELD_TEXT)
            if "accessory" in block:
                self.element(f"{where}.accessory", block["accessory"], seen_ids)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                self.add(where, "context needs a non-empty elements list")
                return
            if len(elements) > MAX_CONTEXT_ELEMENTS:
                self.add(where, f"{len(elements)} elements, limit {MAX_CONTEXT_ELEMENTS}")
            for i, el in enumerate(elements):
                at = f"{where}.elements[{i}]"
                if isinstance(el, Mapping) and el.get("type") == "image":
                    self.element(at, el, seen_ids)
                else:
                    self.text_object(at, el, MAX_TEXT_OBJECT)
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                self.add(where, "actions needs a non-empty elements list")
                return
            if len(elements) > MAX_ACTIONS_ELEMENTS:
                self.add(where, f"{len(elements)} elements, limit {MAX_ACTIONS_ELEMENTS}")
            for i, el in enumerate(elements):
                self.element(f"{where}.elements[{i}]", el, seen_ids)
        elif kind == "image":
            self.element(where, {**block, "type": "image"}, seen_ids)

    def blocks(self, blocks: Any, limit: int) -> None:
        if not isinstance(blocks, list):
            self.add("blocks", "missing or not a list")
            return
        if len(blocks) > limit:
            self.add("blocks", f"{len(blocks)} blocks, limit {limit}")
        block_ids: set[str] = set()
        for i, block in enumerate(blocks):
            self.block(f"blocks[{i}]", block, block_ids)


def validate_blocks(blocks: Iterable[Any], limit: int = MAX_BLOCKS_MESSAGE) -> list[str]:
    """Violations in a bare list of blocks (no surface-level checks)."""
    checker = _Checker()
    checker.blocks(list(blocks), limit)
    return checker.errors


def validate_message(payload: Mapping[str, Any]) -> list[str]:
    """Every violation of Slack's limits in a message payload; empty when it is valid.

    Besides the per-block checks this insists on a non-empty top-level ``text``: Slack
    accepts a message without it, but notifications and screen readers then show nothing
    useful, so for Pulse a missing fallback is a bug.
    """
    checker = _Checker()
    if not isinstance(payload, Mapping):
        return ["payload: not an object"]
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        checker.add("text", "missing plain-text fallback (notifications would be empty)")
    else:
        checker.length("text", text, MAX_MESSAGE_TEXT, "fallback text")
    checker.blocks(payload.get("blocks"), MAX_BLOCKS_MESSAGE)
    return checker.errors


def validate_modal(view: Mapping[str, Any]) -> list[str]:
    """Every violation of Slack's limits in a modal view; empty when it is valid."""
    checker = _Checker()
    if not isinstance(view, Mapping):
        return ["view: not an object"]
    if view.get("type") != "modal":
        checker.add("type", f"view type is {view.get('type')!r}, expected 'modal'")
    for key in ("title", "submit", "close"):
        if key in view or key == "title":
            checker.text_object(key, view.get(key), MAX_MODAL_TITLE, plain_only=True)
    checker.length(
        "private_metadata",
        view.get("private_metadata", ""),
        MAX_VIEW_PRIVATE_METADATA,
        "private_metadata",
    )
    checker.length("callback_id", view.get("callback_id", ""), MAX_VIEW_CALLBACK_ID, "callback_id")
    blocks = view.get("blocks")
    checker.blocks(blocks, MAX_BLOCKS_HOME)
    for i, block in enumerate(blocks or []):
        if isinstance(block, Mapping) and block.get("type") == "input":
            checker.text_object(
                f"blocks[{i}].label", block.get("label"), MAX_INPUT_LABEL, plain_only=True
            )
            element = block.get("element")
            if not isinstance(element, Mapping):
                checker.add(f"blocks[{i}]", "input needs an element")
            elif element.get("type") == "plain_text_input":
                _check_text_input(checker, f"blocks[{i}].element", element)
    return checker.errors


def _check_text_input(checker: _Checker, where: str, element: Mapping[str, Any]) -> None:
    """A plain_text_input's ``max_length`` within Slack's maximum, and its initial value
    within its own ``max_length``."""
    limit = element.get("max_length", MAX_PLAIN_TEXT_INPUT)
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PLAIN_TEXT_INPUT:
        checker.add(where, f"max_length {limit!r} outside 1..{MAX_PLAIN_TEXT_INPUT}")
        return
    initial = element.get("initial_value")
    if isinstance(initial, str) and slack_len(initial) > limit:
        checker.add(where, f"initial_value longer than its max_length {limit}")


def validate_home(view: Mapping[str, Any]) -> list[str]:
    """Every violation of Slack's limits in a Home tab view; empty when it is valid."""
    checker = _Checker()
    if not isinstance(view, Mapping):
        return ["view: not an object"]
    if view.get("type") != "home":
        checker.add("type", f"view type is {view.get('type')!r}, expected 'home'")
    if "private_metadata" in view:
        checker.length(
            "private_metadata",
            view["private_metadata"],
            MAX_VIEW_PRIVATE_METADATA,
            "private_metadata",
        )
    if "callback_id" in view:
        checker.length("callback_id", view["callback_id"], MAX_VIEW_CALLBACK_ID, "callback_id")
    checker.blocks(view.get("blocks"), MAX_BLOCKS_HOME)
    return checker.errors
