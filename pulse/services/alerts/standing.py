"""Where an alerted account stands: the facts an alert card shows beside the alert.

Read from the account's two latest score snapshots: the score and tier with their
change, the parts of the score that lost the most points, how fresh the data behind them
was when scored (``data_as_of`` and ``stale`` written by :func:`scoring.freshness.annotate`),
and its weakest usage signal among peers (:func:`scoring.peers.weakest_peer_note`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digests.views import ScorePart
from scoring.learn.entries import counted
from scoring.peers import weakest_peer_note
from storage.models import Account, ScoreSnapshot

ALERT_REASONS_SHOWN = 3
"""Score parts named on an alert card: the three that lost the most points."""
POINTS_WORTH_SAYING = 0.5
"""A part that lost less than half a point is not a reason."""
FULL_SCORE = 100.0
"""Health scores run 0-100: a rules part can earn its effective weight times this."""


@dataclass(frozen=True)
class Standing:
    """An account's scored state as an alert card shows it."""

    score: float
    tier: str
    prev_score: float | None
    prev_tier: str | None
    renewal_date: date | None
    days_to_renewal: int | None
    reasons: tuple[ScorePart, ...]
    data_as_of: datetime | None
    stale: tuple[str, ...]
    peer_note: str | None


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def score_parts(components: Sequence[Mapping[str, Any]]) -> tuple[ScorePart, ...]:
    """The counted parts that lost the most points, worst first (at most
    :data:`ALERT_REASONS_SHOWN`)."""
    parts: list[ScorePart] = []
    for c in counted(components):
        if not c.get("has_data", True):
            continue
        points = _num(c.get("points")) or 0.0
        raw: Mapping[str, Any] = c["raw"] if isinstance(c.get("raw"), dict) else {}
        if c.get("kind") == "learned":
            most = _num(raw.get("most_points")) or 0.0
        else:
            most = (_num(c.get("effective_weight")) or 0.0) * FULL_SCORE
        if most - points < POINTS_WORTH_SAYING:
            continue
        label = str(c.get("label") or c.get("key") or "component")
        parts.append(ScorePart(label, round(points, 1), round(most, 1), str(c.get("detail") or "")))
    parts.sort(key=lambda p: p.points - p.most)
    return tuple(parts[:ALERT_REASONS_SHOWN])


def _freshness(components: Sequence[Mapping[str, Any]]) -> tuple[datetime | None, tuple[str, ...]]:
    """(oldest ``data_as_of`` of the scored parts, their stale kinds of data)."""
    scored = [c for c in components if c.get("has_data")]
    times = []
    for c in scored:
        try:
            times.append(datetime.fromisoformat(str(c["data_as_of"])))
        except (KeyError, TypeError, ValueError):
            continue
    stale = sorted({str(p) for c in scored for p in c.get("stale") or []})
    return (min(times) if times else None), tuple(stale)


def standings(session: Session, account_ids: Iterable[int]) -> dict[int, Standing]:
    """Each scored account's :class:`Standing`, from its latest two snapshots (two
    queries for all accounts); accounts never scored are left out."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    ss = ScoreSnapshot
    ranked = (
        select(
            ss.account_id,
            ss.as_of,
            ss.score,
            ss.tier,
            ss.components,
            func.row_number()
            .over(partition_by=ss.account_id, order_by=ss.as_of.desc())
            .label("recency"),
        )
        .where(ss.account_id.in_(ids))
        .subquery("ranked")
    )
    rows = session.execute(
        select(ranked).where(ranked.c.recency <= 2).order_by(ranked.c.account_id, ranked.c.recency)
    ).all()
    renewals = dict(
        session.execute(select(Account.id, Account.renewal_date).where(Account.id.in_(ids))).all()
    )
    latest: dict[int, Any] = {}
    previous: dict[int, Any] = {}
    for row in rows:
        if row.account_id not in latest:
            latest[row.account_id] = row
        elif row.account_id not in previous:
            previous[row.account_id] = row
    out: dict[int, Standing] = {}
    for account_id, row in latest.items():
        prev = previous.get(account_id)
        components = [c for c in row.components or [] if isinstance(c, dict)]
        renewal = renewals.get(account_id)
        data_as_of, stale = _freshness(components)
        out[account_id] = Standing(
            score=float(row.score),
            tier=str(row.tier),
            prev_score=float(prev.score) if prev is not None else None,
            prev_tier=str(prev.tier) if prev is not None else None,
            renewal_date=renewal,
            days_to_renewal=(renewal - row.as_of).days if renewal is not None else None,
            reasons=score_parts(components),
            data_as_of=data_as_of,
            stale=stale,
            peer_note=weakest_peer_note(components),
        )
    return out
