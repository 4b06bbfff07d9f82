"""The planted stories: hand-placed accounts with one recognisable problem each.

Tests and the demo rely on them: each story sits on an account with a fixed external id
(:data:`PLANTED`) that is otherwise healthy, so the story is the distinctive problem of its
account. The ``plant_*`` functions shape the generic generator's arrays for these accounts
(only :func:`plant_users` and :func:`plant_activity` draw random numbers, from their
section's stream at a fixed point of it, so generated data stays the same); the sections
themselves keep the generic generator from producing the same problems strongly elsewhere,
by :data:`FIXED_ROWS` and :data:`STORY_ROW`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from connectors.sample.context import AccountDraft, Run, Users
from connectors.sample.vocabulary import CORE_INDEX, DEPARTMENTS, FEATURE_INDEX, TIERS

#: story key -> external id of the account that holds it (stable across seeds).
PLANTED: dict[str, str] = {
    "silent_main_contact": "acct-0003",
    "power_user_deactivated": "acct-0005",
    "expansion": "acct-0007",
    "invoice_overdue": "acct-0009",
    "negative_sentiment": "acct-0011",
    "onboarding_stuck": "acct-0013",
    "steady_decline": "acct-0015",
    "integration_failing": "acct-0017",
}
#: Two deliberately similar names, so fuzzy account search has an ambiguous case.
ACME: dict[str, str] = {"acme_corp": "acct-0001", "acme_logistics": "acct-0019"}


class FixedAccount(NamedTuple):
    """A hand-placed account: the same in every workspace, whatever the seed."""

    name: str
    domain: str
    tier: str
    seats: int
    health: float
    industry: str


FIXED_ACCOUNTS: dict[str, FixedAccount] = {
    "acct-0001": FixedAccount("Acme Corp", "acme.com", "enterprise", 45, 0.86, "Manufacturing"),
    "acct-0003": FixedAccount(
        "Northwind Analytics", "northwindanalytics.com", "mid-market", 50, 0.93, "Software"
    ),
    "acct-0005": FixedAccount("Globex", "globex.com", "enterprise", 40, 0.93, "Financial Services"),
    "acct-0007": FixedAccount("Initech", "initech.com", "mid-market", 30, 0.95, "Software"),
    "acct-0009": FixedAccount(
        "Umbrella Health", "umbrellahealth.com", "mid-market", 25, 0.93, "Healthcare"
    ),
    "acct-0011": FixedAccount(
        "Stark Logistics", "starklogistics.com", "enterprise", 60, 0.92, "Logistics"
    ),
    "acct-0013": FixedAccount("Hooli Labs", "hoolilabs.io", "smb", 10, 0.9, "Software"),
    "acct-0015": FixedAccount("Wayne Retail", "wayneretail.com", "enterprise", 60, 0.93, "Retail"),
    "acct-0017": FixedAccount(
        "Soylent Foods", "soylentfoods.com", "mid-market", 30, 0.93, "Manufacturing"
    ),
    "acct-0019": FixedAccount(
        "Acme Logistics", "acmelogistics.com", "smb", 12, 0.82, "Logistics"
    ),
}
"""External id -> the hand-placed account (the story accounts and the two Acmes)."""

CHURN_SHARE = 0.05
"""Share of accounts that churned inside the window."""
CHURN_PICK_SEED = 20240917
"""Seed of the churned-account pick: fixed, so :data:`CHURNED` does not depend on the seed."""


def fixed_index(ext_id: str) -> int:
    """Row of a fixed account ("acct-0007" -> 6)."""
    return int(ext_id.split("-")[1]) - 1


FIXED_ROWS: list[int] = [fixed_index(ext) for ext in FIXED_ACCOUNTS]
"""Rows of the hand-placed accounts."""
STORY_ROW: dict[str, int] = {key: fixed_index(ext) for key, ext in {**PLANTED, **ACME}.items()}
"""Story key (or Acme key) -> row of the account that holds it."""


def churned_ids(accounts: int = 500) -> list[str]:
    """External ids of the churned accounts (about 5%); fixed per account count, not seed.

    They do not depend on the seed so that :data:`CHURNED` can be a module constant.
    """
    reserved = set(FIXED_ROWS)
    candidates = np.array([i for i in range(accounts) if i not in reserved])
    n = max(1, round(accounts * CHURN_SHARE))
    picked = np.random.default_rng(CHURN_PICK_SEED).choice(candidates, size=n, replace=False)
    return [f"acct-{i + 1:04d}" for i in sorted(picked.tolist())]


#: Churned accounts of the default 500-account workspace.
CHURNED: list[str] = churned_ids(500)


def plant_accounts(draft: AccountDraft) -> None:
    """Put the hand-placed accounts in place, with contracts that renew 4-11 months out."""
    for ext, fixed in FIXED_ACCOUNTS.items():
        i = fixed_index(ext)
        draft.names[i], draft.domains[i], draft.industry[i] = (
            fixed.name, fixed.domain, fixed.industry
        )
        draft.tier[i], draft.seats[i], draft.health[i] = (
            TIERS.index(fixed.tier), fixed.seats, fixed.health
        )
        draft.start_ago[i] = 400 + 37 * (i % 7)  # renewal 4-11 months out, not imminent
        draft.annual[i] = fixed.tier == "enterprise"
    draft.start_ago[STORY_ROW["onboarding_stuck"]] = 20
    draft.start_ago[STORY_ROW["invoice_overdue"]] = 75 + 30 * 14  # monthly, anchor in billing


def plant_user_counts(seats: np.ndarray, n_users: np.ndarray, dormant_share: np.ndarray) -> None:
    """Fixed accounts use every seat and nobody there goes quiet; the expansion account
    has outgrown its seats."""
    n_users[FIXED_ROWS] = seats[FIXED_ROWS]
    expansion = STORY_ROW["expansion"]
    n_users[expansion] = seats[expansion] + 3
    dormant_share[FIXED_ROWS] = 0.0


def deactivated_power_user(users: Users) -> int:
    """The power user whose departure is the ``power_user_deactivated`` story."""
    row = STORY_ROW["power_user_deactivated"]
    return int(np.flatnonzero((users.acc == row) & (users.role == 2))[0])


def plant_users(run: Run, rng: np.random.Generator, users: Users, start_d: np.ndarray) -> None:
    """Shape the people of the planted accounts so each story shows in the raw data."""
    # expansion: a third of the users from before, the rest joining over the last 90
    # days from more and more departments
    members = np.flatnonzero(users.acc == STORY_ROW["expansion"])
    n_early = len(members) // 3
    early, late = members[:n_early], members[n_early:]
    users.created[early] = np.minimum(users.created[early], max(run.ago(95), 0))
    joined = np.linspace(max(run.ago(88), 0), max(run.ago(15), 0), len(late))
    users.created[late] = joined.astype(np.int64)
    users.dept[early] = rng.choice([0, 1], size=len(early))  # Sales, Marketing
    # newcomers bring new departments, in joining order (Finance first, Product last)
    users.dept[late] = 2 + (np.arange(len(late)) * (len(DEPARTMENTS) - 2)) // len(late)
    users.eng[members] = np.maximum(users.eng[members], 0.7)

    # stuck onboarding: only some of the invited users ever log in
    hooli = np.flatnonzero(users.acc == STORY_ROW["onboarding_stuck"])
    users.stop[hooli[-4:]] = users.created[hooli[-4:]]

    # power user leaves 5 days before the end
    row = STORY_ROW["power_user_deactivated"]
    power_user = deactivated_power_user(users)
    users.deact[power_user] = run.ago(5)
    users.created[power_user] = min(
        int(users.created[power_user]), max(run.ago(150), int(start_d[row]))
    )
    users.eng[power_user] = 0.92
    users.intensity[power_user] = max(float(users.intensity[power_user]), 2.0)

    for key in ("silent_main_contact", "steady_decline", "negative_sentiment"):
        members = np.flatnonzero(users.acc == STORY_ROW[key])
        users.eng[members] = np.maximum(users.eng[members], 0.55)


def plant_trends(run: Run, trend: np.ndarray, days: np.ndarray) -> None:
    """Activity level over time (account x day) of the declining and the growing account."""
    row = STORY_ROW["steady_decline"]
    trend[row] = 1.0
    tail = days > run.ago(42)
    trend[row, tail] = 0.85 ** ((days[tail] - run.ago(42)) / 7.0)
    row = STORY_ROW["expansion"]
    trend[row] = np.clip(0.6 + 0.4 * (days - run.ago(90)) / 90.0, 0.6, 1.0)


def plant_activity(run: Run, rng: np.random.Generator, odds: np.ndarray, users: Users) -> None:
    """Daily activity odds (user x day): the silent main contact, the leaving power user's
    last days, and every expansion user active in the last two weeks."""
    silent = np.flatnonzero(users.main & (users.acc == STORY_ROW["silent_main_contact"]))[0]
    odds[silent, run.ago(9) :] = 0.0
    odds[silent, [run.ago(10), run.ago(11), run.ago(13)]] = 1.0
    odds[deactivated_power_user(users), [run.ago(6), run.ago(7), run.ago(8)]] = 1.0
    # every expansion user is active in the last 30 days
    expansion_users = np.flatnonzero(users.acc == STORY_ROW["expansion"])
    odds[expansion_users, run.days - 1 - rng.integers(0, 14, size=len(expansion_users))] = 1.0


CORE_USERS: tuple[str, ...] = (
    "expansion",
    "integration_failing",
    "silent_main_contact",
    "steady_decline",
    "power_user_deactivated",
    "negative_sentiment",
    "invoice_overdue",
    "acme_corp",
)
"""Story accounts that use the core features well, so only their own story stands out."""
EXPANSION_ADOPTION: tuple[tuple[str, int], ...] = (
    ("workflows", 75), ("alerts", 50), ("api", 27), ("integrations", 22), ("exports", 18),
)
"""Features the expansion account took up, with how many days ago (three this month)."""


def plant_feature_plan(run: Run, weights: np.ndarray, starts: np.ndarray) -> None:
    """Feature weights and first-use days (account x feature) of the story accounts."""
    for key in CORE_USERS:
        row = STORY_ROW[key]
        weights[row, CORE_INDEX] = np.maximum(weights[row, CORE_INDEX], 0.35)
    row = STORY_ROW["expansion"]
    for feature, ago in EXPANSION_ADOPTION:  # breadth grows: three features are new this month
        starts[row, FEATURE_INDEX[feature]] = run.ago(ago)
    exports = FEATURE_INDEX["exports"]
    weights[row, exports] = max(float(weights[row, exports]), 0.15)
    row = STORY_ROW["onboarding_stuck"]
    weights[row] = 0.0
    weights[row, [FEATURE_INDEX[f] for f in ("login", "search", "admin")]] = [0.92, 0.5, 0.3]


def pin_decline(run: Run, events: np.ndarray, row_acc: np.ndarray, row_day: np.ndarray) -> None:
    """Pin the steady-decline account's weekly events: flat, then -15% a week.

    Activity probability already declines; a few heavy API users would otherwise add
    enough week-to-week noise to blur the story for some seeds.
    """
    rows = np.flatnonzero(row_acc == STORY_ROW["steady_decline"])
    week = (run.days - 1 - row_day[rows]) // 7  # 0 = the week ending at end_date
    base_rows = rows[(week >= 6) & (week < 10)]
    if not len(base_rows) or week.max() < 9:
        return
    base = events[base_rows].sum() / 4.0
    for k in range(10):  # four steady weeks, then six weeks of decline
        in_week = rows[week == k]
        total = events[in_week].sum()
        if total:
            target = base * 0.85 ** max(5.5 - k, 0.0)
            scaled = np.maximum(1, np.rint(events[in_week] * target / total))
            events[in_week] = scaled.astype(events.dtype)
