"""The App Home tab: the viewer's portfolio at a glance, in the order the service gave
(by need), one row per account with a "Details" button (``health_pick``).

A Home view holds at most 100 blocks, so the list is cut at ``limit`` and at what fits,
with a count of the rest; messages elsewhere point *here*, so this is the one place that
must never fail to render.
"""

from __future__ import annotations

from typing import Any

from digests.blocks import context, divider, header, home, section, take
from digests.cards.bundle import baseline_phrase
from digests.limits import MAX_BLOCKS_HOME
from digests.rows import account_row, details_button, more_text
from digests.text import clip_raw, esc
from digests.views import BaselineNote, HomeView
from digests.wording import plural

HOME_FIXED_BLOCKS = 5
"""header, summary context, divider, "more" line, footer (and the baseline line, when
there is one)."""


def home_baseline_text(note: BaselineNote) -> str:
    """The baseline, as the Home tab explains it (the alert messages point here)."""
    return (
        f":eyes: {baseline_phrase(note)}. They are listed below by need and alert again "
        "only if they get worse."
    )


def home_view(h: HomeView, limit: int = 40) -> dict[str, Any]:
    """``{"type": "home", "blocks": [...]}`` for ``views.publish``."""
    title = f"{clip_raw(h.viewer_name, 100)}'s portfolio" if h.viewer_name else "Your portfolio"
    blocks: list[dict[str, Any]] = [header(title)]
    if h.as_of is None:
        blocks.append(
            section(
                "Pulse has not scored any accounts yet. Scores appear here after the first "
                "sync and scoring run."
            )
        )
        return home(blocks)
    role = f" · {esc(h.role, 40)}" if h.role else ""
    blocks.append(
        context(
            f"{esc(h.viewer_name or 'You', 60)}{role} · {plural(len(h.accounts), 'account')} · "
            f"{plural(h.open_alerts, 'open alert')} · scored {h.as_of.isoformat()} · "
            "most urgent first"
        )
    )
    if h.baseline is not None:
        blocks.append(context(home_baseline_text(h.baseline)))
    blocks.append(divider())
    if not h.accounts:
        blocks.append(section("No accounts are assigned to you."))
        return home(blocks)
    fixed = HOME_FIXED_BLOCKS + (h.baseline is not None)
    shown, left = take(h.accounts, limit, MAX_BLOCKS_HOME - fixed)
    for line in shown:
        row = account_row(line, why=bool(line.why), activity=True)
        if line.peer_note:
            row += f"\n_Peers:_ {esc(line.peer_note, 300)}"
        blocks.append(section(row, accessory=details_button(line.account_id)))
    if left:
        blocks.append(context(more_text(left, "use `/health NAME` for any account")))
    blocks.append(context("`/health help` for commands"))
    return home(blocks)
