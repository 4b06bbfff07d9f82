"""Replies to `/health`: the health card, pick lists, refusal, help, lists, alert cards.

Pure functions from :mod:`digests.views` models to message payloads
(``{"blocks": [...], "text": "..."}``); the bot decides where to post them (ephemeral for
`/health`, a channel or DM for alerts).

Interaction contract (what the bot must handle):

========================  ==============================  ===============================
action_id                 value                           meaning
========================  ==============================  ===============================
``health_pick``           ``str(account_id)``             show that account's health card
``alert_ack``             ``str(alert_id)``               acknowledge one alert
``alert_ack_all``         ``"12,15,19"`` (alert ids)      acknowledge every listed alert
``alert_snooze``          ``"<alert_id>:1d|7d|30d|renewal"``  (static_select, read
                                                          ``selected_option.value``)
``open_crm``              none (URL button)               only ack; Slack opens the URL
========================  ==============================  ===============================
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from digests.blocks import (
    ELLIPSIS,
    SEVERITY_EMOJI,
    account_name,
    account_plain,
    account_row,
    actions,
    alerts_text,
    button,
    clip_raw,
    context,
    crm_button,
    details_button,
    esc,
    escape,
    fields_section,
    header,
    message,
    modal,
    more_text,
    option,
    pack_lines,
    renewal_text,
    section,
    slack_time,
    sparkline,
    static_select,
    take,
    text_input,
    tier_badge,
    tier_plain,
    user_mention,
    utc_text,
)
from digests.limits import MAX_BLOCKS_MESSAGE, MAX_BUTTON_VALUE
from digests.views import AccountLine, AlertItem, HealthCard, PickList
from digests.wording import money, plural, signed
from scoring.peers import peer_phrase

MAX_REASONS = 5
MAX_CHANGE_LINES = 6
MAX_FLAGS = 6
MAX_ALERTS_LISTED = 8
MAX_CANDIDATES = 10
SNOOZE_CHOICES: tuple[tuple[str, str], ...] = (
    ("1d", "1 day"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("renewal", "Until renewal"),
)
REFUSAL_TEXT = "I can't show that account. Ask your CS manager if you think you should see it."


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if v != v else v  # NaN check without numpy


# ---------------------------------------------------------------------------------------
# Health card


def component_line(c: dict[str, Any]) -> str:
    """One component with its points and where they came from.

    A component without data earns nothing and its weight is shared among the others;
    the line says so in words, because a silently renormalised score is exactly the kind
    of number a CSM cannot defend in front of a customer.
    """
    label = esc(c.get("label") or c.get("key") or "component", 60)
    detail = str(c.get("detail") or "").strip()
    points = _num(c.get("points")) or 0.0
    weight = _num(c.get("weight"))
    if not c.get("has_data"):
        if not detail:
            detail = "no data"
        if "renormalised" not in detail:
            detail += ": weight renormalised"
        base = f" ({weight:.0%} weight shared among the rest)" if weight else ""
        return f"• *{label}* — no data, 0.0 pts{base}: {esc(detail, 400)}"
    eff = _num(c.get("effective_weight"))
    value = _num(c.get("value"))
    bits = []
    if eff is not None:
        bits.append(f"{eff:.0%} weight")
    if value is not None:
        bits.append(f"{value:.0%} of marks")
    how = f" ({', '.join(bits)})" if bits else ""
    note = ""
    if "on file" in detail and "renormalised" not in detail:
        note = " _(what is not on file is left out; the rest renormalised)_"
    if c.get("stale"):
        note += f" _(stale: {esc('; '.join(c['stale']), 200)})_"
    raw = c.get("raw") or {}
    peers = peer_phrase(_num(raw.get("peer_pct")), raw.get("peer_group"))
    if peers:
        note += f": {esc(peers, 200)}"
    return f"• *{label}* *{points:.1f} pts*{how}: {esc(detail, 400)}{note}"


def _trend_text(trend: Sequence[tuple[Any, float]]) -> str:
    points = sorted(trend, key=lambda t: t[0])
    if not points:
        return "*30-day trend:* no history yet"
    if len(points) == 1:
        return f"*30-day trend:* one snapshot so far ({points[0][1]:.1f} on {points[0][0]})"
    first, last = points[0][1], points[-1][1]
    spark = sparkline([p[1] for p in points])
    return (
        f"*30-day trend:* `{spark}` {first:.1f} → {last:.1f} ({last - first:+.1f}) "
        f"over {plural(len(points), 'snapshot')} since {points[0][0]}"
    )


def _open_alerts(alerts: Sequence[AlertItem]) -> list[AlertItem]:
    return [a for a in alerts if a.status == "open"]


def _ack_all_value(alerts: Sequence[AlertItem]) -> tuple[str, int]:
    """Comma-separated ids that fit in a button value, and how many that is."""
    ids: list[str] = []
    for a in alerts:
        candidate = ",".join([*ids, str(a.id)])
        if len(candidate) > MAX_BUTTON_VALUE:
            break
        ids.append(str(a.id))
    return ",".join(ids), len(ids)


def health_card(card: HealthCard) -> dict[str, Any]:
    """`/health NAME`: score, tier, trend, why, where each point came from, what changed,
    the facts a CSM needs on a call, and the buttons that apply to this viewer."""
    a = card.account
    blocks: list[dict[str, Any]] = [
        header(f"{clip_raw(a.name, 100)} — health {a.score:.1f}"),
    ]
    segment = " · ".join(escape(x) for x in (card.account_tier, card.lifecycle) if x) or "—"
    open_alerts = _open_alerts(card.alerts)
    blocks.append(
        fields_section(
            [
                f"*Score*\n{a.score:.1f} ({signed(a.change)} since last snapshot)",
                f"*Tier*\n{tier_badge(a.health_tier)}",
                f"*ARR*\n{money(a.arr)}",
                f"*Renewal*\n{renewal_text(a.renewal_date, a.days_to_renewal)}",
                f"*Owner*\n{esc(a.owner_name or 'unassigned')}",
                f"*Open alerts*\n{len(open_alerts)}",
                f"*Segment*\n{segment}",
                f"*Renewal risk · expansion*\n{escape(a.renewal_risk or '—')} · "
                f"{a.expansion_score:.0f}",
            ],
            text=f"{account_name(a)} · scored as of {card.as_of.isoformat()}",
        )
    )
    blocks.append(section(_trend_text(card.trend)))
    if card.stale:
        blocks.append(
            context(
                ":hourglass: Stale: "
                + esc("; ".join(card.stale), 1500)
                + ". Parts of this score rest on old data."
            )
        )
    if card.csm_entry:
        # In force now, even before the next scoring run counts it.
        blocks.append(section(f":speech_balloon: {card.csm_entry}"))

    if card.reasons:
        reasons = [f"• {esc(r, 400)}" for r in card.reasons[:MAX_REASONS]]
        blocks.append(section("*Why*\n" + "\n".join(reasons)))

    comp_lines = [component_line(c) for c in card.components]
    if comp_lines:
        total = sum(_num(c.get("points")) or 0.0 for c in card.components)
        if abs(total - a.score) < 0.05:
            comp_lines.append(f"*Total {total:.1f} pts = score {a.score:.1f}*")
        else:
            comp_lines.append(f"*Total {total:.1f} pts* (score {a.score:.1f})")
        chunks = pack_lines(["*Where the score comes from*", *comp_lines])
        blocks.extend(section(chunk) for chunk in chunks[:4])

    if card.change_lines:
        lines = [
            f"• {esc(line, 500).replace(' -&gt; ', ' → ')}"
            for line in card.change_lines[:MAX_CHANGE_LINES]
        ]
        if len(card.change_lines) > MAX_CHANGE_LINES:
            lines.append(f"{ELLIPSIS}and {len(card.change_lines) - MAX_CHANGE_LINES} more")
        blocks.append(section("*Change since last snapshot*\n" + "\n".join(lines)))
    else:
        blocks.append(
            section("*Change since last snapshot*\nFirst snapshot: nothing to compare with yet.")
        )

    if card.flags:
        lines = []
        for f in card.flags[:MAX_FLAGS]:
            sev = str(f.get("severity") or "warning")
            label = esc(f.get("label") or f.get("code") or "flag", 80)
            lines.append(
                f"{SEVERITY_EMOJI.get(sev, ':warning:')} *{label}* "
                f"({escape(sev)}): {esc(f.get('detail') or '', 300)}"
                + (f"\n    → {esc(f['action'], 300)}" if f.get("action") else "")
            )
        if len(card.flags) > MAX_FLAGS:
            lines.append(f"{ELLIPSIS}and {len(card.flags) - MAX_FLAGS} more")
        blocks.append(section("*Flags*\n" + "\n".join(lines)))

    if open_alerts:
        lines = [
            f"{SEVERITY_EMOJI.get(al.severity, ':warning:')} *{esc(al.label, 80)}* "
            f"({escape(al.severity)}), open since {slack_time(al.opened_at)}: "
            f"{esc(al.message, 300)}"
            for al in open_alerts[:MAX_ALERTS_LISTED]
        ]
        if len(open_alerts) > MAX_ALERTS_LISTED:
            lines.append(f"{ELLIPSIS}and {len(open_alerts) - MAX_ALERTS_LISTED} more")
        blocks.append(section("*Open alerts*\n" + "\n".join(lines)))

    buttons: list[dict[str, Any]] = []
    crm = crm_button(a.crm_url)
    if crm:
        buttons.append(crm)
    if card.can_act and open_alerts:
        if len(open_alerts) == 1:
            buttons.append(
                button("Acknowledge", "alert_ack", value=str(open_alerts[0].id), style="primary")
            )
        else:
            value, n = _ack_all_value(open_alerts)
            label = "Acknowledge all" if n == len(open_alerts) else f"Acknowledge {n}"
            buttons.append(button(label, "alert_ack_all", value=value, style="primary"))
    if card.can_act:
        buttons.append(button("CSM sentiment", "override_open", value=str(a.account_id)))
    if buttons:
        blocks.append(actions(buttons, block_id=f"health_card_{a.account_id}"))
    blocks.append(context(f"Pulse · as of {card.as_of.isoformat()} · `/health help` for more"))

    trend = sorted(card.trend, key=lambda t: t[0])
    trend_text = f" 30-day trend {trend[0][1]:.1f} → {trend[-1][1]:.1f}." if len(trend) > 1 else ""
    text = (
        f"{escape(clip_raw(a.name, 80))}: health {a.score:.1f}, {tier_plain(a.health_tier)}, "
        f"{signed(a.change)} since last snapshot.{trend_text} ARR {money(a.arr)}, renews "
        f"{renewal_text(a.renewal_date, a.days_to_renewal)}, {alerts_text(len(open_alerts))}."
    )
    return message(blocks[:MAX_BLOCKS_MESSAGE], text)


# ---------------------------------------------------------------------------------------
# Pick list, refusal, help


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


# ---------------------------------------------------------------------------------------
# Alert card


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
        if until is not None and _aware(until) <= _aware(now):
            md += " (snooze has ended)"
            plain += " (snooze has ended)"
        return md, plain
    if alert.status == "resolved":
        when = alert.resolved_at
        md = ":heavy_check_mark: Resolved" + (f" {slack_time(when)}" if when else "")
        return md, "Resolved" + (f" {utc_text(when)}" if when else "")
    age = _aware(now) - _aware(alert.opened_at)
    days = max(0, age.days)
    ago = "today" if days == 0 else f"{plural(days, 'day')} ago"
    return (
        f":red_circle: Open since {slack_time(alert.opened_at)} ({ago})",
        f"Open since {utc_text(alert.opened_at)}",
    )


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


REASON_ACTION = "alert_reason"
REASON_VIEW = "alert_reason_view"
REASON_INPUT = ("reason_block", "reason_input")


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


def alert_card(alert: AlertItem, now: datetime) -> dict[str, Any]:
    """An alert as posted to the owner: what happened, what to do, where it stands.

    Buttons follow the state so a stale card cannot act twice: open -> Acknowledge,
    Snooze and Open in CRM; acknowledged or snoozed -> Add a reason and Open in CRM;
    resolved -> none. A reopened-early alert says why; a quiet one shows its reason.
    The bot re-renders the card with this function after each action.
    """
    sev = alert.severity if alert.severity in SEVERITY_EMOJI else "warning"
    blocks: list[dict[str, Any]] = [
        header(
            f"{SEVERITY_EMOJI[sev]} {sev.capitalize()} alert: {clip_raw(alert.account_name, 100)}"
        ),
        section(f"*{esc(alert.label, 100)}*\n{esc(alert.message, 1500)}"),
    ]
    if alert.action:
        blocks.append(section(f"*Recommended action:* {esc(alert.action, 1000)}"))
    state_md, state_plain = _state_line(alert, now)
    owner = f" · owner {user_mention(alert.owner_slack_id)}" if alert.owner_slack_id else ""
    if alert.reopen_reason:
        blocks.append(
            section(f":rotating_light: *Reopened early:* {esc(alert.reopen_reason, 1000)}")
        )
        state_plain += f". Reopened early: {clip_raw(alert.reopen_reason, 300)}"
    if alert.quiet_reason:
        state_md += f' — "{esc(alert.quiet_reason, 500)}"'
        state_plain += f' ("{clip_raw(alert.quiet_reason, 300)}")'
    blocks.append(context(state_md + owner))

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
    if alert.status != "resolved":
        crm = crm_button(alert.crm_url)
        if crm:
            elements.append(crm)
    if elements:
        blocks.append(actions(elements, block_id=f"alert_{alert.id}"))

    what = clip_raw(alert.message, 400).rstrip(". ")
    text = (
        f"{sev.capitalize()} alert for {escape(clip_raw(alert.account_name, 80))}: "
        f"{escape(clip_raw(alert.label, 80))}. {escape(what)}. {state_plain}."
    )
    if alert.action and alert.status == "open":
        text += f" Recommended: {escape(clip_raw(alert.action, 300))}"
    return message(blocks, text)


__all__ = [
    "REFUSAL_TEXT",
    "SNOOZE_CHOICES",
    "account_list",
    "alert_card",
    "reason_modal",
    "component_line",
    "health_card",
    "help_message",
    "pick_list",
    "refusal",
]
