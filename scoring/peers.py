"""Percentiles among peers: so "41% of seats active" means something without context.

Peers are the accounts of the same segment and seat-size band scored on the same date
("Enterprise, 50-199 seats"). A usage component's value is ranked within its peer group
(mid-rank for ties, so ten accounts all at full marks are each "top 50%", not "top 10%"),
and groups smaller than :data:`MIN_PEERS` get no percentile: a rank among three accounts
is noise presented as a fact. A daily run keeps each group's values
(:func:`peer_values`, cached by :mod:`scoring.figures`) so that live rescoring ranks the
few accounts it scores among the whole group (:func:`percentiles_among`).
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
RANK_DECIMALS = 9
"""Values are ranked rounded to this many decimals (they lie in [0, 1]): a float sum's
last bits depend on the order the database adds the rows in, and must not untie or
reorder two accounts, nor an account and its stored value (:func:`percentiles_among`)."""
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


def _ranked(values: pd.Series) -> pd.Series:
    return values.astype("float64").round(RANK_DECIMALS)


def percentiles(values: pd.Series, groups: pd.Series, min_peers: int = MIN_PEERS) -> pd.DataFrame:
    """Per account: ``peer_pct`` (0-100, mid-rank), ``peer_group`` and ``peers`` (group
    size among accounts with a value). NaN values, and groups below ``min_peers``, get
    ``peer_pct`` NaN."""
    frame = pd.DataFrame({"v": _ranked(values), "g": groups})
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


def peer_values(values: pd.Series, groups: pd.Series) -> dict[str, np.ndarray]:
    """Each peer group's values (float64, sorted, NaN left out): what
    :func:`percentiles_among` ranks against."""
    frame = pd.DataFrame({"v": _ranked(values), "g": groups})
    frame = frame[frame["v"].notna()]
    return {str(g): np.sort(part.to_numpy()) for g, part in frame.groupby("g")["v"]}


def percentiles_among(
    values: pd.Series,
    groups: pd.Series,
    peers: Mapping[str, np.ndarray],
    min_peers: int = MIN_PEERS,
) -> pd.DataFrame:
    """:func:`percentiles`, each value ranked among stored ``peers`` (:func:`peer_values`
    of a daily run) instead of among ``values``: same mid-rank, same group size rule.

    A value found among its group's peers (an account unchanged since that run) gets
    exactly the percentile that run gave it; another value ranks as if it took the place
    of one of them (the group keeps its size).
    """
    pct = np.full(len(values), np.nan)
    count = np.zeros(len(values), dtype="int64")
    v = _ranked(values).to_numpy()
    g = groups.astype(str).to_numpy()
    for group in set(g.tolist()):
        stored = peers.get(group)
        rows = np.flatnonzero((g == group) & ~np.isnan(v))
        if stored is None or not len(rows):
            continue
        less = np.searchsorted(stored, v[rows], side="left")
        ties = np.maximum(np.searchsorted(stored, v[rows], side="right") - less, 1)
        rank = less + (ties + 1) / 2  # the mid-rank, as pandas' "average" method gives it
        n = len(stored)
        count[rows] = n
        if n >= min_peers:
            pct[rows] = (rank - 0.5) / n * 100.0
    out = pd.DataFrame(index=values.index)
    out["peer_pct"] = pct
    out["peer_group"] = groups
    out["peers"] = count
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
