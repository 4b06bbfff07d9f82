"""The alert card posted to an account's owner, and the modal behind "Add a reason".

The card shows what happened, what to do and where the alert stands; its buttons follow
that state, and the bot re-renders the card with :func:`alert_card` after each action.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from digests.blocks import (
    Block,
    actions,
    button,
    context,
    fields_section,
    header,
    message,
    modal,
    option,
    section,
    static_select,
    text_input,
)
from digests.note_blocks import note_button
from digests.rows import SEVERITY_EMOJI, crm_button, renewal_text, tier_badge, tier_plain
from digests.text import as_utc, clip_raw, esc, escape, slack_time, user_mention, utc_text
from digests.views import AlertItem
from digests.wording import money, plural, signed
from pulse.kernel.snoozes import SNOOZE_LABELS
from pulse.kernel.tiers import tier_label

SNOOZE_CHOICES: tuple[tuple[str, str], ...] = tuple(SNOOZE_LABELS.items())
"""(code, label) of each snooze (:mod:`pulse.kernel.snoozes`): ``alert_snooze`` values are
``<alert_id>:<code>``."""
REASON_ACTION = "alert_reason"
REASON_VIEW = "alert_reason_view"
REASON_INPUT = ("reason_block", "reason_input")


def _state_line(alert: AlertItem, now: datetime) -> tuple[str, str]:
    """(mrkdwn, plain) description of where the alert stands."""
    if alert.status == "acknowledged":
        who = user_mention(alert.acknowledged_by)
        when = alert.acknowledged_at
        md = f":white_check_mark: Acknowledged by {who}" + (
            f" at {slack_time(when)}" if when else ""
        )
        return md, f"Acknowledged by {who}" + (f" at {utc_text(when)}" if when else "")
    if alert.status == "snoozed":
        who = user_mention(alert.snoozed_by)
        until = alert.snoozed_until
        md = f":zzz: Snoozed by {who}" + (f" until {slack_time(until)}" if until else "")
        plain = f"Snoozed by {who}" + (f" until {utc_text(until)}" if until else "")
        if until is not None and as_utc(until) <= as_utc(now):
            md += " (snooze has ended)"
            plain += " (snooze has ended)"
        return md, plain
    if alert.status == "resolved":
        when = alert.resolved_at
        md = ":heavy_check_mark: Resolved" + (f" {slack_time(when)}" if when else "")
        return md, "Resolved" + (f" {utc_text(when)}" if when else "")
    age = as_utc(now) - as_utc(alert.opened_at)
    days = max(0, age.days)
    ago = "today" if days == 0 else f"{plural(days, 'day')} ago"
    return (
        f":red_circle: Open since {slack_time(alert.opened_at)} ({ago})",
        f"Open since {utc_text(alert.opened_at)}",
    )


def _score_text(score: float, prev_score: float | None) -> str:
    """``49.2/100 (-9.5 since the last scoring)``; ``(first scoring)`` without one."""
    if prev_score is None:
        return f"{score:.1f}/100 (first scoring)"
    return f"{score:.1f}/100 ({signed(round(score - prev_score, 1))} since the last scoring)"


def _tier_text(alert: AlertItem) -> str:
    """``:red_circle: At risk (was Fine)``, or the badge alone when it did not change."""
    badge = tier_badge(alert.tier)
    if alert.prev_tier and alert.prev_tier != alert.tier:
        badge += f" (was {tier_label(alert.prev_tier)})"
    return badge


def _standing_blocks(alert: AlertItem) -> list[Block]:
    """Score and tier with their change, ARR, renewal; the parts of the score that lost
    the most points; how fresh the data behind them is and where the account stands
    among its peers. Nothing for an account not scored yet."""
    if alert.score is None:
        return []
    blocks: list[Block] = [
        fields_section(
            [
                f"*Health score*\n{_score_text(alert.score, alert.prev_score)}",
                f"*Tier*\n{_tier_text(alert)}",
                f"*ARR*\n{money(alert.arr)}",
                f"*Renewal*\n{renewal_text(alert.renewal_date, alert.days_to_renewal)}",
            ]
        )
    ]
    if alert.reasons:
        lines = [
            f"• *{esc(p.label, 60)}* {p.points:.1f} of {p.most:.1f} pts: {esc(p.detail, 300)}"
            for p in alert.reasons
        ]
        blocks.append(section("*Where the score loses points*\n" + "\n".join(lines)))
    notes = []
    if alert.data_as_of is not None:
        notes.append(f"Data as of {slack_time(alert.data_as_of)}")
    if alert.stale:
        notes.append(f":warning: stale: {esc('; '.join(alert.stale), 300)}")
    if alert.peer_note:
        notes.append(f"Peers: {esc(alert.peer_note, 200)}")
    if notes:
        blocks.append(context(" · ".join(notes)))
    return blocks


def _standing_plain(alert: AlertItem) -> str:
    """The fallback's version of :func:`_standing_blocks`."""
    if alert.score is None:
        return ""
    return (
        f" Health {alert.score:.1f}/100, {tier_plain(alert.tier)}; ARR {money(alert.arr)}; "
        f"renews {renewal_text(alert.renewal_date, alert.days_to_renewal)}."
    )


def reason_modal(alert: AlertItem, private_metadata: str) -> dict[str, Any]:
    """The modal behind "Add a reason": one optional-looking but required text input.

    ``private_metadata`` carries the alert id and where its card is, so the submission
    can update that card (a view_submission payload has no message).
    """
    verb = "acknowledged" if alert.status == "acknowledged" else "snoozed"
    return modal(
        "Why this alert waits",
        REASON_VIEW,
        private_metadata,
        [
            section(
                f"*{esc(alert.label, 100)}* on *{esc(alert.account_name, 150)}*, {verb}. "
                "Your reason is shown on the card and kept in the audit log."
            ),
            text_input(*REASON_INPUT, "Reason", initial=alert.quiet_reason),
        ],
    )


def handling_buttons(alert: AlertItem) -> list[dict[str, Any]]:
    """What can be done with the alert itself, on its card and on its line of a bundled
    message: open -> Acknowledge and Snooze; acknowledged or snoozed -> Add (or Edit) a
    reason; resolved -> none."""
    elements: list[dict[str, Any]] = []
    if alert.status == "open":
        elements.append(button("Acknowledge", "alert_ack", value=str(alert.id), style="primary"))
        elements.append(
            static_select(
                "Snooze…",
                "alert_snooze",
                [option(label, f"{alert.id}:{code}") for code, label in SNOOZE_CHOICES],
            )
        )
    if alert.status in ("acknowledged", "snoozed"):
        elements.append(
            button(
                "Edit reason" if alert.quiet_reason else "Add a reason",
                REASON_ACTION,
                value=str(alert.id),
            )
        )
    return elements


def _alert_buttons(alert: AlertItem) -> list[dict[str, Any]]:
    """:func:`handling_buttons`, then Open in CRM and Log a note unless resolved (only when
    the account is in a CRM: it has a link)."""
    elements = handling_buttons(alert)
    if alert.status != "resolved":
        crm = crm_button(alert.crm_url)
        if crm:
            elements.append(crm)
            elements.append(note_button(alert.account_id))
    return elements


def alert_card(alert: AlertItem, now: datetime) -> dict[str, Any]:
    """An alert as posted to the owner: what happened, where the account stands (score
    and tier with their change, ARR, renewal, the parts of the score that lost the most
    points, data freshness, peer standing), what to do, and where the alert stands.

    Buttons follow the state so a stale card cannot act twice: open -> Acknowledge,
    Snooze, Open in CRM and Log a note; acknowledged or snoozed -> Add a reason, Open in
    CRM and Log a note; resolved -> none. A reopened-early alert says why; a quiet one
    shows its reason. The bot re-renders the card with this function after each action.
    """
    sev = alert.severity if alert.severity in SEVERITY_EMOJI else "warning"
    blocks: list[Block] = [
        header(
            f"{SEVERITY_EMOJI[sev]} {sev.capitalize()} alert: {clip_raw(alert.account_name, 100)}"
        ),
        section(f"*{esc(alert.label, 100)}*\n{esc(alert.message, 1500)}"),
        *_standing_blocks(alert),
    ]
    if alert.action:
        blocks.append(section(f"*Recommended action:* {esc(alert.action, 1000)}"))
    state_md, state_plain = _state_line(alert, now)
    owner = f" · owner {user_mention(alert.owner_slack_id)}" if alert.owner_slack_id else ""
    if alert.reopen_reason:
        blocks.append(
            section(f":rotating_light: *Reopened early:* {esc(alert.reopen_reason, 1000)}")
        )
        state_plain += f". Reopened early: {esc(alert.reopen_reason, 300)}"
    if alert.quiet_reason:
        state_md += f' — "{esc(alert.quiet_reason, 500)}"'
        state_plain += f' ("{esc(alert.quiet_reason, 300)}")'
    blocks.append(context(state_md + owner))
    elements = _alert_buttons(alert)
    if elements:
        blocks.append(actions(elements, block_id=f"alert_{alert.id}"))

    what = clip_raw(alert.message, 400).rstrip(". ")
    text = (
        f"{sev.capitalize()} alert for {escape(clip_raw(alert.account_name, 80))}: "
        f"{escape(clip_raw(alert.label, 80))}. {escape(what)}.{_standing_plain(alert)} "
        f"{state_plain}."
    )
    if alert.action and alert.status == "open":
        text += f" Recommended: {escape(clip_raw(alert.action, 300))}"
    return message(blocks, text)
