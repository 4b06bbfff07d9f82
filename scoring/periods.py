"""Spans of time written as ``90d``, ``12w`` or ``3m``, and the as-of dates they space out.

The backtest asks two questions in these units: how often to recompute past scores
(``--every``) and how far ahead to look for churn (``--horizon``). Months are calendar
months, because "churned within three months" is how a CS team talks, and a schedule that
starts on a month end stays on month ends (Jan 31, Feb 28, Mar 31...) instead of drifting
to the 28th.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Unit = Literal["d", "w", "m"]
_SPAN = re.compile(r"^\s*(\d+)\s*([dwm]?)\s*$", re.IGNORECASE)
UNIT_NAMES: dict[str, str] = {"d": "day", "w": "week", "m": "month"}


@dataclass(frozen=True)
class Span:
    """A positive number of days, weeks or calendar months."""

    count: int
    unit: Unit

    def after(self, day: date, times: int = 1) -> date:
        """``day`` moved forward by ``times`` spans (months clamp to the month's length)."""
        n = self.count * times
        if self.unit == "d":
            return day + timedelta(days=n)
        if self.unit == "w":
            return day + timedelta(weeks=n)
        return add_months(day, n)

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    @property
    def words(self) -> str:
        """``90 days``, ``1 month``: for sentences shown to people."""
        name = UNIT_NAMES[self.unit]
        return f"{self.count} {name}{'' if self.count == 1 else 's'}"


def parse_span(text: str) -> Span:
    """``90d`` / ``12w`` / ``3m`` (a bare number means days); ValueError names the problem."""
    match = _SPAN.match(text or "")
    if not match:
        raise ValueError(
            f"'{text}' is not a span of time (expected a number and d, w or m, e.g. 90d, 4w, 1m)"
        )
    count = int(match.group(1))
    if count <= 0:
        raise ValueError(f"'{text}' must be longer than zero")
    unit = (match.group(2) or "d").lower()
    return Span(count, unit)  # type: ignore[arg-type]


def is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def add_months(day: date, months: int) -> date:
    """Same day of the month ``months`` later, clamped (Jan 31 + 1 month = Feb 28/29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def as_of_dates(start: date, end: date, every: Span) -> list[date]:
    """``start``, ``start + every``, ... up to ``end``, and ``end`` itself.

    Each date is computed from ``start`` (not from the previous date) so clamping in a
    short month does not shift every later date; a monthly schedule starting on a month
    end stays on month ends. ``end`` is always scored, even when the step does not land
    on it (``--every 2w --to DATE`` once left the date asked for out without a word).
    """
    if start > end:
        raise ValueError(f"the first date ({start}) is after the last ({end})")
    month_ends = every.unit == "m" and is_month_end(start)
    out: list[date] = []
    k = 0
    while True:
        day = every.after(start, k)
        if month_ends:
            day = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        if day > end:
            return out if out[-1] == end else [*out, end]
        out.append(day)
        k += 1
