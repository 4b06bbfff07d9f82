"""Small builders of stored rows that several test modules need in the same shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from storage.db import get_engine
from storage.models import Account, Base, ScoreSnapshot, WatchedAccount

WATCHED_SINCE = date(2026, 1, 1)
"""When :func:`watch_all` says Pulse started watching (before any test workspace's dates)."""


def watch_all(session: Session) -> None:
    """Mark every stored account as watched by alert evaluation for a while, so conditions
    raise alerts instead of joining the first-run baseline (tested on its own in
    ``tests/services/test_alert_baseline.py``)."""
    seen = set(session.scalars(select(WatchedAccount.account_id)))
    for account_id in session.scalars(select(Account.id)):
        if account_id not in seen:
            session.add(
                WatchedAccount(
                    account_id=account_id,
                    since=WATCHED_SINCE,
                    at=datetime.combine(WATCHED_SINCE, datetime.min.time()),
                )
            )
    session.flush()


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


CHURN_AS_OF = date(2025, 3, 31)
"""The snapshot date of :func:`load_churn_workspace`."""


def load_churn_workspace(
    session: Session, accounts: int = 240, seed: int = 7, months: int = 0
) -> set[str]:
    """A small workspace for learning: usage up to :data:`CHURN_AS_OF`, then churn.

    Each account has a usage level; the fewer users and active days, and the plan
    ``basic`` (a custom field), the likelier it churned (about a quarter did). With
    ``months`` 0 there are 45 days of usage up to the as-of date and churn 5-55 days
    after it (one snapshot). With ``months`` > 0 usage goes on for that many 30-day
    months after the date, until each churner's churn day, and churn is spread over
    them: a history for several as-of dates. Returns the external ids of the churners.
    """
    import numpy as np
    import pandas as pd

    from pulse.kernel.records import Batch
    from storage.loader import load_batch

    rng = np.random.default_rng(seed)
    level = rng.uniform(0, 1, accounts)
    basic = rng.random(accounts) < 0.5
    risk = 1 / (1 + np.exp(-(-1.2 - 4.0 * (level - 0.35) + 1.2 * basic + 0.5 * months)))
    churns = rng.random(accounts) < risk
    last = 55 if months == 0 else 30 * months
    records, contacts, usage = [], [], []
    churned: set[str] = set()
    for i in range(accounts):
        ext = f"c{i}"
        churn_day = CHURN_AS_OF + timedelta(days=int(rng.integers(5, last + 1)))
        if churns[i]:
            churned.add(ext)
        records.append({
            "external_id": ext, "name": f"Account {i}", "licensed_seats": 4,
            "contract_start": CHURN_AS_OF - timedelta(days=int(rng.integers(100, 900))),
            "renewal_date": CHURN_AS_OF + timedelta(days=int(rng.integers(10, 360))),
            "lifecycle": "churned" if churns[i] else "paid",
            "churned_on": churn_day if churns[i] else None,
            "segment": "smb" if i % 3 else "enterprise", "arr": float(rng.integers(5, 50)) * 1000,
            "custom": {"plan": "basic" if basic[i] else "pro"},
        })
        users = 1 + int(round(3 * level[i]))
        step = 1 + int(round(6 * (1 - level[i])))
        end = 0 if months == 0 else (churn_day - CHURN_AS_OF).days if churns[i] else last
        for u in range(4):
            contacts.append({"external_id": f"{ext}u{u}", "account_external_id": ext,
                             "email": f"u{u}@{ext}.example", "role": "member",
                             "created_on": CHURN_AS_OF - timedelta(days=300)})
            if u >= users:
                continue
            for back in range(0, end + 45, step):  # from the last day backwards
                usage.append({"account_external_id": ext, "user_external_id": f"{ext}u{u}",
                              "feature": "reports" if back % 2 else "login",
                              "day": CHURN_AS_OF + timedelta(days=end - back), "events": 5,
                              "minutes": 10.0})
    load_batch(session, "t", Batch("accounts", records))
    load_batch(session, "t", Batch("contacts", contacts))
    load_batch(session, "t", Batch("usage", pd.DataFrame(usage)))
    session.commit()
    return churned


def learned_model_document(
    below_health: float = 50.0, churns: int = 40, account_dates: int = 400
) -> dict:  # type: ignore[type-arg]
    """A small stored model, as `pulse tune --write` writes it (docs/scoring.md, "The
    file"): more active users and a longer tenure are safer. Written by hand so tests
    that need a learned score do not fit one."""
    return {
        "kind": "points scorecard",
        "version": 1,
        "learned_on": "2025-06-01",
        "training": {
            "as_of_from": "2025-03-31", "as_of_to": "2025-03-31", "horizon": "60d",
            "account_dates": account_dates, "churns": churns, "churned_accounts": churns,
            "churn_dates": ["2025-04-06", "2025-05-25"],
            "validation": "5 folds by account (no account on both sides)",
            "account_fields": {"categorical": [], "numeric": ["tenure_days"]},
        },
        "held_out_auc": {"points scorecard": 0.81, "current score": 0.7},
        "at_risk": {"below_health": below_health, "predicted_risk_above": 0.2,
                    "precision": 0.5, "recall": 0.6, "share_of_accounts": 0.2},
        "health": {"risk_at_zero": 0.0, "risk_per_point": 0.0},
        "intercept": -2.0,
        "inputs": [
            {"name": "active_users", "type": "numeric", "direction": "more -> safer",
             "bins": [{"bin": "< 2", "from": None, "to": 2.0, "log_odds": 1.2},
                      {"bin": "2 to 4", "from": 2.0, "to": 4.0, "log_odds": 0.0},
                      {"bin": ">= 4", "from": 4.0, "to": None, "log_odds": -0.8}],
             "missing": {"log_odds": 0.0, "share_in_training": 0.0}},
            {"name": "account_tenure_days", "type": "numeric", "direction": "more -> safer",
             "bins": [{"bin": "< 365", "from": None, "to": 365.0, "log_odds": 0.5},
                      {"bin": ">= 365", "from": 365.0, "to": None, "log_odds": -0.5}],
             "missing": {"log_odds": 0.0, "share_in_training": 0.0}},
        ],
    }
