"""What every health component is: its key and label, and the result it returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import isnan
from typing import Any

import pandas as pd

COMPONENT_KEYS: tuple[str, ...] = (
    "usage",
    "breadth",
    "seats",
    "engagement",
    "contract",
    "trend",
    "csm",
)
COMPONENT_LABELS: dict[str, str] = {
    "usage": "Usage",
    "breadth": "Feature breadth",
    "seats": "Seats",
    "engagement": "Engagement",
    "contract": "Contract",
    "trend": "Trend",
    "csm": "CSM",
}
DATA_COMPONENT_KEYS: tuple[str, ...] = tuple(k for k in COMPONENT_KEYS if k != "csm")
"""Components measured from data (what backtests and weight tuning fit)."""
OPTIONAL_COMPONENTS: frozenset[str] = frozenset({"csm"})
"""Shown only where present: "no CSM sentiment" is the normal case, not missing data."""


Texts = tuple[Sequence[str], Sequence[str] | None]
"""Per account, in the frame's order: the detail line, and the shorter reason for the top
reasons (None: the detail serves as reason)."""


@dataclass
class ComponentResult:
    """One component for every account: value (NaN = no data), raw figures, texts.

    The texts are written on first use (``texts`` builds them): explaining an account
    reads them, while a backtest scoring 100,000 accounts on a dozen dates reads none, and
    writing them was most of the components' time there (docs/performance.md).
    """

    key: str
    value: pd.Series
    raw: pd.DataFrame
    texts: Callable[[], Texts]
    _written: tuple[pd.Series, pd.Series] | None = field(default=None, init=False, repr=False)

    @property
    def label(self) -> str:
        return COMPONENT_LABELS[self.key]

    @property
    def detail(self) -> pd.Series:
        return self._write()[0]

    @property
    def reason_text(self) -> pd.Series:
        """Shorter text for the top reasons (the detail when there is none)."""
        return self._write()[1]

    def _write(self) -> tuple[pd.Series, pd.Series]:
        if self._written is None:
            detail, reason = self.texts()
            index = self.value.index
            lines = pd.Series(list(detail), index=index, dtype=object)
            short = lines if reason is None else pd.Series(list(reason), index=index, dtype=object)
            self._written = (lines, short)
        return self._written


def as_number(value: Any) -> float | None:
    """A figure read back from a stored entry as a float; None when missing, NaN or not a
    number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if isnan(number) else number


def whole(x: float) -> str:
    """A figure as a whole number with thousands separators: "1,234"."""
    return f"{x:,.0f}"


def plural(n: float, word: str, plural_form: str | None = None) -> str:
    """ "1 ticket", "3 tickets" (``plural_form`` when not just an added "s")."""
    return f"{n:,.0f} {word if n == 1 else (plural_form or word + 's')}"
