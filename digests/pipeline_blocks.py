"""The admin channel's message when a step of the daily pipeline failed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from digests.blocks import context, header, message, section
from digests.text import esc, pack_lines

STATUS_EMOJI = {"ok": ":white_check_mark:", "failed": ":x:", "skipped": ":fast_forward:"}


def pipeline_failure(run_date: date, kind: str, steps: Sequence[dict[str, Any]],
                     host: str) -> dict[str, Any]:
    """Every step with its outcome, failed ones first with the error, so an admin sees
    what did and did not happen this morning without opening a terminal."""
    failed = [s for s in steps if s.get("status") == "failed"]
    lines = [
        f"{STATUS_EMOJI.get(s.get('status', ''), '')} *{esc(s.get('name'))}* "
        f"{esc(s.get('status'))} after {s.get('attempts', 0)} attempt(s), "
        f"{float(s.get('seconds', 0)):.1f}s: {esc(s.get('detail') or '-', 300)}"
        for s in sorted(steps, key=lambda s: s.get("status") != "failed")
    ]
    names = ", ".join(esc(s.get("name"), 80) for s in failed) or "none"
    blocks = [header(f"Pulse {kind} run of {run_date.isoformat()}: {len(failed)} step(s) failed")]
    blocks += [section(text) for text in pack_lines(lines)]
    blocks.append(context(f"Host {esc(host)} · `pulse runs` lists past runs"))
    return message(blocks, f"Pulse {esc(kind, 40)} run of {run_date.isoformat()}: {names} failed")
