"""Log a note from Slack: the cards' "Log a note" button, its modal and the reply.

The note goes to the account's CRM (a completed Salesforce Task, or a HubSpot note on the
company's timeline) and to Pulse's audit log; :mod:`pulse.services.notes` does that, the
bot opens the modal and sends the reply. Pure builders.

Interaction contract: ``note_open`` (value ``str(account_id)``) opens the modal; its
``callback_id`` is ``note_view``, its ``private_metadata`` the account id, its text in
``state.values[NOTE_INPUT[0]][NOTE_INPUT[1]].value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from digests.blocks import button, context, message, modal, plain, section, text_input
from digests.limits import MAX_MODAL_TITLE, MAX_PLAIN_TEXT_INPUT
from digests.text import esc, safe_url

NOTE_ACTION = "note_open"
NOTE_VIEW = "note_view"
NOTE_INPUT = ("note_block", "note_input")
NOTE_MAX_CHARS = MAX_PLAIN_TEXT_INPUT
"""The longest note the modal takes: Slack's own maximum for a text input."""
CRM_LABELS = {"salesforce": "Salesforce", "hubspot": "HubSpot"}
CRM_RECORD = {"salesforce": "a completed Task", "hubspot": "a note on the company"}
"""What a note becomes in each CRM, as the modal and the reply say it."""


@dataclass(frozen=True)
class NoteReply:
    """What became of a note: logged in the CRM, or not (and why)."""

    kind: Literal["logged", "failed"]
    account_name: str
    system: str  # salesforce | hubspot
    note: str
    crm_url: str | None = None
    detail: str = ""


def note_button(account_id: int) -> dict[str, Any]:
    """The cards' "Log a note" button."""
    return button("Log a note", NOTE_ACTION, value=str(account_id))


def note_modal(account_name: str, account_id: int, system: str) -> dict[str, Any]:
    """The modal: which account and CRM, and one multiline text input."""
    crm = CRM_LABELS.get(system, system)
    view = modal(
        "Log a note",
        NOTE_VIEW,
        str(account_id),
        [
            section(
                f"*{esc(account_name, 200)}*\nThe note is logged in {esc(crm, 40)} as "
                f"{CRM_RECORD.get(system, 'a note')} on the account, under your name, "
                "and in Pulse's audit log."
            ),
            text_input(*NOTE_INPUT, "Note", max_length=NOTE_MAX_CHARS),
        ],
    )
    view["submit"] = plain("Log note", MAX_MODAL_TITLE)
    return view


def note_reply(reply: NoteReply) -> dict[str, Any]:
    """The confirmation (or the failure, with the note so nothing typed is lost)."""
    name = esc(reply.account_name, 200)
    crm = CRM_LABELS.get(reply.system, reply.system)
    quoted = esc(reply.note, 2500)
    if reply.kind == "logged":
        url = safe_url(reply.crm_url)
        where = f"<{url}|{crm}>" if url else crm
        text = f":memo: Note logged on *{name}* in {where}:\n{quoted}"
        blocks = [section(text)]
        return message(blocks, f"Note logged on {name} in {crm}.")
    text = (
        f":warning: Your note on *{name}* could not be logged in {crm}: "
        f"{esc(reply.detail, 500)}\nYour note, to log again or by hand:\n{quoted}"
    )
    blocks = [section(text), context("It is kept in Pulse's audit log.")]
    return message(blocks, f"Your note on {name} could not be logged in {crm}.")
