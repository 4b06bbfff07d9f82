"""What loading a batch did: counts, and the records skipped with their reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pulse.kernel.records import Rejection

MAX_ROW_REJECTIONS = 200
"""Rejected fact rows listed one by one per batch; the rest are counted in one line."""


@dataclass
class LoadResult:
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Rejection] = field(default_factory=list)

    def add(self, other: LoadResult) -> None:
        self.fetched += other.fetched
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped.extend(other.skipped)


def reject_rows(where: pd.Series, reasons: pd.Series, entity: str, result: LoadResult) -> None:
    """Name each rejected row (up to ``MAX_ROW_REJECTIONS``) in ``result.skipped``."""
    if where.empty:
        return
    wheres = where.astype(object).where(where.notna(), entity)
    for at, reason in list(zip(wheres, reasons, strict=True))[:MAX_ROW_REJECTIONS]:
        result.skipped.append(Rejection(str(at), str(reason)))
    if len(where) > MAX_ROW_REJECTIONS:
        result.skipped.append(
            Rejection(entity, f"... and {len(where) - MAX_ROW_REJECTIONS} more row(s) skipped")
        )
