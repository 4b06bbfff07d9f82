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

from digests.blocks import (
    ELLIPSIS,
    TIER_EMOJI,
    account_name,
    account_plain,
    account_row,
    context,
    details_button,
    divider,
    esc,
    fields_section,
    header,
    message,
    more_text,
    pack_lines,
    section,
    take,
    tier_badge,
)
from digests.limits import MAX_BLOCKS_MESSAGE, MAX_SECTION_FIELDS
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


HELD_BACK_LINES = 8  # 8 x ~360 characters stays inside one 3,000-character section


def csm_digest(d: CsmDigest, limit: int = 10, *, expansion_limit: int = 5) -> dict[str, Any]:
    """A CSM's morning DM: what needs attention today (most urgent first) and where to
    grow. At most ``limit`` attention rows and ``expansion_limit`` expansion rows."""
    n_att = len(d.attention)
    first = _first_name(d.csm_name)
    title = (f"Good morning, {first}: " if first else "Good morning: ") + (
        f"{plural(n_att, 'account')} need attention" if n_att else "nothing urgent today"
    )
    blocks: list[dict[str, Any]] = [
        header(title),
        context(
            f"{plural(d.accounts_total, 'account')} in your portfolio · "
            f"{plural(d.open_alerts, 'open alert')} · scored {d.as_of.isoformat()}"
        ),
        *([context(_stale_text(d.stale))] if d.stale else []),
    ]
    # Fixed blocks: header, context, stale, attention title, attention "more", divider,
    # expansion title, expansion "more", footer, held-back playbooks.
    fixed = 10
    exp_shown, exp_left = take(d.expansion, expansion_limit, MAX_BLOCKS_MESSAGE - fixed)
    att_shown, att_left = take(d.attention, limit, MAX_BLOCKS_MESSAGE - fixed - len(exp_shown))

    if d.attention:
        blocks.append(section(f"*Needs attention today* ({n_att})"))
        for line in att_shown:
            blocks.append(section(account_row(line), accessory=details_button(line.account_id)))
        if att_left:
            blocks.append(context(more_text(att_left)))
    else:
        blocks.append(
            section("*Needs attention today*\nNothing needs your attention today. :tada:")
        )

    blocks.append(divider())
    if d.expansion:
        blocks.append(section(f"*Expansion candidates* ({len(d.expansion)})"))
        for line in exp_shown:
            blocks.append(
                section(
                    account_row(line, why=bool(line.why), expansion=True),
                    accessory=details_button(line.account_id),
                )
            )
        if exp_left:
            blocks.append(context(more_text(exp_left)))
    else:
        blocks.append(section("*Expansion candidates*\nNone today."))
    if d.held_back:
        lines = [
            f"• *{esc(account, 80)}* ({esc(playbook, 60)}): {esc(reason, 200)}"
            for account, playbook, reason in d.held_back[:HELD_BACK_LINES]
        ]
        if len(d.held_back) > HELD_BACK_LINES:
            lines.append(f"… and {len(d.held_back) - HELD_BACK_LINES} more")
        title = f"*Held back by your daily playbook limit* ({len(d.held_back)})\n"
        blocks.append(section(pack_lines([title + lines[0], *lines[1:]])[0]))
    blocks.append(context("`/health NAME` for any account · `/health help`"))

    if n_att:
        head = ", ".join(account_plain(line) for line in att_shown[:3])
        rest = n_att - min(3, len(att_shown))
        attention = f"{plural(n_att, 'account')} need attention: {head}"
        attention += f" and {rest} more." if rest > 0 else "."
    else:
        attention = "nothing needs attention today."
    text = (
        f"Morning list for {esc(d.csm_name, 60)}: {attention} "
        f"{plural(len(d.expansion), 'expansion candidate')}, "
        f"{plural(d.open_alerts, 'open alert')}."
    )
    return message(blocks, text)


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


def manager_digest(d: ManagerDigest, limit: int = 10) -> dict[str, Any]:
    """The manager's view: distribution and its change, at-risk ARR (and renewing in the
    window), retention over the trailing period (GRR, NRR, logo churn, expansion
    forecast), biggest drops and rises (``limit`` each), renewals in the window by risk."""
    since = f" (vs {d.prev_as_of.isoformat()})" if d.prev_as_of else ""
    change = f", {signed(d.average_change)} since last run" if d.average_change is not None else ""
    window = d.renewal_window_days
    stale = [context(_stale_text(d.stale))] if d.stale else []
    blocks: list[dict[str, Any]] = [
        header(f"Portfolio health — {d.scope}"),
        *stale,
        section(
            f"*{d.accounts_total:,}* accounts scored on {d.as_of.isoformat()}{since}\n"
            f"Average health *{d.average_score:.1f}*{change}\n"
            f"At-risk ARR *{money(d.at_risk_arr)}* of {money(d.total_arr)} "
            f"(*{money(d.at_risk_arr_renewing)}* renewing within {window} days)"
        ),
    ]
    fields = []
    for row in d.distribution:
        delta = f" ({row.change:+d})" if row.change is not None and d.prev_as_of else ""
        fields.append(
            f"*{TIER_EMOJI.get(row.tier, ':white_circle:')} {tier_label(row.tier)}*\n"
            f"{plural(row.count, 'account')}{delta} · {money(row.arr)}"
        )
    if fields:
        if len(fields) <= MAX_SECTION_FIELDS:
            blocks.append(fields_section(fields, text="*Health distribution*"))
        else:
            for chunk in pack_lines(["*Health distribution*", *fields]):
                blocks.append(section(chunk))
    if d.retention is not None:
        blocks.append(section("\n".join(_retention_lines(d.retention))))
    if d.csm_entries:
        blocks.extend(section(chunk) for chunk in pack_lines(_csm_entry_lines(d))[:3])

    mover_lines: list[str] = []
    if d.drops:
        mover_lines += _movers("Biggest drops", d.drops, limit)
    if d.rises:
        mover_lines += [""] if mover_lines else []
        mover_lines += _movers("Biggest rises", d.rises, limit)
    if mover_lines:
        blocks.append(divider())
        blocks.extend(section(chunk) for chunk in pack_lines(mover_lines)[:20])

    blocks.append(divider())
    renewal_lines = [f"*Renewals in the next {window} days by risk*"]
    if d.renewals:
        for r in d.renewals:
            renewal_lines.append(
                f"• {RISK_EMOJI.get(r.risk, ':white_circle:')} {esc(r.risk.capitalize(), 20)} "
                f"risk: {plural(r.accounts, 'account')}, {money(r.arr)}"
            )
    else:
        renewal_lines.append("No renewals in the window.")
    blocks.append(section("\n".join(renewal_lines)))
    blocks.append(context("Pulse · `/health NAME` for any account"))

    dist = ", ".join(
        f"{tier_label(r.tier)} {r.count}"
        + (f" ({r.change:+d})" if r.change is not None and d.prev_as_of else "")
        for r in d.distribution
    )
    drop = f" Biggest drop: {account_plain(d.drops[0])}." if d.drops else ""
    renewals = "; ".join(f"{r.risk} risk {r.accounts} ({money(r.arr)})" for r in d.renewals)
    text = (
        f"Portfolio health for {esc(d.scope, 80)} on {d.as_of.isoformat()}: "
        f"{d.accounts_total:,} accounts, average {d.average_score:.1f}{change}. "
        f"{dist}. At-risk ARR {money(d.at_risk_arr)} of {money(d.total_arr)} "
        f"({money(d.at_risk_arr_renewing)} renewing within {window} days).{drop}"
        + (f" Renewals in {window} days: {renewals}." if renewals else "")
        + (_retention_text(d.retention) if d.retention is not None else "")
        + (f" Stale: {'; '.join(d.stale)}." if d.stale else "")
        + (
            f" {plural(sum(1 for _, x in d.csm_entries if x), 'CSM entry', 'CSM entries')}"
            " disagree with the data."
            if any(x for _, x in d.csm_entries)
            else ""
        )
    )
    return message(blocks, text)
