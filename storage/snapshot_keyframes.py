"""Which snapshots' explanations are deltas, and against what: keyframes.

A scoring run stores each account's explanation (its components and reasons packed
together) as a delta
(:func:`storage.snapshot_codec.pack_against`) against the account's latest keyframe dated
less than
:data:`~storage.models.snapshots.KEYFRAME_DAYS` days before (a keyframe: a row whose components are
packed alone), or as a new keyframe when there is none. Scored daily, an account has a
keyframe a week and six deltas after it: the figures and sentences that did not move since
the keyframe cost almost nothing (docs/performance.md, "Snapshot size"). A delta's
keyframe is always a keyframe, so a read looks up one row at most
(:mod:`storage.models.snapshots`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import ScoreSnapshot
from storage.models.snapshots import KEYFRAME_DAYS
from storage.snapshot_codec import pack, pack_against, reference_text


def keyframes(
    session: Session, as_of: date, account_ids: Collection[int] | None = None
) -> dict[int, tuple[date, bytes]]:
    """Each account's latest keyframe usable by a snapshot of ``as_of``: its date and
    stored explanation, for ``account_ids`` (every account when None)."""
    snap = ScoreSnapshot
    stmt = (
        select(snap.account_id, snap.as_of, snap.components_stored)
        .where(
            snap.as_of < as_of,
            snap.as_of > as_of - timedelta(days=KEYFRAME_DAYS),
            snap.components_ref.is_(None),
            snap.components_stored.is_not(None),
        )
        .order_by(snap.as_of)
    )
    if account_ids is not None:
        stmt = stmt.where(snap.account_id.in_(list(account_ids)))
    return {int(a): (d, bytes(c or b"")) for a, d, c in session.execute(stmt)}


def pack_explanations(
    account_ids: list[int],
    components: list[list[Any]],
    reasons: list[list[Any]],
    found: dict[int, tuple[date, bytes]],
    day: Callable[[date], Any],
) -> Iterator[tuple[bytes | None, Any]]:
    """Each account's explanation (its components and reasons) as stored and its
    ``components_ref`` (the keyframe's date as ``day`` hands it to the driver, None for a
    keyframe), given the keyframes ``found`` (:func:`keyframes`); lazily, so packing
    overlaps the database's ingest."""
    for account_id, mine, why in zip(account_ids, components, reasons, strict=True):
        keyframe = found.get(account_id)
        value = [list(mine), list(why)]
        if keyframe is None:
            yield pack(value), None
        else:
            yield pack_against(value, reference_text(keyframe[1])), day(keyframe[0])
