"""Daily product usage of the sample workspace, per user and feature.

Vectorised over a users x days matrix: one random draw per user-day decides activity and
one per active user-day and feature decides what was used; Python loops only run per
account, never per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from connectors.sample.context import FOREVER_AGO, Accounts, Run, Users
from connectors.sample.stories import (
    STORY_ROW,
    pin_decline,
    plant_activity,
    plant_feature_plan,
    plant_trends,
)
from connectors.sample.vocabulary import (
    CORE_INDEX,
    DEPARTMENTS,
    FEATURE_INDEX,
    FEATURES,
    ROLES,
)

# Per-feature tuning: base daily-use weight, mean extra events, minutes per event.
FEATURE_WEIGHT = np.array(
    [0.92, 0.45, 0.0, 0.0, 0.0, 0.0, 0.0, 0.15, 0.12, 0.2, 0.05, 0.12], dtype=np.float32
)
FEATURE_EVENTS = np.array([1.5, 3, 4, 5, 3, 2, 25, 2, 1.5, 3, 2, 2], dtype=np.float64)
FEATURE_MINUTES = np.array(
    [0.5, 0.4, 3.0, 2.0, 2.5, 1.0, 0.05, 0.5, 1.0, 1.0, 2.0, 1.5], dtype=np.float64
)
EXTRA_FEATURES: tuple[str, ...] = ("alerts", "exports", "comments", "admin", "mobile")
"""Features beyond login, search and the core ones: unhealthy accounts drop them first."""
CHURN_FADE_DAYS = 42
"""Usage fades over the six weeks before an account churns."""
TREND_DAYS = 90
"""Over the last 90 days unhealthy accounts decline and healthy ones grow a little."""


def _feature_multipliers(table: dict[str, dict[str, float]], keys: tuple[str, ...]) -> np.ndarray:
    out = np.ones((len(keys), len(FEATURES)), dtype=np.float32)
    for key, row in table.items():
        for feature, multiplier in row.items():
            out[keys.index(key), FEATURE_INDEX[feature]] = multiplier
    return out


# Who uses what: admins administer, engineers call the API, finance exports...
ROLE_MULT = _feature_multipliers(
    {
        "owner": {"reports": 1.3, "dashboards": 1.3, "admin": 3.0},
        "admin": {"admin": 6.0, "integrations": 1.5, "api": 1.3},
        "power_user": {
            "reports": 1.6,
            "dashboards": 1.6,
            "workflows": 1.7,
            "integrations": 1.4,
            "api": 1.4,
            "exports": 1.5,
        },
    },
    ROLES,
)
DEPT_MULT = _feature_multipliers(
    {
        "Engineering": {"api": 2.5, "integrations": 2.0, "workflows": 1.3, "reports": 0.6},
        "Finance": {"reports": 1.6, "exports": 2.5, "dashboards": 1.2},
        "Sales": {"dashboards": 1.5, "mobile": 2.0, "api": 0.2},
        "Marketing": {"dashboards": 1.4, "reports": 1.2, "api": 0.3},
        "Ops": {"workflows": 1.8, "alerts": 1.6},
        "Support": {"comments": 2.0, "alerts": 1.4, "api": 0.3},
        "HR": {"reports": 0.8, "api": 0.1},
        "Legal": {"comments": 1.5, "exports": 1.2, "api": 0.1},
        "Product": {"dashboards": 1.3, "api": 1.2},
    },
    DEPARTMENTS,
)


@dataclass
class FeaturePlan:
    """Per account x feature: daily-use weight (breadth follows health) and first-use day."""

    weights: np.ndarray
    starts: np.ndarray


@dataclass
class Usage:
    """The usage section's output: the rows, and what later sections read off them."""

    frame: pd.DataFrame
    last_active: np.ndarray  # per user: last active day index, -1 if never
    plan: FeaturePlan


def usage(run: Run, acc: Accounts, people: Users) -> Usage:
    """Daily usage per user and feature."""
    rng = run.rng("usage")
    odds = _activity_odds(run, rng, acc, people)
    active = rng.random(odds.shape, dtype=np.float32) < odds
    user_i, day_i = np.nonzero(active)
    last_active = np.where(
        active.any(axis=1), run.days - 1 - np.argmax(active[:, ::-1], axis=1), -1
    )
    plan = _feature_plan(run, rng, acc)
    used = _features_used(rng, plan, people, user_i, day_i)
    _ensure_core_usage(run, rng, acc, people, plan, used, user_i, day_i)

    cell_i, feature_i = np.nonzero(used)
    row_user = user_i[cell_i]
    lam = FEATURE_EVENTS[feature_i] * people.intensity[row_user]
    events = 1 + rng.poisson(lam)
    pin_decline(run, events, people.acc[row_user], day_i[cell_i])
    minutes = np.maximum(
        np.round(events * FEATURE_MINUTES[feature_i] * rng.lognormal(0.0, 0.35, len(feature_i)),
                 1),
        0.1,
    )
    account_ext = np.array(acc.ext, dtype=object)
    frame = pd.DataFrame(
        {
            "account_external_id": account_ext[people.acc[row_user]],
            "user_external_id": people.ext[row_user],
            "feature": np.array(FEATURES, dtype=object)[feature_i],
            "day": np.array(run.dates, dtype=object)[day_i[cell_i]],
            "events": events.astype(np.int64),
            "minutes": minutes,
        }
    )
    return Usage(frame, last_active, plan)


def _activity_trend(run: Run, rng: np.random.Generator, acc: Accounts) -> np.ndarray:
    """Account-level activity over time (account x day), relative to today's level: over
    the last 90 days unhealthy accounts decline (a lot), healthy ones grow a little."""
    days = np.arange(run.days)
    health = acc.health
    growth = rng.normal(0.0, 0.04, run.n) + np.where(
        health < 0.65, -1.2 * (0.65 - health), 0.25 * (health - 0.65)
    )
    months_back = (run.days - 1 - np.clip(days, run.days - 1 - TREND_DAYS, run.days - 1)) / 30.0
    trend = np.minimum(np.exp(-growth[:, None] * months_back[None, :]), 4.0).astype(np.float32)
    for i in np.flatnonzero(acc.end_d < run.days):  # usage fades before churn
        trend[i] = np.clip((acc.end_d[i] - days) / float(CHURN_FADE_DAYS), 0.15, 1.0).astype(
            np.float32
        )
    plant_trends(run, trend, days)
    return trend


def _activity_odds(run: Run, rng: np.random.Generator, acc: Accounts, people: Users) -> np.ndarray:
    """Odds of each user being active on each day (user x day)."""
    days = np.arange(run.days)
    weekday = np.array([x.weekday() for x in run.dates])
    week_rhythm = np.where(weekday >= 5, 0.12, np.where(weekday == 4, 0.9, 1.0)).astype(
        np.float32
    )
    trend = _activity_trend(run, rng, acc)
    alive_to = np.minimum(np.minimum(people.stop, people.deact), acc.end_d[people.acc])
    alive = (days[None, :] >= people.created[:, None]) & (days[None, :] < alive_to[:, None])
    odds = people.eng[:, None] * trend[people.acc] * week_rhythm[None, :]
    odds = np.where(alive, np.minimum(odds, 0.97), 0.0)

    # nobody but the planted one has a silent main contact: seen in the last 3 days
    mains = np.flatnonzero(people.main & (acc.end_d[people.acc] == run.days))
    odds[mains, run.days - 1 - rng.integers(0, 3, size=len(mains))] = 1.0
    # young accounts start right away (the planted onboarding story aside)
    young = mains[acc.start_d[people.acc[mains]] > run.ago(61)]
    young = young[people.acc[young] != STORY_ROW["onboarding_stuck"]]
    first = people.created[young] + 1 + rng.integers(0, 3, size=len(young))
    odds[young, np.minimum(first, run.days - 1)] = 1.0
    earlier = mains[people.created[mains] < run.ago(33)]  # same nudge a month before: no
    odds[earlier, run.ago(30) - rng.integers(0, 3, size=len(earlier))] = 1.0  # fake trend
    plant_activity(run, rng, odds, people)
    return odds


def _feature_plan(run: Run, rng: np.random.Generator, acc: Accounts) -> FeaturePlan:
    """Per-account feature weights (breadth follows health) and first-use days."""
    n = run.n
    weights = np.tile(FEATURE_WEIGHT, (n, 1))
    weights[:, FEATURE_INDEX["mobile"]] *= rng.random(n) < 0.6
    extras = [FEATURE_INDEX[f] for f in EXTRA_FEATURES]
    keep = rng.random((n, len(extras))) < (acc.health**1.5)[:, None]
    weights[:, extras] *= keep  # unhealthy accounts stick to a few features
    weights[:, FEATURE_INDEX["search"]] *= 0.4 + 0.6 * acc.health
    k = np.clip(np.rint(0.3 + 5 * acc.health + rng.normal(0, 0.5, n)), 1, 5).astype(int)
    order = np.argsort(rng.random((n, len(CORE_INDEX))), axis=1)
    chosen = order < k[:, None]
    core_w = rng.uniform(0.2, 0.5, size=(n, len(CORE_INDEX))).astype(np.float32)
    weights[:, CORE_INDEX] = np.where(chosen, core_w, 0.0)
    starts = np.full((n, len(FEATURES)), FOREVER_AGO, dtype=np.int64)
    plant_feature_plan(run, weights, starts)
    return FeaturePlan(weights, starts)


def _features_used(
    rng: np.random.Generator,
    plan: FeaturePlan,
    people: Users,
    user_i: np.ndarray,
    day_i: np.ndarray,
) -> np.ndarray:
    """Which features each active user-day used (at least a login)."""
    login = FEATURE_INDEX["login"]
    noise = rng.lognormal(0.0, 0.3, size=(len(people.acc), len(FEATURES))).astype(np.float32)
    odds = plan.weights[people.acc] * ROLE_MULT[people.role] * DEPT_MULT[people.dept] * noise
    odds[:, login] = FEATURE_WEIGHT[login]
    odds = np.clip(odds, 0.0, 0.95)
    used = rng.random((len(user_i), len(FEATURES)), dtype=np.float32) < odds[user_i]
    used &= day_i[:, None] >= plan.starts[people.acc[user_i]]
    used[~used.any(axis=1), login] = True
    return used


def _ensure_core_usage(
    run: Run,
    rng: np.random.Generator,
    acc: Accounts,
    people: Users,
    plan: FeaturePlan,
    used: np.ndarray,
    user_i: np.ndarray,
    day_i: np.ndarray,
) -> None:
    """No account but the planted one goes a month without core usage, or starts without
    it: where one would, some of its active days get its favourite core feature."""
    cell_acc = people.acc[user_i]
    top_core = CORE_INDEX[np.argmax(plan.weights[:, CORE_INDEX], axis=1)]
    first_days = (day_i >= acc.start_d[cell_acc]) & (day_i < acc.start_d[cell_acc] + 10)
    this_month = day_i > run.ago(30)
    last_month = (day_i > run.ago(60)) & ~this_month
    for period in (this_month, last_month, first_days):
        core_cells = period & used[:, CORE_INDEX].any(axis=1)
        with_core = np.bincount(cell_acc[core_cells], minlength=run.n)
        need = (with_core == 0) & (np.bincount(cell_acc[period], minlength=run.n) > 0)
        need[STORY_ROW["onboarding_stuck"]] = False
        fix = need[cell_acc] & period & (people.main[user_i] | (rng.random(len(user_i)) < 0.5))
        used[np.flatnonzero(fix), top_core[cell_acc[fix]]] = True
