"""The CSM's morning DM and the manager's (or a channel's) portfolio digest.

Same figures and wording as the terminal demo (``pulse.cli.terminal``): the attention list
with its "why", expansion candidates, health distribution and its change, at-risk ARR,
biggest movers and renewals in the window by risk. Lists are cut at ``limit`` (and to
what fits in one message) and always say how many were left out and where to find them.

Each attention/expansion row carries a "Details" button (``health_pick``, value = the
account id), the same contract as the `/health` pick list.
"""

from __future__ import annotations

from typing import Any

from digests.blocks import Block, context, divider, fields_section, header, message, section, take
from digests.limits import MAX_BLOCKS_MESSAGE, MAX_SECTION_FIELDS, MAX_SECTION_TEXT
from digests.rows import (
    TIER_EMOJI,
    account_name,
    account_plain,
    account_row,
    details_button,
    more_text,
    tier_badge,
)
from digests.text import ELLIPSIS, clip, esc, pack_lines
from digests.views import AccountLine, CsmDigest, ManagerDigest, RetentionLine
from digests.wording import money, plural, signed
from pulse.kernel.tiers import tier_label

RISK_EMOJI = {
    "high": ":red_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":large_green_circle:",
}


def _first_name(name: str) -> str:
    return name.split()[0] if name and name.split() else name


HELD_BACK_LINES = 8
"""Held-back playbooks listed: 8 x ~360 characters stays inside one 3,000-character section."""
CSM_FIXED_BLOCKS = 12
"""Blocks of a CSM digest besides its rows: header, context, stale, attention title,
attention "more", divider, expansion title, expansion "more", footer, held-back playbooks,
held-back alerts, followed accounts."""
FOLLOWING_LINES = 8
"""Followed accounts listed in the CSM digest (one section); the rest are counted."""
HELD_ALERT_LINES = 10
"""New alerts listed that were not sent by DM: 10 x ~260 characters fit one section."""
FALLBACK_NAMES = 3
"""Attention accounts named in the CSM digest's notification text."""


def _csm_title(d: CsmDigest) -> str:
    n_att = len(d.attention)
    first = _first_name(d.csm_name)
    return (f"Good morning, {first}: " if first else "Good morning: ") + (
        f"{plural(n_att, 'account')} need attention" if n_att else "nothing urgent today"
    )


def _attention_blocks(d: CsmDigest, shown: list[AccountLine], left: int) -> list[Block]:
    if not d.attention:
        return [section("*Needs attention today*\nNothing needs your attention today. :tada:")]
    blocks = [section(f"*Needs attention today* ({len(d.attention)})")]
    for line in shown:
        blocks.append(section(account_row(line), accessory=details_button(line.account_id)))
    if left:
        blocks.append(context(more_text(left)))
    return blocks


def _expansion_blocks(d: CsmDigest, shown: list[AccountLine], left: int) -> list[Block]:
    if not d.expansion:
        return [section("*Expansion candidates*\nNone today.")]
    blocks = [section(f"*Expansion candidates* ({len(d.expansion)})")]
    for line in shown:
        blocks.append(
            section(
                account_row(line, why=bool(line.why), expansion=True),
                accessory=details_button(line.account_id),
            )
        )
    if left:
        blocks.append(context(more_text(left)))
    return blocks


def _held_back_blocks(d: CsmDigest) -> list[Block]:
    """What the daily playbook cap kept from messaging, in one section."""
    if not d.held_back:
        return []
    lines = [
        f"• *{esc(account, 80)}* ({esc(playbook, 60)}): {esc(reason, 200)}"
        for account, playbook, reason in d.held_back[:HELD_BACK_LINES]
    ]
    if len(d.held_back) > HELD_BACK_LINES:
        lines.append(f"… and {len(d.held_back) - HELD_BACK_LINES} more")
    title = f"*Held back by your daily playbook limit* ({len(d.held_back)})\n"
    return [section(pack_lines([title + lines[0], *lines[1:]])[0])]


def _held_alert_blocks(d: CsmDigest) -> list[Block]:
    """New alerts of the last day kept out of the DMs (cap or severity), in one section."""
    if not d.held_alerts:
        return []
    lines = [
        f"• *{esc(a.account_name, 80)}*: {esc(a.label, 80)} ({esc(a.message, 120)})"
        for a in d.held_alerts[:HELD_ALERT_LINES]
    ]
    if len(d.held_alerts) > HELD_ALERT_LINES:
        lines.append(f"… and {len(d.held_alerts) - HELD_ALERT_LINES} more")
    title = f"*New alerts not sent by DM* ({len(d.held_alerts)})\n"
    return [section(pack_lines([title + lines[0], *lines[1:]])[0])]


def _following_blocks(d: CsmDigest) -> list[Block]:
    """The accounts the CSM follows, with their change, in one section."""
    if not d.following:
        return []
    lines = [account_row(line, why=bool(line.why)) for line in d.following[:FOLLOWING_LINES]]
    if len(d.following) > FOLLOWING_LINES:
        lines.append(f"… and {len(d.following) - FOLLOWING_LINES} more")
    title = f"*Accounts you follow* ({len(d.following)})\n"
    return [section(pack_lines([title + lines[0], *lines[1:]])[0])]


def _csm_fallback(d: CsmDigest, attention_shown: list[AccountLine]) -> str:
    n_att = len(d.attention)
    if n_att:
        head = ", ".join(account_plain(line) for line in attention_shown[:FALLBACK_NAMES])
        rest = n_att - min(FALLBACK_NAMES, len(attention_shown))
        attention = f"{plural(n_att, 'account')} need attention: {head}"
        attention += f" and {rest} more." if rest > 0 else "."
    else:
        attention = "nothing needs attention today."
    return (
        f"Morning list for {esc(d.csm_name, 60)}: {attention} "
        f"{plural(len(d.expansion), 'expansion candidate')}, "
        f"{plural(d.open_alerts, 'open alert')}."
    )


def csm_digest(d: CsmDigest, limit: int = 10, *, expansion_limit: int = 5) -> dict[str, Any]:
    """A CSM's morning DM: what needs attention today (most urgent first) and where to
    grow. At most ``limit`` attention rows and ``expansion_limit`` expansion rows."""
    room = MAX_BLOCKS_MESSAGE - CSM_FIXED_BLOCKS
    exp_shown, exp_left = take(d.expansion, expansion_limit, room)
    att_shown, att_left = take(d.attention, limit, room - len(exp_shown))
    blocks: list[Block] = [
        header(_csm_title(d)),
        context(
            f"{plural(d.accounts_total, 'account')} in your portfolio · "
            f"{plural(d.open_alerts, 'open alert')} · scored {d.as_of.isoformat()}"
        ),
        *([context(_stale_text(d.stale))] if d.stale else []),
        *_attention_blocks(d, att_shown, att_left),
        divider(),
        *_expansion_blocks(d, exp_shown, exp_left),
        *_held_back_blocks(d),
        *_held_alert_blocks(d),
        *_following_blocks(d),
        context("`/health NAME` for any account · `/health help`"),
    ]
    return message(blocks, _csm_fallback(d, att_shown))


def _mover_line(line: AccountLine) -> str:
    prev = line.score - line.change if line.change is not None else None
    score = f"{prev:.1f} → {line.score:.1f}" if prev is not None else f"{line.score:.1f}"
    owner = esc(line.owner_name or "unassigned", 60)
    return (
        f"• {account_name(line)} ({owner}) {score} (*{signed(line.change)}*) · "
        f"{tier_badge(line.health_tier)} · {money(line.arr)}"
    )


def _movers(title: str, rows: list[AccountLine], limit: int) -> list[str]:
    shown, left = take(rows, limit, limit)
    lines = [f"*{title}*", *(_mover_line(r) for r in shown)]
    if left:
        lines.append(more_text(left))
    return lines


def percent(value: float | None) -> str:
    """``95.1%``; ``n/a`` for a rate over nothing."""
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _retention_lines(r: RetentionLine) -> list[str]:
    """Each figure with what it was computed from (docs/metrics.md has the formulas)."""
    cohort = plural(r.accounts_start, "account")
    lines = [f"*Retention, {r.months} months to {r.end.isoformat()}*"]
    if r.accounts_start:
        lines += [
            f"• GRR *{percent(r.grr)}*: {money(r.kept_arr)} kept of {money(r.arr_start)} "
            f"starting ARR ({cohort})",
            f"• NRR *{percent(r.nrr)}*: {money(r.arr_start)} → {money(r.arr_end_cohort)} "
            "for the same accounts",
            f"• Logo churn *{percent(r.logo_churn_rate)}*: {r.churned_accounts:,} of {cohort} "
            "churned",
        ]
    else:
        lines.append(
            f"• GRR and NRR n/a: no account had ARR when the period began ({r.start.isoformat()})"
        )
    opportunities = plural(
        r.expansion_opportunities, "open expansion opportunity", "open expansion opportunities"
    )
    lines.append(
        f"• Expansion forecast *{money(r.expansion_forecast)}*: {opportunities} "
        f"({money(r.expansion_amount)}) × stage probability"
    )
    return lines


def _retention_text(r: RetentionLine) -> str:
    forecast = f"expansion forecast {money(r.expansion_forecast)}"
    if not r.accounts_start:
        return f" Retention over {r.months} months: n/a (no starting ARR); {forecast}."
    return (
        f" Retention over {r.months} months: GRR {percent(r.grr)}, NRR {percent(r.nrr)} "
        f"({money(r.arr_start)} → {money(r.arr_end_cohort)}), logo churn "
        f"{percent(r.logo_churn_rate)}; {forecast}."
    )


def _stale_text(parts: list[str]) -> str:
    return (
        ":hourglass: Stale: " + esc("; ".join(parts), 1500) + " — scores rest partly on old data."
    )


def _csm_entry_lines(d: ManagerDigest, limit: int = 10) -> list[str]:
    """CSM sentiments and overrides in force, disagreements with the data first."""
    ordered = sorted(d.csm_entries, key=lambda e: e[1] is None)
    n_dis = sum(1 for _, dis in d.csm_entries if dis)
    title = f"*CSM entries in force ({len(d.csm_entries)})*" + (
        f" · :warning: {plural(n_dis, 'disagrees', 'disagree')} with the data" if n_dis else ""
    )
    lines = [title]
    for text, dis in ordered[:limit]:
        lines.append(f"• {text}" + (f"\n    :warning: _{esc(dis, 300)}_" if dis else ""))
    if len(ordered) > limit:
        lines.append(f"{ELLIPSIS}and {len(ordered) - limit} more")
    return lines


MAX_ENTRY_SECTIONS = 3
"""Sections the manager digest gives to CSM entries in force."""
MAX_MOVER_SECTIONS = 20
"""Sections the manager digest gives to its biggest drops and rises."""


def _tier_delta(d: ManagerDigest, change: int | None) -> str:
    """`` (+11)``: a tier count's change, when there is an earlier run to compare with."""
    return f" ({change:+d})" if change is not None and d.prev_as_of else ""


def _average_change(d: ManagerDigest) -> str:
    return f", {signed(d.average_change)} since last run" if d.average_change is not None else ""


def _summary_block(d: ManagerDigest) -> Block:
    since = f" (vs {d.prev_as_of.isoformat()})" if d.prev_as_of else ""
    return section(
        f"*{d.accounts_total:,}* accounts scored on {d.as_of.isoformat()}{since}\n"
        f"Average health *{d.average_score:.1f}/100*{_average_change(d)}\n"
        f"At-risk ARR *{money(d.at_risk_arr)}* of {money(d.total_arr)} "
        f"(*{money(d.at_risk_arr_renewing)}* renewing within {d.renewal_window_days} days)"
    )


def _distribution_blocks(d: ManagerDigest) -> list[Block]:
    """One field per tier; sections of lines when there are more tiers than fields."""
    fields = [
        f"*{TIER_EMOJI.get(row.tier, ':white_circle:')} {tier_label(row.tier)}*\n"
        f"{plural(row.count, 'account')}{_tier_delta(d, row.change)} · {money(row.arr)}"
        for row in d.distribution
    ]
    if not fields:
        return []
    if len(fields) <= MAX_SECTION_FIELDS:
        return [fields_section(fields, text="*Health distribution*")]
    return [section(chunk) for chunk in pack_lines(["*Health distribution*", *fields])]


def _mover_blocks(d: ManagerDigest, limit: int) -> list[Block]:
    lines: list[str] = []
    if d.drops:
        lines += _movers("Biggest drops", d.drops, limit)
    if d.rises:
        lines += [""] if lines else []
        lines += _movers("Biggest rises", d.rises, limit)
    if not lines:
        return []
    return [divider(), *(section(chunk) for chunk in pack_lines(lines)[:MAX_MOVER_SECTIONS])]


def _renewal_block(d: ManagerDigest) -> Block:
    lines = [f"*Renewals in the next {d.renewal_window_days} days by risk*"]
    for r in d.renewals:
        lines.append(
            f"• {RISK_EMOJI.get(r.risk, ':white_circle:')} {esc(r.risk.capitalize(), 20)} "
            f"risk: {plural(r.accounts, 'account')}, {money(r.arr)}"
        )
    if not d.renewals:
        lines.append("No renewals in the window.")
    return section("\n".join(lines))


def _manager_fallback(d: ManagerDigest) -> str:
    window = d.renewal_window_days
    dist = ", ".join(f"{tier_label(r.tier)} {r.count}{_tier_delta(d, r.change)}"
                     for r in d.distribution)
    drop = f" Biggest drop: {account_plain(d.drops[0])}." if d.drops else ""
    renewals = "; ".join(f"{esc(r.risk, 20)} risk {r.accounts} ({money(r.arr)})"
                         for r in d.renewals)
    disagreeing = sum(1 for _, x in d.csm_entries if x)
    return (
        f"Portfolio health for {esc(d.scope, 80)} on {d.as_of.isoformat()}: "
        f"{d.accounts_total:,} accounts, average {d.average_score:.1f}{_average_change(d)}. "
        f"{dist}. At-risk ARR {money(d.at_risk_arr)} of {money(d.total_arr)} "
        f"({money(d.at_risk_arr_renewing)} renewing within {window} days).{drop}"
        + (f" Renewals in {window} days: {renewals}." if renewals else "")
        + (_retention_text(d.retention) if d.retention is not None else "")
        + (f" Stale: {esc('; '.join(d.stale), 1500)}." if d.stale else "")
        + (f" {plural(d.catch_all_alerts, 'open alert')} went to the catch-all channel."
           if d.catch_all_alerts else "")
        + (
            f" {plural(disagreeing, 'CSM entry', 'CSM entries')} disagree with the data."
            if disagreeing
            else ""
        )
    )


UNREACHABLE_NAMES = 5
"""The catch-all line names at most this many owners without a Slack user."""


def _catch_all_text(d: ManagerDigest) -> str:
    """How many alerts went to the catch-all channel, and whose owners Slack does not know."""
    names = ", ".join(esc(n, 60) for n in d.unreachable[:UNREACHABLE_NAMES])
    more = len(d.unreachable) - UNREACHABLE_NAMES
    who = f"{names}{f' and {more} more' if more > 0 else ''}"
    if d.catch_all_alerts:
        where = f"<#{d.catch_all_channel}>" if d.catch_all_channel else "the catch-all channel"
        text = (f":busts_in_silhouette: *{d.catch_all_alerts} open alert(s)* went to {where}: "
                "their account's owner has no Slack user")
        text += f" ({who})." if who else "."
    else:
        text = f":busts_in_silhouette: Not reachable in Slack: {who}."
    return text + " `pulse people` says why."


def _outcome_text(d: ManagerDigest) -> str:
    """The weekly section: per CSM, the alerts of the window and what became of them."""
    rows = d.outcomes or []
    head = (f":bar_chart: *Alert outcomes, last {d.outcome_days} days* (per CSM: raised · "
            "acknowledged · snoozed · reopened; alerted accounts since churned / recovered)")
    if not rows:
        return head + "\nNo alerts were raised or handled on this team's accounts."
    lines = [
        f"*{esc(r.owner, 80)}*: {r.raised} raised · {r.acknowledged} acknowledged · "
        f"{r.snoozed} snoozed · {r.reopened} reopened; {plural(r.churned, 'account')} "
        f"churned, {r.recovered} recovered"
        for r in rows[:MAX_OUTCOME_ROWS]
    ]
    if len(rows) > MAX_OUTCOME_ROWS:
        lines.append(f"… and {len(rows) - MAX_OUTCOME_ROWS} more CSMs")
    return clip("\n".join([head, *lines]), MAX_SECTION_TEXT)


MAX_OUTCOME_ROWS = 15
"""CSMs listed in the weekly alert-outcome section; the rest are counted."""


def manager_digest(d: ManagerDigest, limit: int = 10) -> dict[str, Any]:
    """The manager's view: distribution and its change, at-risk ARR (and renewing in the
    window), retention over the trailing period (GRR, NRR, logo churn, expansion
    forecast), biggest drops and rises (``limit`` each), renewals in the window by risk."""
    entry_chunks = pack_lines(_csm_entry_lines(d))[:MAX_ENTRY_SECTIONS] if d.csm_entries else []
    blocks: list[Block] = [
        header(f"Portfolio health — {d.scope}"),
        *([context(_stale_text(d.stale))] if d.stale else []),
        _summary_block(d),
        *([section(_catch_all_text(d))] if d.catch_all_alerts or d.unreachable else []),
        *([section(_outcome_text(d))] if d.outcomes is not None else []),
        *_distribution_blocks(d),
        *([section("\n".join(_retention_lines(d.retention)))] if d.retention is not None else []),
        *(section(chunk) for chunk in entry_chunks),
        *_mover_blocks(d, limit),
        divider(),
        _renewal_block(d),
        context("Pulse · `/health NAME` for any account"),
    ]
    return message(blocks, _manager_fallback(d))
