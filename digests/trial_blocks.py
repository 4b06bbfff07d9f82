"""Trial extensions in Slack: the CSM's reply, the manager's approval DM, the decision.

Pure builders over the small views below, so the policy's every branch renders (and
passes the Block Kit limits) without Slack or a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from digests.blocks import actions, button, context, header, message, section
from digests.text import day_text, esc, user_mention

APPROVE = "trial_approve"
DECLINE = "trial_decline"

ReplyKind = Literal[
    "extended",  # the trial end moved (steps 1 and 2, or an approved exception)
    "needs_justification",  # step 2 or later asked without a written reason
    "approval_requested",  # step 3+: the manager was asked in a DM
    "pending",  # a request is already waiting for the manager
    "not_possible",  # not a running Stripe trial, ambiguous name, no approver...
    "failed",  # Stripe refused or failed
]


@dataclass(frozen=True)
class ExtensionLine:
    """One earlier step of the trial's extension history."""

    step: int
    days: int
    status: str  # granted | pending | declined | failed
    requested_by: str  # Slack user id
    at: date
    justification: str | None = None
    decided_by: str | None = None


@dataclass(frozen=True)
class TrialReply:
    """What the CSM who typed ``/health extend-trial`` is told."""

    kind: ReplyKind
    account_name: str
    detail: str = ""
    step: int | None = None
    days: int | None = None
    previous_end: date | None = None
    new_end: date | None = None
    approver: str | None = None  # Slack user id


@dataclass(frozen=True)
class ApprovalRequest:
    """The manager's DM: who asks for how long, why, and the trial's history."""

    extension_id: int
    account_name: str
    owner_name: str | None
    requested_by: str
    justification: str
    step: int
    days: int
    trial_end: date | None
    history: list[ExtensionLine] = field(default_factory=list)
    decision: Literal["approved", "declined", "failed"] | None = None
    decided_by: str | None = None
    new_end: date | None = None
    error: str | None = None


def _day(d: date | None) -> str:
    return day_text(d) if d else "unknown"


POLICY = (
    "Policy: the first 7-day extension is automatic, a second 14-day one needs a CSM's "
    "written reason, anything beyond needs a manager's approval. Extensions move the end "
    "date only; what the trial includes does not change."
)


def trial_reply(r: TrialReply) -> dict[str, Any]:
    """The ephemeral answer to ``/health extend-trial``."""
    name = esc(r.account_name, 200)
    if r.kind == "extended":
        text = (
            f":hourglass_flowing_sand: Trial of *{name}* extended by {r.days} days "
            f"(extension {r.step}): it now ends *{_day(r.new_end)}* (was {_day(r.previous_end)})."
        )
    elif r.kind == "needs_justification":
        text = (
            f"Extension {r.step} of *{name}*'s trial ({r.days} days) needs a written reason: "
            f'`/health extend-trial {esc(r.account_name, 80)} "why the customer needs it"`'
        )
    elif r.kind == "approval_requested":
        text = (
            f"Extension {r.step} of *{name}*'s trial needs a manager's approval: "
            f"{user_mention(r.approver)} has been asked for {r.days} more days. You'll get a "
            "DM with the decision."
        )
    elif r.kind == "pending":
        text = (
            f"Extension {r.step} of *{name}*'s trial is already waiting for "
            f"{user_mention(r.approver)}'s decision; nothing new was asked."
        )
    elif r.kind == "failed":
        text = f":warning: The trial of *{name}* was not extended: {esc(r.detail, 1500)}"
    else:
        text = f"The trial of *{name}* cannot be extended: {esc(r.detail, 1500)}"
    return message([section(text), context(POLICY)], _plain(text))


def _plain(text: str) -> str:
    return text.replace("*", "").replace("`", "")


def _history_lines(history: list[ExtensionLine]) -> list[str]:
    lines = []
    for h in history:
        why = f': "{esc(h.justification, 300)}"' if h.justification else ""
        decided = f", decided by {user_mention(h.decided_by)}" if h.decided_by else ""
        lines.append(
            f"• Extension {h.step}: {h.days} days, {esc(h.status, 20)}, asked by "
            f"{user_mention(h.requested_by)} on {_day(h.at)}{why}{decided}"
        )
    return lines or ["• No earlier extension."]


def approval_request(r: ApprovalRequest) -> dict[str, Any]:
    """The manager's DM, with Approve / Decline until decided, and the outcome after."""
    name = esc(r.account_name, 200)
    owner = f" (owner {esc(r.owner_name, 100)})" if r.owner_name else ""
    blocks: list[dict[str, Any]] = [
        header("Trial extension needs your approval"),
        section(
            f"{user_mention(r.requested_by)} asks for *{r.days} more days* on the trial of "
            f"*{name}*{owner}: extension {r.step}, beyond what a CSM may grant.\n"
            f"Trial ends {_day(r.trial_end)}.\n"
            f'Reason: "{esc(r.justification, 1200)}"'
        ),
        section("*History*\n" + "\n".join(_history_lines(r.history))),
    ]
    if r.decision is None:
        value = str(r.extension_id)
        blocks.append(
            actions(
                [
                    button("Approve", APPROVE, value=value, style="primary"),
                    button("Decline", DECLINE, value=value, style="danger"),
                ],
                block_id=f"trial_ext_{r.extension_id}",
            )
        )
        text = (
            f"Trial extension for {name}: {r.days} more days asked by "
            f"{user_mention(r.requested_by)}; approve or decline."
        )
    else:
        if r.decision == "approved":
            outcome = (
                f":white_check_mark: Approved by {user_mention(r.decided_by)}: the trial now ends "
                f"*{_day(r.new_end)}*."
            )
        elif r.decision == "declined":
            outcome = (f":no_entry_sign: Declined by {user_mention(r.decided_by)}; the trial end "
                       "is unchanged.")
        else:
            outcome = (
                f":warning: Approved by {user_mention(r.decided_by)}, but Stripe refused the "
                f"change: {esc(r.error or '', 800)}"
            )
        blocks.append(section(outcome))
        text = f"Trial extension for {name}: {_plain(outcome)}"
    blocks.append(context(POLICY))
    return message(blocks, _plain(text))


def decision_notice(r: ApprovalRequest) -> dict[str, Any]:
    """The requester's DM once the manager decided."""
    name = esc(r.account_name, 200)
    if r.decision == "approved":
        text = (
            f":white_check_mark: {user_mention(r.decided_by)} approved extension {r.step} of "
            f"*{name}*'s trial: {r.days} more days, it now ends *{_day(r.new_end)}*."
        )
    elif r.decision == "declined":
        text = (
            f":no_entry_sign: {user_mention(r.decided_by)} declined extension {r.step} of "
            f"*{name}*'s trial; its end date is unchanged."
        )
    else:
        text = (
            f":warning: {user_mention(r.decided_by)} approved extension {r.step} of *{name}*'s "
            f"trial but Stripe refused the change: {esc(r.error or '', 800)}"
        )
    return message([section(text)], _plain(text))


def not_the_approver(approver: str | None) -> dict[str, Any]:
    """The ephemeral answer to anyone but the asked manager clicking Approve or Decline."""
    who = user_mention(approver) if approver else "the manager this request was sent to"
    text = f"Only {who} can decide this request."
    return message([section(text)], text)
