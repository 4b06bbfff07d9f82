"""Percentiles among peers: so "41% of seats active" means something without context.

Peers are the accounts of the same segment and seat-size band scored on the same date
("Enterprise, 50-199 seats"). A usage component's value is ranked within its peer group
(mid-rank for ties, so ten accounts all at full marks are each "top 50%", not "top 10%"),
and groups smaller than :data:`MIN_PEERS` get no percentile: a rank among three accounts
is noise presented as a fact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

PEER_KEYS: tuple[str, ...] = ("usage", "breadth", "seats", "trend")
"""Components measured from product usage: the ones a peer comparison makes sense for."""
MIN_PEERS = 5
SEAT_BANDS: tuple[tuple[float, str], ...] = (
    (10, "1-9 seats"),
    (50, "10-49 seats"),
    (200, "50-199 seats"),
    (math.inf, "200+ seats"),
)


def size_band(seats: pd.Series) -> pd.Series:
    """Seat-size band per account; "seats unknown" when no licensed seat count is on file."""
    values = pd.to_numeric(seats, errors="coerce").to_numpy(dtype="float64")
    labels = np.full(len(values), "seats unknown", dtype=object)
    lower = 0.0
    for upper, label in SEAT_BANDS:
        labels[(values >= lower) & (values < upper)] = label
        lower = upper
    return pd.Series(labels, index=seats.index, dtype=object)


def peer_groups(segment: pd.Series, seats: pd.Series) -> pd.Series:
    """``"<segment>, <band>"``; accounts without a segment are compared across segments."""
    seg = segment.astype(object).where(segment.notna() & (segment.astype(str) != ""), "All")
    return seg.astype(str) + ", " + size_band(seats)


def percentiles(values: pd.Series, groups: pd.Series, min_peers: int = MIN_PEERS) -> pd.DataFrame:
    """Per account: ``peer_pct`` (0-100, mid-rank), ``peer_group`` and ``peers`` (group
    size among accounts with a value). NaN values, and groups below ``min_peers``, get
    ``peer_pct`` NaN."""
    frame = pd.DataFrame({"v": values.astype("float64"), "g": groups})
    valid = frame["v"].notna()
    sized = frame[valid].groupby("g")["v"]
    rank = sized.rank(method="average")
    count = sized.transform("size")
    pct = ((rank - 0.5) / count * 100.0).where(count >= min_peers)
    out = pd.DataFrame(index=values.index)
    out["peer_pct"] = pct.reindex(values.index)
    out["peer_group"] = groups
    out["peers"] = count.reindex(values.index).fillna(0).astype("int64")
    return out


def peer_phrase(pct: float | None, group: str | None) -> str | None:
    """ "bottom 15% of Enterprise, 50-199 seats peers" / "top 10% of ..." (None if unknown)."""
    if pct is None or group is None or (isinstance(pct, float) and math.isnan(pct)):
        return None
    if pct <= 50:
        return f"bottom {max(1, round(pct))}% of {group} peers"
    return f"top {max(1, round(100 - pct))}% of {group} peers"


def weakest_peer_note(components: Sequence[Mapping[str, Any]]) -> str | None:
    """An account's weakest usage signal among its peers, from its stored component
    entries: "Seats: bottom 8% of Enterprise, 50-199 seats peers"; None without a rank."""
    ranked = [
        (float(c["raw"]["peer_pct"]), c)
        for c in components
        if c.get("key") in PEER_KEYS
        and isinstance(c.get("raw"), dict)
        and c["raw"].get("peer_pct") is not None
        and c["raw"].get("peer_group")
    ]
    if not ranked:
        return None
    pct, comp = min(ranked, key=lambda r: r[0])
    phrase = peer_phrase(pct, comp["raw"]["peer_group"])
    return f"{comp.get('label') or comp['key']}: {phrase}" if phrase else None
