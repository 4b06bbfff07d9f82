"""Support tickets and survey answers of the sample workspace: unhealthier accounts file
more tickets, rate them worse and answer surveys lower."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import numpy as np

from connectors.sample.context import Accounts, Run, Users
from connectors.sample.stories import STORY_ROW

TICKET_SUBJECTS: dict[str, tuple[str, ...]] = {
    "negative": (
        "Reports keep timing out - this is blocking our month-end close",
        "Third sync failure this week, our team is losing trust in the data",
        "Dashboard numbers don't match our CRM again",
        "Very disappointed with response time on our last ticket",
        "Export broke our finance workflow, need escalation",
    ),
    "neutral": (
        "How do I add a new workspace admin?",
        "Question about SSO configuration",
        "Request: change billing contact",
        "Dashboard filter by region",
        "API rate limit clarification",
        "How to schedule a weekly report",
        "Invite link expired",
        "Workflow trigger not firing on weekends",
        "CSV export column order",
        "Seat count on latest invoice",
    ),
    "positive": (
        "Thanks for the quick fix on the alerts issue!",
        "Great new dashboards - small feature request",
        "Loving the workflows builder, one question",
        "Quick question about the new API endpoints",
    ),
}
NPS_COMMENTS: dict[str, tuple[str, ...]] = {
    "promoter": (
        "Our team lives in the dashboards.",
        "Workflows saved us hours every week.",
        "Great support and fast releases.",
    ),
    "passive": (
        "Solid product, reporting could be faster.",
        "Good overall; the API docs need work.",
    ),
    "detractor": (
        "Too hard to get the team to adopt it.",
        "Data sync issues keep coming back.",
        "Pricing is hard to justify for our usage.",
    ),
}
NEGATIVE_GAP_DAYS = 95
"""Generic accounts file at most one negative ticket per 95 days, so two within 90 days
stays the planted story's own."""
SURVEY_SHARE = 0.7
"""Share of accounts that answered any survey."""


def _users_by_account(run: Run, people: Users) -> list[np.ndarray]:
    counts = np.bincount(people.acc, minlength=run.n)
    return np.split(np.arange(len(people.acc)), np.cumsum(counts)[:-1])


def tickets(run: Run, acc: Accounts, people: Users) -> list[dict[str, Any]]:
    """Support tickets; unhealthier and bigger accounts file more and rate them worse."""
    rng = run.rng("tickets")
    out: list[dict[str, Any]] = []
    by_acc = _users_by_account(run, people)
    stark = STORY_ROW["negative_sentiment"]
    seq = 100001
    for i in range(run.n):
        lo = max(int(acc.start_d[i]), 0)
        hi = int(acc.end_d[i])
        if hi <= lo:
            continue
        rate = (0.15 + 0.02 * acc.seats[i]) * (1.6 - acc.health[i])  # per 30 days
        count = int(rng.poisson(rate * (hi - lo) / 30.0))
        when = np.sort(rng.uniform(lo, hi, count))
        planted: list[float] = []
        if i == stark:
            planted = [float(run.ago(70)) + 0.4, float(run.ago(12)) + 0.6]
            when = np.sort(np.concatenate([when, planted]))
        p_neg = 0.03 + 0.1 * (1 - acc.health[i])
        last_neg = -1e9
        for t in when:
            r = rng.random()
            generic_neg = i != stark and r < p_neg and t - last_neg > NEGATIVE_GAP_DAYS
            if t in planted or generic_neg:
                sentiment = "negative"
            else:
                sentiment = "positive" if rng.random() < 0.3 else "neutral"
            if sentiment == "negative":
                last_neg = t
            out.append(_ticket(run, rng, acc, people, seq, i, t, sentiment, by_acc[i]))
            seq += 1
    return out


def _ticket(
    run: Run,
    rng: np.random.Generator,
    acc: Accounts,
    people: Users,
    seq: int,
    i: int,
    t: float,
    sentiment: str,
    members: np.ndarray,
) -> dict[str, Any]:
    created = datetime.combine(run.day(int(t)), time(0)) + timedelta(
        hours=8 + 10 * (t - int(t))
    )
    created = created.replace(microsecond=0, second=0)
    now = datetime.combine(run.end, time(23, 59))
    age_days = (now - created).days
    priority = ("low", "normal", "high", "urgent")[
        int(
            rng.choice(
                4,
                p=[0.3, 0.5, 0.15, 0.05] if sentiment != "negative" else [0.05, 0.35, 0.4, 0.2],
            )
        )
    ]
    solve_hours = float(rng.lognormal(3.0, 1.0))
    solved: datetime | None = created + timedelta(hours=solve_hours)
    if (age_days < 7 and rng.random() < 0.6) or (solved is not None and solved > now):
        status = ("new", "open", "pending", "hold")[int(rng.choice(4, p=[0.3, 0.4, 0.2, 0.1]))]
        solved = None
    else:
        status = "closed" if age_days > 30 else "solved"
    satisfaction = None
    if solved is not None:
        r = rng.random()
        if sentiment == "negative":
            satisfaction = "bad" if r < 0.6 else None
        else:
            bad = 0.03 + 0.4 * (1 - acc.health[i]) ** 2  # unhappy accounts rate bad
            satisfaction = "bad" if r < bad else ("good" if r < bad + 0.5 else None)
    subjects = TICKET_SUBJECTS[sentiment]
    eligible = members[people.created[members] <= t] if len(members) else members
    contact = None
    if len(eligible) and rng.random() < 0.92:
        contact = str(people.ext[eligible[rng.integers(len(eligible))]])
    return {
        "external_id": f"zd-{seq}",
        "account_external_id": acc.ext[i],
        "contact_external_id": contact,
        "subject": subjects[int(rng.integers(len(subjects)))],
        "priority": priority,
        "status": status,
        "created_at": created,
        "solved_at": solved.replace(microsecond=0) if solved else None,
        "satisfaction": satisfaction,
        "sentiment": sentiment,
    }


def surveys(run: Run, acc: Accounts, people: Users) -> list[dict[str, Any]]:
    """NPS and some CSAT answers following health; ~30% of accounts answer nothing."""
    rng = run.rng("surveys")
    out: list[dict[str, Any]] = []
    by_acc = _users_by_account(run, people)
    has_any = rng.random(run.n) < SURVEY_SHARE
    seq = 1
    for i in range(run.n):
        if not has_any[i]:
            continue
        lo = max(int(acc.start_d[i]) + 14, 0)
        hi = int(acc.end_d[i])
        if hi <= lo:
            continue
        kinds: list[str] = []
        if rng.random() < 0.9:
            kinds += ["nps"] * int(rng.integers(1, 5))
        if rng.random() < 0.4 or not kinds:
            kinds += ["csat"] * int(rng.integers(1, 4))
        for kind in kinds:
            t = float(rng.uniform(lo, hi))
            members = by_acc[i]
            eligible = members[people.created[members] <= t]
            if not len(eligible):
                continue
            contact = eligible[rng.integers(len(eligible))]
            out.append(_answer(run, rng, kind, seq, acc, i, str(people.ext[contact]), t))
            seq += 1
    return out


def _answer(
    run: Run,
    rng: np.random.Generator,
    kind: str,
    seq: int,
    acc: Accounts,
    i: int,
    contact: str,
    t: float,
) -> dict[str, Any]:
    """One survey answer (NPS 0-10 or CSAT 1-5) at fractional day ``t``."""
    health = acc.health[i]
    if kind == "nps":
        score = int(np.clip(np.rint(2 + 8 * health + rng.normal(0, 1.3)), 0, 10))
        band = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    else:
        score = int(np.clip(np.rint(1 + 4 * health + rng.normal(0, 0.6)), 1, 5))
        band = "promoter" if score >= 4 else "passive" if score == 3 else "detractor"
    comment = None
    if rng.random() < 0.35:
        options = NPS_COMMENTS[band]
        comment = options[int(rng.integers(len(options)))]
    at = datetime.combine(run.day(int(t)), time(9)) + timedelta(minutes=int((t - int(t)) * 600))
    return {
        "external_id": f"{kind}-{seq:06d}",
        "account_external_id": acc.ext[i],
        "contact_external_id": contact,
        "kind": kind,
        "score": score,
        "comment": comment,
        "responded_at": at,
    }
