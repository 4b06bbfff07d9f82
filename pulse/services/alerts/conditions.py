"""The conditions alerts are raised for: churn flags (but those of
:data:`scoring.flags.NOT_ALERTED`) and a worsened health tier.

``tier_crossed`` holds when the tier worsened since the previous snapshot (into ``fine``:
warning; into ``at_risk``: critical), and keeps holding while the account stays in the
tier it crossed into or worse.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from pulse.kernel.tiers import TIER_RANK, tier_label
from pulse.services.alerts.base import TIER_ACTION, TIER_LABEL, TIER_RULE
from scoring.flags import FLAG_SPECS, NOT_ALERTED
from storage.models import Alert, ScoreSnapshot

Key = tuple[int, str]
"""(account id, rule): at most one live alert per key."""
Scored = dict[int, tuple[float, list[Any]]]
"""Each scored account's (score, flags) in the latest snapshots."""


@dataclass(frozen=True)
class Condition:
    """A condition that holds in the latest snapshot: what an alert would say."""

    account_id: int
    rule: str
    severity: str
    message: str
    label: str
    action: str | None


def _tier_text(tier: str | None) -> str:
    return tier_label(tier, "unknown")


def find_conditions(
    session: Session,
    latest: date,
    prev: date | None,
    live: dict[Key, Alert],
    account_ids: Collection[int] | None = None,
) -> tuple[dict[Key, Condition], Scored]:
    """Conditions holding in the snapshots of ``latest``, and each scored account's
    (score, flags) then (only ``account_ids``' when given)."""
    only = (
        ScoreSnapshot.account_id.in_(list(account_ids)) if account_ids is not None else true()
    )
    rows = session.execute(
        select(
            ScoreSnapshot.account_id, ScoreSnapshot.score, ScoreSnapshot.tier, ScoreSnapshot.flags
        ).where(ScoreSnapshot.as_of == latest, only)
    ).all()
    previous: dict[int, tuple[str, float]] = {}
    if prev is not None:
        previous = {
            int(a): (t, s)
            for a, t, s in session.execute(
                select(ScoreSnapshot.account_id, ScoreSnapshot.tier, ScoreSnapshot.score)
                .where(ScoreSnapshot.as_of == prev, only)
            ).all()
        }
    found: dict[Key, Condition] = {}
    for account_id, score, tier, flags in rows:
        account_id = int(account_id)
        for flag in flags or []:
            if flag.get("code") in NOT_ALERTED:
                continue
            condition = _flag_condition(account_id, flag)
            found[(account_id, condition.rule)] = condition
        crossed = _tier_condition(
            account_id, score, tier, previous.get(account_id), live.get((account_id, TIER_RULE))
        )
        if crossed is not None:
            found[(account_id, TIER_RULE)] = crossed
    return found, {int(r[0]): (float(r[1]), list(r[3] or [])) for r in rows}


def _flag_condition(account_id: int, flag: dict[str, Any]) -> Condition:
    code = str(flag.get("code"))
    spec = FLAG_SPECS.get(code)
    return Condition(
        account_id=account_id,
        rule=code,
        severity=str(flag.get("severity") or "warning"),
        message=str(flag.get("detail") or flag.get("label") or code),
        label=str(flag.get("label") or (spec.label if spec else code)),
        action=flag.get("action") or (spec.action if spec else None),
    )


def _tier_condition(
    account_id: int,
    score: float,
    tier: str,
    before: tuple[str, float] | None,
    existing: Alert | None,
) -> Condition | None:
    """``tier_crossed`` when it holds: the tier worsened since ``before`` (the previous
    snapshot's tier and score), or the ``existing`` alert's tier is still crossed."""
    rank = TIER_RANK.get(tier)
    if rank is None or rank == 0:
        return None
    if existing is not None:
        crossed_into = 2 if existing.severity == "critical" else 1
        holds = rank >= crossed_into
    else:
        holds = before is not None and rank > TIER_RANK.get(before[0], rank)
    if not holds:
        return None
    if before is not None and TIER_RANK.get(before[0], rank) < rank:
        message = (
            f"Health tier fell from {_tier_text(before[0])} to {_tier_text(tier)} "
            f"(health {before[1]:.1f}/100 -> {score:.1f}/100)"
        )
    else:
        message = f"Health tier is {_tier_text(tier)} (health {score:.1f}/100)"
    return Condition(
        account_id=account_id,
        rule=TIER_RULE,
        severity="critical" if tier == "at_risk" else "warning",
        message=message,
        label=TIER_LABEL,
        action=TIER_ACTION,
    )
