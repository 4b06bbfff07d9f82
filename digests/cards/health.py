"""The health card: `/health NAME`'s answer, from a :class:`digests.views.HealthCard`.

Score, tier, trend, why, where each point came from, what changed since the last
snapshot, flags and open alerts, and the buttons that apply to the viewer. Each part of
the card has its own function below, in the order the card shows them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from digests.blocks import (
    Block,
    actions,
    button,
    context,
    fields_section,
    header,
    message,
    section,
)
from digests.limits import MAX_BLOCKS_MESSAGE, MAX_BUTTON_VALUE
from digests.note_blocks import note_button
from digests.override_blocks import OPEN_ACTION
from digests.rows import (
    SEVERITY_EMOJI,
    account_name,
    alerts_text,
    crm_button,
    renewal_text,
    tier_badge,
    tier_plain,
)
from digests.text import ELLIPSIS, clip_raw, esc, escape, pack_lines, slack_time
from digests.views import AlertItem, HealthCard
from digests.wording import money, plural, signed
from scoring.learn.entries import counted, model_provenance
from scoring.peers import peer_phrase

MAX_REASONS = 5
"""Reasons listed under "Why"."""
MAX_CHANGE_LINES = 6
"""Lines of "Change since last snapshot" before "and N more"."""
MAX_FLAGS = 6
"""Flags listed before "and N more"."""
MAX_ALERTS_LISTED = 8
"""Open alerts listed before "and N more"."""
MAX_COMPONENT_SECTIONS = 4
"""Sections "Where the score comes from" may take (3,000 characters each)."""
TOTAL_TOLERANCE = 0.05
"""Components whose points add up to the score within this many points "= score"."""
SPARK_BARS = "▁▂▃▄▅▆▇█"


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if v != v else v  # NaN check without numpy


# ---------------------------------------------------------------------------------------
# Lines of the card


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
    if c.get("kind") == "learned":
        raw = c.get("raw") or {}
        most = _num(raw.get("most_points")) or weight or 0.0
        name = esc(c.get("label") or c.get("key") or "input", 60, code=True)  # an identifier
        return f"• `{name}` *{points:.1f} pts* of {most:.1f}: {esc(raw.get('bin') or detail, 200)}"
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


def sparkline(values: Sequence[float], width: int = 30, min_span: float = 10.0) -> str:
    """``▃▄▅▅▂``: one bar per point (at most ``width``), scaled to the series' range.

    The range is widened to at least ``min_span`` points so that a score wobbling by a
    few tenths draws flat instead of looking like a cliff.
    """
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return ""
    if len(vals) > width:
        step = (len(vals) - 1) / (width - 1)
        vals = [vals[round(i * step)] for i in range(width)]
    lo, hi = min(vals), max(vals)
    if hi - lo < min_span:
        mid = (hi + lo) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    top = len(SPARK_BARS) - 1
    return "".join(SPARK_BARS[min(top, max(0, round((v - lo) / (hi - lo) * top)))] for v in vals)


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


def _more_line(total: int, shown: int) -> list[str]:
    """``…and N more`` when a list was cut at ``shown`` items."""
    return [f"{ELLIPSIS}and {total - shown} more"] if total > shown else []


def _flag_line(flag: dict[str, Any]) -> str:
    sev = str(flag.get("severity") or "warning")
    label = esc(flag.get("label") or flag.get("code") or "flag", 80)
    action = f"\n    → {esc(flag['action'], 300)}" if flag.get("action") else ""
    return (
        f"{SEVERITY_EMOJI.get(sev, ':warning:')} *{label}* "
        f"({escape(sev)}): {esc(flag.get('detail') or '', 300)}{action}"
    )


def _alert_line(alert: AlertItem) -> str:
    return (
        f"{SEVERITY_EMOJI.get(alert.severity, ':warning:')} *{esc(alert.label, 80)}* "
        f"({escape(alert.severity)}), open since {slack_time(alert.opened_at)}: "
        f"{esc(alert.message, 300)}"
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


# ---------------------------------------------------------------------------------------
# Blocks of the card, top to bottom


def _facts_block(card: HealthCard, open_count: int) -> Block:
    """The two-column facts a CSM needs on a call."""
    a = card.account
    segment = " · ".join(escape(x) for x in (card.account_tier, card.lifecycle) if x) or "—"
    return fields_section(
        [
            f"*Health score*\n{a.score:.1f}/100 ({signed(a.change)} since last snapshot)",
            f"*Tier*\n{tier_badge(a.health_tier)}",
            f"*ARR*\n{money(a.arr)}",
            f"*Renewal*\n{renewal_text(a.renewal_date, a.days_to_renewal)}",
            f"*Owner*\n{esc(a.owner_name or 'unassigned')}",
            f"*Open alerts*\n{open_count}",
            f"*Segment*\n{segment}",
            f"*Renewal risk · expansion score*\n{escape(a.renewal_risk or '—')} · "
            f"{a.expansion_score:.0f}/100",
        ],
        text=f"{account_name(a)} · scored as of {card.as_of.isoformat()}",
    )


def _note_blocks(card: HealthCard) -> list[Block]:
    """Stale data, then the CSM entry in force (now, even before the next scoring run
    counts it)."""
    blocks: list[Block] = []
    if card.stale:
        blocks.append(
            context(
                ":hourglass: Stale: "
                + esc("; ".join(card.stale), 1500)
                + ". Parts of this score rest on old data."
            )
        )
    if card.csm_entry:
        blocks.append(section(f":speech_balloon: {card.csm_entry}"))
    return blocks


def _reason_blocks(card: HealthCard) -> list[Block]:
    if not card.reasons:
        return []
    reasons = [f"• {esc(r, 400)}" for r in card.reasons[:MAX_REASONS]]
    return [section("*Why*\n" + "\n".join(reasons))]


def _component_blocks(card: HealthCard) -> list[Block]:
    """Every component's points (a learned score's inputs, with how the model was
    learned), and whether they add up to the score."""
    components = counted(card.components)
    lines = [component_line(c) for c in components]
    if not lines:
        return []
    score = card.account.score
    total = sum(_num(c.get("points")) or 0.0 for c in components)
    if abs(total - score) < TOTAL_TOLERANCE:
        lines.append(f"*Total {total:.1f} pts = score {score:.1f}*")
    else:
        lines.append(f"*Total {total:.1f} pts* (score {score:.1f})")
    learned = model_provenance(card.components)
    title = "*Where the score comes from*"
    if learned:
        title += f" (learned score: {esc(learned, 300)})"
    chunks = pack_lines([title, *lines])
    return [section(chunk) for chunk in chunks[:MAX_COMPONENT_SECTIONS]]


def _change_block(card: HealthCard) -> Block:
    if not card.change_lines:
        return section("*Change since last snapshot*\nFirst snapshot: nothing to compare with yet.")
    lines = [
        f"• {esc(line, 500).replace(' -&gt; ', ' → ')}"
        for line in card.change_lines[:MAX_CHANGE_LINES]
    ]
    lines += _more_line(len(card.change_lines), MAX_CHANGE_LINES)
    return section("*Change since last snapshot*\n" + "\n".join(lines))


def _flag_blocks(card: HealthCard) -> list[Block]:
    if not card.flags:
        return []
    lines = [_flag_line(flag) for flag in card.flags[:MAX_FLAGS]]
    lines += _more_line(len(card.flags), MAX_FLAGS)
    return [section("*Flags*\n" + "\n".join(lines))]


def _alert_blocks(open_alerts: Sequence[AlertItem]) -> list[Block]:
    if not open_alerts:
        return []
    lines = [_alert_line(alert) for alert in open_alerts[:MAX_ALERTS_LISTED]]
    lines += _more_line(len(open_alerts), MAX_ALERTS_LISTED)
    return [section("*Open alerts*\n" + "\n".join(lines))]


def _action_blocks(card: HealthCard, open_alerts: Sequence[AlertItem]) -> list[Block]:
    """Open in CRM; Acknowledge (one or all), CSM sentiment and, when the account is in a
    CRM (it has a link), Log a note for a viewer who may act."""
    account_id = card.account.account_id
    buttons: list[dict[str, Any]] = []
    crm = crm_button(card.account.crm_url)
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
        buttons.append(button("CSM sentiment", OPEN_ACTION, value=str(account_id)))
    if card.can_act and crm:
        buttons.append(note_button(account_id))
    return [actions(buttons, block_id=f"health_card_{account_id}")] if buttons else []


def _card_fallback(card: HealthCard, open_count: int) -> str:
    a = card.account
    trend = sorted(card.trend, key=lambda t: t[0])
    trend_text = f" 30-day trend {trend[0][1]:.1f} → {trend[-1][1]:.1f}." if len(trend) > 1 else ""
    return (
        f"{escape(clip_raw(a.name, 80))}: health {a.score:.1f}/100, {tier_plain(a.health_tier)}, "
        f"{signed(a.change)} since last snapshot.{trend_text} ARR {money(a.arr)}, renews "
        f"{renewal_text(a.renewal_date, a.days_to_renewal)}, {alerts_text(open_count)}."
    )


def health_card(card: HealthCard) -> dict[str, Any]:
    """`/health NAME`: score, tier, trend, why, where each point came from, what changed,
    the facts a CSM needs on a call, and the buttons that apply to this viewer."""
    a = card.account
    open_alerts = _open_alerts(card.alerts)
    blocks: list[Block] = [
        header(f"{clip_raw(a.name, 100)} — health {a.score:.1f}/100"),
        _facts_block(card, len(open_alerts)),
        section(_trend_text(card.trend)),
        *_note_blocks(card),
        *_reason_blocks(card),
        *_component_blocks(card),
        _change_block(card),
        *_flag_blocks(card),
        *_alert_blocks(open_alerts),
        *_action_blocks(card, open_alerts),
        context(f"Pulse · as of {card.as_of.isoformat()} · `/health help` for more"),
    ]
    return message(blocks[:MAX_BLOCKS_MESSAGE], _card_fallback(card, len(open_alerts)))
