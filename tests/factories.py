"""Small builders of stored rows that several test modules need in the same shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from storage.db import get_engine
from storage.models import Base, ScoreSnapshot


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


AS_OF = date(2025, 6, 30)


def healthy_record(**overrides: Any) -> dict[str, Any]:
    """A well-used, paying account; tests change one thing at a time."""
    rec: dict[str, Any] = {
        "account_id": 1,
        "account_name": "Acme",
        "licensed_seats": 50,
        "contract_start": date(2024, 1, 1),
        "renewal_date": date(2026, 1, 1),
        "lifecycle": "paid",
        "active_users": 41,
        "features_used": 6,
        "weighted_events": 41 * 150.0,
        "weighted_events_prev": 41 * 150.0,
        "core_events": 41 * 40,
        "user_days": 41 * 14,
        "weighted_features_used": 12.0,
        "core_features_used": 3,
        "nps_latest": 9,
        "csat_avg": 4.6,
        "csat_responses": 5,
    }
    rec.update(overrides)
    return rec


def truncate_pg(url: str) -> None:
    """Empty every Pulse table of a PostgreSQL database (faster than re-creating it)."""
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
