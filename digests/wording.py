"""Figures in words: money, signed changes and counts, worded the same in Slack and the terminal."""

from __future__ import annotations

import math


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value: float | None) -> str:
    """``$1.79M``, ``$392k``, ``$950``; ``$0`` when there is no figure."""
    if value is None or _missing(value):
        return "$0"
    if abs(value) >= 1_000_000:
        return f"${value / 1_000_000:,.2f}M"
    if abs(value) >= 1_000:
        return f"${value / 1_000:,.0f}k"
    return f"${value:,.0f}"


def signed(value: float | None) -> str:
    """``+2.0`` / ``-9.5``; ``new`` for a first snapshot (nothing to compare with)."""
    if value is None or _missing(value):
        return "new"
    return f"{value:+.1f}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 account``, ``3 accounts``, ``2 replies`` (with ``many``)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
