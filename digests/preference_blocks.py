"""``/health settings``: the modal where a person chooses what reaches them. Pure builders.

Interaction contract: the modal's ``callback_id`` is ``settings_view``; its answers are in
``state.values``: :data:`SEVERITY_INPUT` (a static select, ``selected_option.value``),
:data:`QUIET_INPUT` (checkboxes, ``selected_options[].value``) and :data:`TIME_INPUT`
(a time picker, ``selected_time`` as ``HH:mm``).

Slack's elements: the time picker's ``initial_time`` is "HH:mm" (24-hour)
(https://docs.slack.dev/reference/block-kit/block-elements/time-picker-element); a
checkbox group takes at most 10 options and its ``initial_options`` must match some of
them exactly (https://docs.slack.dev/reference/block-kit/block-elements/checkboxes-element).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from digests.blocks import actions, button, context, option, plain, section, static_select
from digests.blocks import modal as modal_view
from digests.cards import health_card
from digests.limits import (
    MAX_ACTIONS_ELEMENTS,
    MAX_BLOCKS_MESSAGE,
    MAX_INPUT_LABEL,
    MAX_PLACEHOLDER,
)
from digests.text import esc
from digests.views import HealthCard

SETTINGS_VIEW = "settings_view"
ACCOUNT_ACTIONS = {"mute": "pref_mute", "unmute": "pref_unmute", "follow": "pref_follow",
                   "unfollow": "pref_unfollow"}
"""The health card's preference buttons (value ``str(account_id)``) by service verb."""
SEVERITY_INPUT = ("pref_severity", "severity")
QUIET_INPUT = ("pref_quiet", "quiet")
TIME_INPUT = ("pref_time", "time")

SEVERITY_LABELS = {"critical": "Critical alerts only", "warning": "Warnings and critical alerts"}
"""The choices of the lowest severity that may DM a person, as the modal names them."""
DAY_LABELS = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
              "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}
"""Quiet-day values (``pulse.services.preferences.WEEKDAYS``) and their names."""

LIST_MAX = 10
"""The most muted or followed accounts the modal lists by name (the rest are counted)."""


@dataclass(frozen=True)
class SettingsView:
    """What the modal shows: the person's settings, the workspace's defaults, and the
    accounts they muted (name, last day) or follow (name)."""

    min_severity: str | None
    default_severity: str
    quiet_days: Sequence[str]
    digest_time: str | None
    default_time: str
    timezone: str
    muted: Sequence[tuple[str, date]] = ()
    followed: Sequence[str] = ()


def _input(block_id: str, label: str, element: dict[str, Any], optional: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": block_id,
                             "label": plain(label, MAX_INPUT_LABEL), "element": element}
    if optional:
        block["optional"] = True
    return block


def _accounts_line(view: SettingsView) -> str:
    def listed(names: Sequence[str]) -> str:
        """Already escaped names, at most :data:`LIST_MAX`, the rest counted."""
        more = len(names) - LIST_MAX
        return ", ".join(names[:LIST_MAX]) + (f" and {more} more" if more > 0 else "")

    muted = [f"{esc(name, 80)} (until {until:%b %d})" for name, until in view.muted]
    followed = [esc(name, 80) for name in view.followed]
    return "\n".join([
        f"*Muted:* {listed(muted) if muted else 'none'}",
        f"*Following:* {listed(followed) if followed else 'none'}",
    ])


def settings_modal(view: SettingsView) -> dict[str, Any]:
    """The settings modal: lowest DM severity, quiet days, digest time, and the accounts
    muted and followed (changed from the health card or ``/health mute|follow NAME``)."""
    severity = view.min_severity or view.default_severity
    severities = [option(label, value) for value, label in SEVERITY_LABELS.items()]
    select = static_select("Choose", SEVERITY_INPUT[1], severities)
    select["initial_option"] = next(o for o in severities if o["value"] == severity)
    days = [option(label, value) for value, label in DAY_LABELS.items()]
    quiet: dict[str, Any] = {"type": "checkboxes", "action_id": QUIET_INPUT[1], "options": days}
    chosen = [o for o in days if o["value"] in set(view.quiet_days)]
    if chosen:
        quiet["initial_options"] = chosen
    time = {"type": "timepicker", "action_id": TIME_INPUT[1],
            "initial_time": view.digest_time or view.default_time,
            "placeholder": plain("Digest time", MAX_PLACEHOLDER)}
    blocks = [
        _input(SEVERITY_INPUT[0], "Alerts that may DM me", select, False),
        _input(QUIET_INPUT[0], "Quiet days (no digest)", quiet, True),
        _input(TIME_INPUT[0], f"Digest time ({view.timezone})", time, True),
        context(f"Your digest comes with the morning run ({esc(view.default_time, 5)}), or a "
                "few minutes after your own time if that is later."),
        section(_accounts_line(view)),
        context("Mute or follow an account from its `/health NAME` card, or with "
                "`/health mute NAME` (7 days), `/health follow NAME`, `/health unmute NAME`, "
                "`/health unfollow NAME`."),
    ]
    return modal_view("Your Pulse settings", SETTINGS_VIEW, "", blocks)


def settings_values(view: dict[str, Any]) -> tuple[str | None, list[str], str | None]:
    """(min severity, quiet days, digest time) from a view_submission's ``state.values``."""
    values = (view.get("state") or {}).get("values") or {}

    def answer(ids: tuple[str, str]) -> dict[str, Any]:
        return (values.get(ids[0]) or {}).get(ids[1]) or {}

    severity = (answer(SEVERITY_INPUT).get("selected_option") or {}).get("value")
    days = [str(o.get("value")) for o in answer(QUIET_INPUT).get("selected_options") or []]
    return severity, days, answer(TIME_INPUT).get("selected_time")


def settings_saved(changed: Sequence[str]) -> str:
    """The DM confirming a save."""
    if not changed:
        return "Your Pulse settings are unchanged."
    names = {"min_severity": "alerts that may DM you", "quiet_days": "quiet days",
             "digest_time": "digest time"}
    return "Saved your Pulse settings: " + ", ".join(names.get(c, c) for c in changed) + "."


def health_card_with_preferences(card: HealthCard, *, muted: bool, following: bool
                                 ) -> dict[str, Any]:
    """`/health NAME` for a person: the health card plus "Mute 7 days" (or "Unmute") and
    "Follow" (or "Unfollow") for its account, in the card's button row when it has one."""
    payload = health_card(card)
    account_id = card.account.account_id
    buttons = [
        button("Unmute" if muted else "Mute 7 days",
               ACCOUNT_ACTIONS["unmute" if muted else "mute"], value=str(account_id)),
        button("Unfollow" if following else "Follow",
               ACCOUNT_ACTIONS["unfollow" if following else "follow"], value=str(account_id)),
    ]
    blocks: list[dict[str, Any]] = payload["blocks"]
    row = next((b for b in blocks if b.get("block_id") == f"health_card_{account_id}"), None)
    if row is not None and len(row["elements"]) + len(buttons) <= MAX_ACTIONS_ELEMENTS:
        row["elements"].extend(buttons)
    elif len(blocks) < MAX_BLOCKS_MESSAGE:
        blocks.insert(len(blocks) - 1, actions(buttons, block_id=f"preferences_{account_id}"))
    return payload
