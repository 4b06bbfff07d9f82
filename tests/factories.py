"""Small builders of stored rows that several test modules need in the same shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.orm import Session

from storage.models import ScoreSnapshot


def add_snapshot(
    session: Session,
    account_id: int,
    day: date,
    score: float,
    *,
    computed_at: datetime,
    tier: str | None = None,
    expansion_score: float = 12.0,
    renewal_risk: str = "low",
    renewal_risk_score: float = 10.0,
    reasons: Sequence[str] = ("Seats: 3 of 10 seats active (30%)",),
    flags: Sequence[str] = (),
    flush: bool = True,
) -> None:
    """A minimal snapshot: enough for writeback, lists and playbooks; no components.

    ``tier`` defaults to what the score implies with the default cut-offs (50/80 are not
    needed here: fine at 50 and above, at risk below).
    """
    session.add(
        ScoreSnapshot(
            account_id=account_id,
            as_of=day,
            computed_at=computed_at,
            score=score,
            tier=tier or ("fine" if score >= 50 else "at_risk"),
            components=[],
            expansion_score=expansion_score,
            renewal_risk=renewal_risk,
            renewal_risk_score=renewal_risk_score,
            flags=[{"code": code, "label": code, "severity": "high", "action": "", "detail": ""}
                   for code in flags],
            reasons=list(reasons),
        )
    )
    if flush:
        session.flush()


STORY_FLAGS = {
    # a story planted in the sample workspace -> the churn flag meant to name it
    "silent_main_contact": "main_contact_silent",
    "power_user_deactivated": "power_user_deactivated",
    "invoice_overdue": "invoice_overdue",
    "negative_sentiment": "negative_sentiment",
    "onboarding_stuck": "onboarding_stuck",
    "integration_failing": "integration_failing",
}
