"""A deterministic, believable B2B SaaS workspace, exposed as the ``sample`` source.

Demos, tests and benchmarks need data that looks like a real customer base (tiers, seats,
weekly rhythms, billing, tickets, surveys) and that holds a few known problems, so the
scorer, the flags and the bot have something recognisable to find. Everything comes from
``numpy`` generators seeded by ``seed``; dates are laid out relative to ``end_date``, so
the same seed and end date always give identical data, and a different end date gives the
same story shifted in time.

Seat counts are scaled so that seats x adoption is about 5,000 users for 500 accounts
(SMB 3-9, mid-market 6-28, enterprise 15-80 seats): active-users / licensed-seats must be
a meaningful ratio for the scorer, and realistic ratios need users and seats of one scale.

Planted stories (see :data:`PLANTED`) sit on accounts with fixed external ids that are
otherwise healthy, so that each story is the distinctive problem of its account; the
generic generator is kept from producing the same problems strongly elsewhere.
"""

from __future__ import annotations

import calendar
import string
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd

from connectors.base import Connector, register
from pulse.kernel.config import PulseConfig, SampleSourceConfig
from pulse.kernel.records import ENTITY_ORDER, Batch

FEATURES: tuple[str, ...] = (
    "login",
    "search",
    "reports",
    "dashboards",
    "workflows",
    "integrations",
    "api",
    "alerts",
    "exports",
    "comments",
    "admin",
    "mobile",
)
CORE_FEATURES: tuple[str, ...] = ("reports", "dashboards", "workflows", "integrations", "api")
TIERS: tuple[str, ...] = ("smb", "mid-market", "enterprise")
SEGMENTS: dict[str, str] = {"smb": "SMB", "mid-market": "Mid-Market", "enterprise": "Enterprise"}
REGIONS: tuple[str, ...] = ("NA", "EMEA", "APAC", "LATAM")
ROLES: tuple[str, ...] = ("owner", "admin", "power_user", "member")
DEPARTMENTS: tuple[str, ...] = (
    "Sales",
    "Marketing",
    "Finance",
    "Ops",
    "Engineering",
    "Support",
    "HR",
    "Legal",
    "Product",
)
INTEGRATIONS: tuple[str, ...] = (
    "salesforce-sync",
    "hubspot-sync",
    "slack",
    "webhooks",
    "jira",
    "snowflake-export",
    "zendesk-sync",
)
DEMO_EMAIL_DOMAIN = "pulse-demo.example"
ENTERPRISE_TEAM = "Enterprise CS"
GROWTH_TEAM = "Growth CS"

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

# external id -> (name, domain, tier, seats, health, industry)
_FIXED: dict[str, tuple[str, str, str, int, float, str]] = {
    "acct-0001": ("Acme Corp", "acme.com", "enterprise", 45, 0.86, "Manufacturing"),
    "acct-0003": (
        "Northwind Analytics",
        "northwindanalytics.com",
        "mid-market",
        50,
        0.93,
        "Software",
    ),
    "acct-0005": ("Globex", "globex.com", "enterprise", 40, 0.93, "Financial Services"),
    "acct-0007": ("Initech", "initech.com", "mid-market", 30, 0.95, "Software"),
    "acct-0009": ("Umbrella Health", "umbrellahealth.com", "mid-market", 25, 0.93, "Healthcare"),
    "acct-0011": ("Stark Logistics", "starklogistics.com", "enterprise", 60, 0.92, "Logistics"),
    "acct-0013": ("Hooli Labs", "hoolilabs.io", "smb", 10, 0.9, "Software"),
    "acct-0015": ("Wayne Retail", "wayneretail.com", "enterprise", 60, 0.93, "Retail"),
    "acct-0017": ("Soylent Foods", "soylentfoods.com", "mid-market", 30, 0.93, "Manufacturing"),
    "acct-0019": ("Acme Logistics", "acmelogistics.com", "smb", 12, 0.82, "Logistics"),
}

_SEAT_RANGE: dict[str, tuple[int, int]] = {
    "smb": (3, 9),
    "mid-market": (6, 28),
    "enterprise": (15, 80),
}
_SEAT_PRICE: dict[str, tuple[float, float]] = {  # per seat per year, USD
    "smb": (540.0, 780.0),
    "mid-market": (780.0, 1080.0),
    "enterprise": (1080.0, 1500.0),
}
_PLAN: dict[str, str] = {"smb": "starter", "mid-market": "growth", "enterprise": "enterprise"}
_ANNUAL_SHARE: dict[str, float] = {"smb": 0.2, "mid-market": 0.55, "enterprise": 0.9}
_PRODUCT_LINES: tuple[str, ...] = ("Analytics", "Automation", "Analytics + Automation")


def _words(text: str) -> tuple[str, ...]:
    """Split a comma-separated word list (kept compact so the lists stay readable)."""
    return tuple(w.strip() for w in text.split(",") if w.strip())


_INDUSTRY_SUFFIX: dict[str, tuple[str, ...]] = {
    "Software": ("Labs", "Systems", "Software", "Cloud", "Data"),
    "Financial Services": ("Capital", "Financial", "Partners", "Payments", "Bank"),
    "Healthcare": ("Health", "Medical", "Care", "Clinics", "Bio"),
    "Retail": ("Retail", "Outfitters", "Market", "Goods", "Stores"),
    "Manufacturing": ("Industries", "Manufacturing", "Works", "Fabrication", "Materials"),
    "Logistics": ("Logistics", "Freight", "Shipping", "Transport", "Supply"),
    "Education": ("Learning", "Academy", "Education", "Institute", "Schools"),
    "Media": ("Media", "Studios", "Publishing", "Digital", "Creative"),
    "Professional Services": ("Consulting", "Advisors", "Group", "Associates", "Solutions"),
    "Real Estate": ("Properties", "Realty", "Estates", "Homes", "Spaces"),
}
_INDUSTRIES: tuple[str, ...] = tuple(_INDUSTRY_SUFFIX)
_INDUSTRY_P = np.array([0.2, 0.11, 0.1, 0.1, 0.1, 0.08, 0.07, 0.08, 0.1, 0.06])
_NAME_WORDS: tuple[str, ...] = _words(
    "Blue Harbor, Silver Peak, Redwood, Brightline, Cobalt, Evergreen, Granite, Harborview, "
    "Ironclad, Juniper, Keystone, Lakeshore, Meridian, Northstar, Oakridge, Pinnacle, "
    "Quantum, Riverbend, Summit, Tidewater, Uplift, Vantage, Westfield, Zenith, Apex, "
    "Beacon, Cascade, Driftwood, Ember, Foxglove, Golden Gate, Highland, Indigo, Jetstream, "
    "Kestrel, Lumen, Maple, Nimbus, Orchid, Polaris, Quarry, Riverstone, Sapphire, "
    "Tallgrass, Union Square, Verdant, Willow, Yellowstone, Arcadia, Bluebird, Crescent, "
    "Delta, Everest, Falcon, Greystone, Horizon, Ironwood, Lighthouse, Monarch, Nova, Orion, "
    "Prairie, Red Rock, Sequoia, Sterling, Trident, Vertex, Wildflower, Aurora, Bristol, "
    "Copperfield, Dunmore, Elmwood, Fairview, Gladstone, Hawthorne, Ivy Lane, Kingsbridge, "
    "Larkspur, Millbrook, Newport, Pacific Crest, Ridgeway, Stonebridge, Thornbury, Waverly"
)
_NAME_EXTRA: tuple[str, ...] = ("Global", "United", "North", "Pacific", "Atlantic", "Prime")
_FIRST: tuple[str, ...] = _words(
    "Alex, Priya, Jordan, Mei, Samuel, Fatima, Lucas, Aisha, Daniel, Sofia, Omar, Hannah, "
    "Mateo, Chloe, Ethan, Yuki, Noah, Zara, Liam, Elena, Kwame, Grace, Diego, Nina, Ravi, "
    "Olivia, Tomas, Leila, Benjamin, Ana, Chen, Isabel, Marcus, Amara, Felix, Julia, Hiro, "
    "Maya, Victor, Ines, Arjun, Clara, Kofi, Emma, Pedro, Sara, Jonas, Lina, Max, Rosa, "
    "Tariq, Freya, Andre, Naomi, Ivan, Keiko, Leo, Alma, Rahul, Eva"
)
_LAST: tuple[str, ...] = _words(
    "Smith, Patel, Garcia, Nguyen, Kim, Okafor, Müller, Rossi, Silva, Cohen, Johnson, Singh, "
    "Martinez, Tanaka, Brown, Hassan, Dubois, Novak, Larsen, Williams, Chen, Lopez, "
    "Andersson, Kowalski, Mensah, Ivanova, Haddad, Fischer, Moreau, Santos, Yamamoto, "
    "Murphy, Schmidt, Reyes, Ali, Wright, Costa, Park, Bauer, Oliveira, Nakamura, Clarke, "
    "Romero, Sato, Walker, Lindqvist, Mbeki, Petrov, Fernandes, Ortiz, Campbell, Yilmaz, "
    "Jensen"
)
_OWNER_NAMES: tuple[str, ...] = _words(
    "Dana Whitfield, Marco Bellini, Sunita Rao, Jamal Carter, Erin O'Neill, Tobias Lind, "
    "Grace Adeyemi, Kenji Watanabe, Laura Méndez, Ben Goldberg, Hana Kovač, Owen Fletcher, "
    "Priscilla Tan, Rafael Duarte, Claire Dubois"
)

_TICKET_SUBJECTS: dict[str, tuple[str, ...]] = {
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
_NPS_COMMENTS: dict[str, tuple[str, ...]] = {
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

# Per-feature tuning: base daily-use weight, mean extra events, minutes per event.
_FEATURE_WEIGHT = np.array(
    [0.92, 0.45, 0.0, 0.0, 0.0, 0.0, 0.0, 0.15, 0.12, 0.2, 0.05, 0.12], dtype=np.float32
)
_FEATURE_EVENTS = np.array([1.5, 3, 4, 5, 3, 2, 25, 2, 1.5, 3, 2, 2], dtype=np.float64)
_FEATURE_MINUTES = np.array(
    [0.5, 0.4, 3.0, 2.0, 2.5, 1.0, 0.05, 0.5, 1.0, 1.0, 2.0, 1.5], dtype=np.float64
)
_F = {f: i for i, f in enumerate(FEATURES)}
_CORE_IDX = np.array([_F[f] for f in CORE_FEATURES])


def _feature_multipliers(table: dict[str, dict[str, float]], keys: tuple[str, ...]) -> np.ndarray:
    out = np.ones((len(keys), len(FEATURES)), dtype=np.float32)
    for k, row in table.items():
        for f, m in row.items():
            out[keys.index(k), _F[f]] = m
    return out


# Who uses what: admins administer, engineers call the API, finance exports...
_ROLE_MULT = _feature_multipliers(
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
_DEPT_MULT = _feature_multipliers(
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

_B62 = np.array(list(string.digits + string.ascii_letters))
_NEVER = np.iinfo(np.int32).max // 2
_FOREVER_AGO = -_NEVER


def _fixed_index(ext_id: str) -> int:
    return int(ext_id.split("-")[1]) - 1


def churned_ids(accounts: int = 500) -> list[str]:
    """External ids of the churned accounts (about 5%); fixed per account count, not seed.

    They do not depend on the seed so that :data:`CHURNED` can be a module constant.
    """
    reserved = {_fixed_index(e) for e in _FIXED}
    candidates = np.array([i for i in range(accounts) if i not in reserved])
    n = max(1, round(accounts * 0.05))
    picked = np.random.default_rng(20240917).choice(candidates, size=n, replace=False)
    return [f"acct-{i + 1:04d}" for i in sorted(picked.tolist())]


#: Churned accounts of the default 500-account workspace.
CHURNED: list[str] = churned_ids(500)


def _rand_ids(rng: np.random.Generator, n: int, k: int) -> list[str]:
    return ["".join(row) for row in _B62[rng.integers(0, 62, size=(n, k))]]


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    m += 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _next_anniversary(start: date, after: date, months: int = 12) -> date:
    """First date ``start + k*months`` strictly after ``after``."""
    k = max(1, ((after.year - start.year) * 12 + after.month - start.month) // months)
    while _add_months(start, k * months) <= after:
        k += 1
    while k > 1 and _add_months(start, (k - 1) * months) > after:
        k -= 1
    return _add_months(start, k * months)


def _slug(text: str) -> str:
    """Lower-case ASCII letters and digits only (for domains and e-mail local parts)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


@dataclass
class _Accounts:
    """Per-account arrays shared by every section of the generator."""

    ext: list[str]
    name: list[str]
    domain: list[str]
    tier: np.ndarray  # int index into TIERS
    health: np.ndarray  # latent 0..1
    seats: np.ndarray
    arr: np.ndarray
    start_d: np.ndarray  # contract start as a day index (negative: before the window)
    end_d: np.ndarray  # churn day index, or `days` when still a customer
    annual: np.ndarray  # billed annually


@dataclass
class _Users:
    """Per-user arrays; a user is a contact who may use the product."""

    acc: np.ndarray
    role: np.ndarray
    dept: np.ndarray
    created: np.ndarray
    stop: np.ndarray  # day from which the user is dormant (`_NEVER`: never)
    deact: np.ndarray  # deactivation day (`_NEVER`: not deactivated)
    eng: np.ndarray  # weekday probability of being active
    intensity: np.ndarray
    main: np.ndarray
    name: list[str]
    email: list[str]


class _Gen:
    """Holds the shared state of one generation run."""

    def __init__(self, seed: int, end_date: date, accounts: int, days: int) -> None:
        if accounts < 20:
            raise ValueError("the sample workspace needs at least 20 accounts")
        if days < 30:
            raise ValueError("the sample workspace needs at least 30 days of history")
        self.end = end_date
        self.n = accounts
        self.days = days
        self.start = end_date - timedelta(days=days - 1)
        self.dates = [self.start + timedelta(days=i) for i in range(days)]
        self.rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(9)]
        self.idx = {key: _fixed_index(ext) for key, ext in PLANTED.items()}
        self.idx.update({key: _fixed_index(ext) for key, ext in ACME.items()})

    def day(self, d: int) -> date:
        return self.start + timedelta(days=int(d))

    def ago(self, k: int) -> int:
        """Day index of ``end_date - k days``."""
        return self.days - 1 - k

    # ------------------------------------------------------------------ owners
    def owners(self) -> list[dict[str, Any]]:
        """Two CS teams, each a manager and a few CSMs, so digests can roll up by manager."""
        rng = self.rngs[0]
        names = [_OWNER_NAMES[i] for i in rng.permutation(len(_OWNER_NAMES))[:11]]
        crm = _rand_ids(rng, 11, 12)
        out: list[dict[str, Any]] = []
        layout = [(ENTERPRISE_TEAM, 4), (GROWTH_TEAM, 5)]
        i = 0
        self.csms: dict[str, list[str]] = {}
        for team, n_csm in layout:
            manager = f"own-{i + 1:02d}"
            self.csms[team] = []
            for k in range(n_csm + 1):
                ext = f"own-{i + 1:02d}"
                first, last = names[i].split(" ", 1)
                out.append(
                    {
                        "external_id": ext,
                        "name": names[i],
                        "email": f"{_slug(first)}.{_slug(last)}@{DEMO_EMAIL_DOMAIN}",
                        "crm_owner_id": f"005Dn{crm[i].upper()}"[:15] + "AAA",
                        "slack_user_id": f"U0CSM{i + 1:04d}",
                        "team": team,
                        "is_manager": k == 0,
                        "manager_external_id": None if k == 0 else manager,
                    }
                )
                if k:
                    self.csms[team].append(ext)
                i += 1
        return out

    # ---------------------------------------------------------------- accounts
    def accounts(self) -> tuple[_Accounts, list[dict[str, Any]]]:
        """Accounts and their latent health, which drives every later section.

        Health is drawn from three bands (about half healthy, a third so-so, a fifth in
        trouble), so that a scorer finds a realistic spread rather than a uniform blur.
        """
        rng = self.rngs[1]
        n, days = self.n, self.days
        tier = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])
        cls = rng.choice(3, size=n, p=[0.49, 0.32, 0.19])  # latent healthy / fine / at risk
        health = np.select(
            [cls == 0, cls == 1],
            [rng.uniform(0.76, 1.0, n), rng.uniform(0.42, 0.68, n)],
            rng.uniform(0.03, 0.3, n),
        )
        u = rng.random(n) ** 1.8  # skewed towards small accounts, long tail of big ones
        lo = np.array([_SEAT_RANGE[t][0] for t in TIERS])[tier]
        hi = np.array([_SEAT_RANGE[t][1] for t in TIERS])[tier]
        seats = np.rint(lo * (hi / lo) ** u).astype(np.int64)
        industry_i = rng.choice(len(_INDUSTRIES), size=n, p=_INDUSTRY_P / _INDUSTRY_P.sum())
        region = rng.choice(4, size=n, p=[0.45, 0.3, 0.15, 0.1])
        annual = rng.random(n) < np.array([_ANNUAL_SHARE[t] for t in TIERS])[tier]
        # contract start: mostly 6 months - 3 years ago, some inside the window
        start_ago = rng.integers(days + 10, 3 * 365, size=n)
        inside = rng.random(n) < 0.08
        start_ago[inside] = rng.integers(31, max(days, 61), size=int(inside.sum()))

        churned = np.zeros(n, bool)
        churned[[_fixed_index(e) for e in churned_ids(n)]] = True
        fixed = np.zeros(n, bool)
        fixed[[_fixed_index(e) for e in _FIXED]] = True
        free = np.flatnonzero(~fixed & ~churned)
        trial = np.zeros(n, bool)
        trial[rng.choice(free, size=max(1, round(n * 0.05)), replace=False)] = True
        free = np.flatnonzero(~fixed & ~churned & ~trial)
        new = np.zeros(n, bool)
        new[rng.choice(free, size=max(1, round(n * 0.04)), replace=False)] = True
        start_ago[new] = rng.integers(5, 31, size=int(new.sum()))
        start_ago[trial] = rng.integers(3, 29, size=int(trial.sum()))
        tier[trial] = rng.choice(2, size=int(trial.sum()), p=[0.65, 0.35])  # trials are small
        t_lo = np.array([_SEAT_RANGE[t][0] for t in TIERS])[tier[trial]]
        t_hi = np.array([_SEAT_RANGE[t][1] for t in TIERS])[tier[trial]]
        seats[trial] = np.rint(t_lo * (t_hi / t_lo) ** u[trial]).astype(np.int64)

        end_d = np.full(n, days, dtype=np.int64)
        lo_churn = min(45, days // 3)
        n_churn = int(churned.sum())  # spread evenly over the window, with some jitter
        slots = np.linspace(lo_churn, days - 3, n_churn + 1)
        end_d[churned] = rng.permutation(
            np.rint(slots[:-1] + rng.random(n_churn) * np.diff(slots)).astype(np.int64)
        )
        health[churned] = rng.uniform(0.3, 0.6, int(churned.sum()))
        start_ago[churned] = np.maximum(start_ago[churned], days - end_d[churned] + 200)

        names: list[str | None] = [None] * n
        domains: list[str | None] = [None] * n
        industry = [_INDUSTRIES[i] for i in industry_i]
        for ext, (nm, dom, t, s, h, ind) in _FIXED.items():
            i = _fixed_index(ext)
            names[i], domains[i], industry[i] = nm, dom, ind
            tier[i], seats[i], health[i] = TIERS.index(t), s, h
            start_ago[i] = 400 + 37 * (i % 7)  # renewal 4-11 months out, not imminent
            annual[i] = t == "enterprise"
        start_ago[self.idx["onboarding_stuck"]] = 20
        start_ago[self.idx["invoice_overdue"]] = 75 + 30 * 14  # monthly, anchor below

        self._name_accounts(rng, names, domains, industry)

        price_lo = np.array([_SEAT_PRICE[t][0] for t in TIERS])[tier]
        price_hi = np.array([_SEAT_PRICE[t][1] for t in TIERS])[tier]
        price = rng.uniform(price_lo, price_hi)
        fee = np.select(
            [tier == 2, tier == 1], [rng.uniform(12000, 36000, n), rng.uniform(0, 6000, n)], 0.0
        )
        arr = np.round((seats * price + fee) / 100.0) * 100.0
        arr[trial] = 0.0

        start_d = days - 1 - start_ago
        lifecycle = np.where(churned, "churned", np.where(trial, "trial", "paid")).tolist()
        dnc = (rng.random(n) < 0.02) & ~fixed
        sf = _rand_ids(rng, n, 12)
        has_sf = rng.random(n) < 0.85
        hs = rng.integers(10**9, 10**10, size=n)
        has_hs = rng.random(n) < 0.35
        cus = _rand_ids(rng, n, 14)
        zd = rng.integers(10**11, 10**12, size=n)
        has_zd = rng.random(n) < 0.75
        product_line = rng.choice(len(_PRODUCT_LINES), size=n, p=[0.45, 0.2, 0.35])
        csm_pick = rng.integers(0, 1000, size=n)

        acc = _Accounts(
            ext=[f"acct-{i + 1:04d}" for i in range(n)],
            name=[str(x) for x in names],
            domain=[str(x) for x in domains],
            tier=tier,
            health=health,
            seats=seats,
            arr=arr,
            start_d=start_d,
            end_d=end_d,
            annual=annual & ~trial,
        )
        self.acc = acc
        records: list[dict[str, Any]] = []
        for i in range(n):
            t = TIERS[tier[i]]
            team = ENTERPRISE_TEAM if t == "enterprise" else GROWTH_TEAM
            csms = self.csms[team]
            contract_start = self.day(start_d[i])
            if churned[i]:
                churned_on: date | None = self.day(end_d[i])
                renewal: date = churned_on
            elif trial[i]:
                churned_on = None
                renewal = contract_start + timedelta(days=30)
            else:
                churned_on = None
                renewal = _next_anniversary(contract_start, self.end)
            records.append(
                {
                    "external_id": acc.ext[i],
                    "name": acc.name[i],
                    "domain": acc.domain[i],
                    "salesforce_id": f"001{sf[i]}AAA" if has_sf[i] else None,
                    "hubspot_id": str(hs[i]) if has_hs[i] else None,
                    "stripe_customer_id": f"cus_{cus[i]}",
                    "zendesk_org_id": str(zd[i]) if has_zd[i] else None,
                    "owner_external_id": csms[csm_pick[i] % len(csms)],
                    "tier": t,
                    "segment": SEGMENTS[t],
                    "region": REGIONS[region[i]],
                    "industry": industry[i],
                    "arr": float(arr[i]),
                    "mrr": round(float(arr[i]) / 12.0, 2),
                    "licensed_seats": int(seats[i]),
                    "contract_start": contract_start,
                    "renewal_date": renewal,
                    "lifecycle": lifecycle[i],
                    "churned_on": churned_on,
                    "do_not_contact": bool(dnc[i]),
                    "custom": {"product_line": _PRODUCT_LINES[product_line[i]]},
                }
            )
        return acc, records

    def _name_accounts(
        self,
        rng: np.random.Generator,
        names: list[str | None],
        domains: list[str | None],
        industry: list[str],
    ) -> None:
        """Fill in unique company names and domains, avoiding the planted names."""
        taken = {str(x).lower() for x in names if x}
        taken_dom = {str(x) for x in domains if x}
        tlds = (".com", ".com", ".com", ".io", ".co")
        for i in range(len(names)):
            if names[i]:
                continue
            suffixes = _INDUSTRY_SUFFIX[industry[i]]
            for attempt in range(1000):
                word = _NAME_WORDS[rng.integers(len(_NAME_WORDS))]
                suffix = suffixes[rng.integers(len(suffixes))]
                if attempt >= 30:
                    word = f"{_NAME_EXTRA[rng.integers(len(_NAME_EXTRA))]} {word}"
                if attempt >= 200:
                    word = f"{word} {attempt}"
                candidate = f"{word} {suffix}"
                domain = _slug(candidate) + tlds[rng.integers(len(tlds))]
                if candidate.lower() not in taken and domain not in taken_dom:
                    break
            names[i], domains[i] = candidate, domain
            taken.add(candidate.lower())
            taken_dom.add(domain)

    # ------------------------------------------------------------------- users
    def users(self) -> _Users:
        """Contacts who use the product: how many, who, since when, how keen.

        Adoption, the share of users gone quiet and how active people are all follow the
        account's health, because those are what the seats and usage components measure.
        """
        rng = self.rngs[2]
        acc, days = self.acc, self.days
        h = acc.health
        adopt = np.clip(0.55 + 0.5 * h + rng.normal(0, 0.04, self.n), 0.4, 1.08)
        n_users = np.maximum(2, np.rint(acc.seats * adopt)).astype(np.int64)
        fixed = [_fixed_index(e) for e in _FIXED]
        n_users[fixed] = acc.seats[fixed]
        exp_i = self.idx["expansion"]
        n_users[exp_i] = acc.seats[exp_i] + 3
        # share of users gone quiet: steep between "fine" and "healthy" accounts
        dorm_p = 0.05 + 0.6 / (1 + np.exp((h - 0.6) / 0.07))
        dorm_p = np.clip(dorm_p + rng.normal(0, 0.02, self.n), 0, 0.7)
        dorm_p[fixed] = 0.0

        total = int(n_users.sum())
        u_acc = np.repeat(np.arange(self.n), n_users)
        first = np.concatenate([[0], np.cumsum(n_users)[:-1]])
        pos = np.arange(total) - first[u_acc]  # position of the user inside its account

        # roles: first user owns the account, then a few admins, ~10% power users
        n_admin = np.where(n_users >= 4, np.maximum(1, np.rint(n_users * 0.05)), 0)
        n_power = np.where(n_users >= 5, np.maximum(1, np.rint(n_users * 0.1)), 0)
        role = np.full(total, 3, dtype=np.int64)
        role[pos == 0] = 0
        role[(pos >= 1) & (pos < 1 + n_admin[u_acc])] = 1
        pw = (pos >= 1 + n_admin[u_acc]) & (pos < 1 + n_admin[u_acc] + n_power[u_acc])
        role[pw] = 2
        main = pos == 0
        admin_main = (rng.random(self.n) < 0.2) & (n_admin > 0)
        admin_main[fixed] = False
        swap = admin_main[u_acc]
        main[swap & (pos == 0)] = False
        main[swap & (pos == 1)] = True

        # departments: each account concentrates in a few of them
        n_dept = len(DEPARTMENTS)
        dept_w = rng.dirichlet(np.full(n_dept, 0.6), size=self.n)
        cdf = np.cumsum(dept_w, axis=1)
        cdf[:, -1] = 1.0
        dept = (rng.random(total)[:, None] > cdf[u_acc]).sum(axis=1)

        # creation days
        sd = acc.start_d[u_acc]
        old = sd < 0
        r = rng.random(total)
        pre = rng.random(total) < 0.75
        created = np.where(
            old & pre,
            sd + (r * np.maximum(-sd, 1)).astype(np.int64),
            np.where(
                old,
                (r * (days - 5)).astype(np.int64),
                sd + (r * np.minimum(10, np.maximum(days - 1 - sd, 0) + 1)).astype(np.int64),
            ),
        )
        created[main | (pos == 0)] = sd[main | (pos == 0)]
        created = np.minimum(created, acc.end_d[u_acc] - 1)

        # dormant users stop using the product before the last 30 days (or never start)
        dormant = (rng.random(total) < dorm_p[u_acc]) & ~main
        never = rng.random(total) < 0.3
        stop = np.full(total, _NEVER, dtype=np.int64)
        latest = days - 31
        span = np.maximum(latest - np.maximum(created, 0), 0)
        stop_at = np.maximum(created, 0) + (rng.random(total) * span).astype(np.int64)
        stop[dormant] = np.where(
            never[dormant] | (span[dormant] == 0), created[dormant], stop_at[dormant]
        )

        # a few members leave (deactivated); never power users, so that story stays unique
        deact = np.full(total, _NEVER, dtype=np.int64)
        leaves = (rng.random(total) < 0.015) & (role == 3) & ~main
        leaves &= acc.end_d[u_acc] == days
        leaves[np.isin(u_acc, fixed)] = False
        lo_d = np.maximum(created, 0) + 1
        d_at = lo_d + (rng.random(total) * np.maximum(days - lo_d, 1)).astype(np.int64)
        leaves &= d_at < days
        deact[leaves] = d_at[leaves]

        role_f = np.array([1.0, 1.05, 1.3, 0.9])[role]
        eng = (0.01 + 0.85 * h[u_acc] ** 3) * role_f * rng.uniform(0.7, 1.25, total)
        eng = np.clip(eng, 0.03, 0.95)
        eng[main] = np.maximum(eng[main], 0.2 + 0.4 * h[u_acc][main])
        intensity = rng.lognormal(0.0, 0.3, total) * np.where(role == 2, 1.6, 1.0)
        intensity *= 0.2 + h[u_acc] ** 2  # unhealthy accounts do less when they log in

        fn = np.array(_FIRST)[rng.integers(len(_FIRST), size=total)]
        ln = np.array(_LAST)[rng.integers(len(_LAST), size=total)]
        users = _Users(
            acc=u_acc,
            role=role,
            dept=dept,
            created=created,
            stop=stop,
            deact=deact,
            eng=eng.astype(np.float32),
            intensity=intensity,
            main=main,
            name=[],
            email=[],
        )
        self._plant_users(rng, users)
        seen: set[str] = set()
        for k in range(total):
            base = f"{_slug(fn[k])}.{_slug(ln[k])}"
            email = f"{base}@{acc.domain[u_acc[k]]}"
            j = 2
            while email in seen:
                email = f"{base}{j}@{acc.domain[u_acc[k]]}"
                j += 1
            seen.add(email)
            users.name.append(f"{fn[k]} {ln[k]}")
            users.email.append(email)
        self.u = users
        return users

    def _plant_users(self, rng: np.random.Generator, u: _Users) -> None:
        """Shape the people of the planted accounts so each story shows in the raw data."""
        # expansion: a third of the users from before, the rest joining over the last 90
        # days from more and more departments
        i = self.idx["expansion"]
        members = np.flatnonzero(u.acc == i)
        n_early = len(members) // 3
        early, late = members[:n_early], members[n_early:]
        u.created[early] = np.minimum(u.created[early], max(self.ago(95), 0))
        joined = np.linspace(max(self.ago(88), 0), max(self.ago(15), 0), len(late))
        u.created[late] = joined.astype(np.int64)
        u.dept[early] = rng.choice([0, 1], size=len(early))  # Sales, Marketing
        # newcomers bring new departments, in joining order (Finance first, Product last)
        u.dept[late] = 2 + (np.arange(len(late)) * (len(DEPARTMENTS) - 2)) // len(late)
        u.eng[members] = np.maximum(u.eng[members], 0.7)

        # stuck onboarding: only some of the invited users ever log in
        hooli = np.flatnonzero(u.acc == self.idx["onboarding_stuck"])
        u.stop[hooli[-4:]] = u.created[hooli[-4:]]

        # power user leaves 5 days before the end
        i = self.idx["power_user_deactivated"]
        pu = np.flatnonzero((u.acc == i) & (u.role == 2))[0]
        u.deact[pu] = self.ago(5)
        u.created[pu] = min(int(u.created[pu]), max(self.ago(150), int(self.acc.start_d[i])))
        u.eng[pu] = 0.92
        u.intensity[pu] = max(float(u.intensity[pu]), 2.0)
        self.pu_deactivated = int(pu)

        for key in ("silent_main_contact", "steady_decline", "negative_sentiment"):
            members = np.flatnonzero(u.acc == self.idx[key])
            u.eng[members] = np.maximum(u.eng[members], 0.55)

    # ------------------------------------------------------------------- usage
    def usage(self) -> pd.DataFrame:
        """Daily usage per user and feature, vectorised over a users x days matrix.

        One random draw per user-day decides activity and one per active user-day and
        feature decides what was used; Python loops only run per account, never per row.
        """
        rng = self.rngs[3]
        acc, u, days, n = self.acc, self.u, self.days, self.n
        d = np.arange(days)
        weekday = np.array([x.weekday() for x in self.dates])
        wk = np.where(weekday >= 5, 0.12, np.where(weekday == 4, 0.9, 1.0)).astype(np.float32)

        # account-level activity over time, relative to today's level: over the last 90
        # days unhealthy accounts decline (a lot), healthy ones grow a little
        h = acc.health
        growth = rng.normal(0.0, 0.04, n) + np.where(h < 0.65, -1.2 * (0.65 - h), 0.25 * (h - 0.65))
        months_back = (days - 1 - np.clip(d, days - 91, days - 1)) / 30.0
        mult = np.minimum(np.exp(-growth[:, None] * months_back[None, :]), 4.0).astype(np.float32)
        churned = np.flatnonzero(acc.end_d < days)
        for i in churned:  # usage fades over the six weeks before churn
            e = acc.end_d[i]
            mult[i] = np.clip((e - d) / 42.0, 0.15, 1.0).astype(np.float32)
        i = self.idx["steady_decline"]
        mult[i] = 1.0
        tail = d > self.ago(42)
        mult[i, tail] = 0.85 ** ((d[tail] - self.ago(42)) / 7.0)
        i = self.idx["expansion"]
        mult[i] = np.clip(0.6 + 0.4 * (d - self.ago(90)) / 90.0, 0.6, 1.0)

        alive_to = np.minimum(np.minimum(u.stop, u.deact), acc.end_d[u.acc])
        alive = (d[None, :] >= u.created[:, None]) & (d[None, :] < alive_to[:, None])
        p = u.eng[:, None] * mult[u.acc] * wk[None, :]
        p = np.where(alive, np.minimum(p, 0.97), 0.0)

        # nobody but the planted one has a silent main contact: seen in the last 3 days
        mains = np.flatnonzero(u.main & (acc.end_d[u.acc] == days))
        p[mains, days - 1 - rng.integers(0, 3, size=len(mains))] = 1.0
        # young accounts start right away (the planted onboarding story aside)
        young = mains[acc.start_d[u.acc[mains]] > self.ago(61)]
        young = young[u.acc[young] != self.idx["onboarding_stuck"]]
        first = u.created[young] + 1 + rng.integers(0, 3, size=len(young))
        p[young, np.minimum(first, days - 1)] = 1.0
        earlier = mains[u.created[mains] < self.ago(33)]  # same nudge a month before: no
        p[earlier, self.ago(30) - rng.integers(0, 3, size=len(earlier))] = 1.0  # fake trend
        silent = np.flatnonzero(u.main & (u.acc == self.idx["silent_main_contact"]))[0]
        p[silent, self.ago(9) :] = 0.0
        p[silent, [self.ago(10), self.ago(11), self.ago(13)]] = 1.0
        p[self.pu_deactivated, [self.ago(6), self.ago(7), self.ago(8)]] = 1.0
        # every expansion user is active in the last 30 days
        exp_users = np.flatnonzero(u.acc == self.idx["expansion"])
        p[exp_users, days - 1 - rng.integers(0, 14, size=len(exp_users))] = 1.0

        active = rng.random(p.shape, dtype=np.float32) < p
        ui, di = np.nonzero(active)
        self.last_active = np.where(
            active.any(axis=1), days - 1 - np.argmax(active[:, ::-1], axis=1), -1
        )

        weights, starts = self._feature_plan(rng)
        noise = rng.lognormal(0.0, 0.3, size=(len(u.acc), len(FEATURES))).astype(np.float32)
        q = weights[u.acc] * _ROLE_MULT[u.role] * _DEPT_MULT[u.dept] * noise
        q[:, _F["login"]] = _FEATURE_WEIGHT[_F["login"]]
        q = np.clip(q, 0.0, 0.95)
        cell_acc = u.acc[ui]
        used = rng.random((len(ui), len(FEATURES)), dtype=np.float32) < q[ui]
        used &= di[:, None] >= starts[cell_acc]
        used[~used.any(axis=1), _F["login"]] = True

        # no account but the planted one goes weeks without core usage, or starts without it
        top_core = _CORE_IDX[np.argmax(weights[:, _CORE_IDX], axis=1)]
        first_days = (di >= acc.start_d[cell_acc]) & (di < acc.start_d[cell_acc] + 10)
        this_month = di > self.ago(30)
        last_month = (di > self.ago(60)) & ~this_month
        for period in (this_month, last_month, first_days):
            core_cells = period & used[:, _CORE_IDX].any(axis=1)
            with_core = np.bincount(cell_acc[core_cells], minlength=n)
            need = (with_core == 0) & (np.bincount(cell_acc[period], minlength=n) > 0)
            need[self.idx["onboarding_stuck"]] = False
            fix = need[cell_acc] & period & (u.main[ui] | (rng.random(len(ui)) < 0.5))
            used[np.flatnonzero(fix), top_core[cell_acc[fix]]] = True

        ci, fi = np.nonzero(used)
        ru = ui[ci]
        lam = _FEATURE_EVENTS[fi] * u.intensity[ru]
        events = 1 + rng.poisson(lam)
        self._pin_decline(events, u.acc[ru], di[ci])
        minutes = np.maximum(
            np.round(events * _FEATURE_MINUTES[fi] * rng.lognormal(0.0, 0.35, len(fi)), 1), 0.1
        )
        ext = np.array(acc.ext, dtype=object)
        uext = np.array([f"user-{k + 1:05d}" for k in range(len(u.acc))], dtype=object)
        self.user_ext = uext
        self.weights = weights
        self.starts = starts
        return pd.DataFrame(
            {
                "account_external_id": ext[u.acc[ru]],
                "user_external_id": uext[ru],
                "feature": np.array(FEATURES, dtype=object)[fi],
                "day": np.array(self.dates, dtype=object)[di[ci]],
                "events": events.astype(np.int64),
                "minutes": minutes,
            }
        )

    def _pin_decline(self, events: np.ndarray, row_acc: np.ndarray, row_day: np.ndarray) -> None:
        """Pin the steady-decline account's weekly events: flat, then -15% a week.

        Activity probability already declines; a few heavy API users would otherwise add
        enough week-to-week noise to blur the story for some seeds.
        """
        rows = np.flatnonzero(row_acc == self.idx["steady_decline"])
        week = (self.days - 1 - row_day[rows]) // 7  # 0 = the week ending at end_date
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

    def _feature_plan(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Per-account feature weights (breadth follows health) and first-use days."""
        acc, n = self.acc, self.n
        weights = np.tile(_FEATURE_WEIGHT, (n, 1))
        weights[:, _F["mobile"]] *= rng.random(n) < 0.6
        extras = [_F[f] for f in ("alerts", "exports", "comments", "admin", "mobile")]
        keep = rng.random((n, len(extras))) < (acc.health**1.5)[:, None]
        weights[:, extras] *= keep  # unhealthy accounts stick to a few features
        weights[:, _F["search"]] *= 0.4 + 0.6 * acc.health
        k = np.clip(np.rint(0.3 + 5 * acc.health + rng.normal(0, 0.5, n)), 1, 5).astype(int)
        order = np.argsort(rng.random((n, len(_CORE_IDX))), axis=1)
        chosen = order < k[:, None]
        core_w = rng.uniform(0.2, 0.5, size=(n, len(_CORE_IDX))).astype(np.float32)
        weights[:, _CORE_IDX] = np.where(chosen, core_w, 0.0)
        starts = np.full((n, len(FEATURES)), _FOREVER_AGO, dtype=np.int64)
        for key in (
            "expansion",
            "integration_failing",
            "silent_main_contact",
            "steady_decline",
            "power_user_deactivated",
            "negative_sentiment",
            "invoice_overdue",
            "acme_corp",
        ):
            weights[self.idx[key], _CORE_IDX] = np.maximum(weights[self.idx[key], _CORE_IDX], 0.35)
        i = self.idx["expansion"]
        adoption = (("workflows", 75), ("alerts", 50), ("api", 27), ("integrations", 22),
                    ("exports", 18))  # fmt: skip
        for f, ago in adoption:  # breadth grows: three features are new this month
            starts[i, _F[f]] = self.ago(ago)
        weights[i, _F["exports"]] = max(float(weights[i, _F["exports"]]), 0.15)
        i = self.idx["onboarding_stuck"]
        weights[i] = 0.0
        weights[i, [_F["login"], _F["search"], _F["admin"]]] = [0.92, 0.5, 0.3]
        return weights, starts

    # ------------------------------------------------------------ integrations
    def integrations(self) -> pd.DataFrame:
        """Daily runs and failures of 1-3 integrations per account that uses them."""
        rng = self.rngs[4]
        acc = self.acc
        uses = np.flatnonzero(self.weights[:, _F["integrations"]] > 0)
        uses = uses[acc.end_d[uses] > np.maximum(acc.start_d[uses], 0) + 7]
        p = np.array([0.3, 0.15, 0.25, 0.15, 0.07, 0.04, 0.04])
        pairs_acc: list[int] = []
        pairs_int: list[int] = []
        for i in uses:
            k = 1 + int(rng.random() < 0.5) + int(rng.random() < 0.2)
            picks = rng.choice(len(INTEGRATIONS), size=k, replace=False, p=p)
            if i == self.idx["integration_failing"]:
                picks = np.array([0, 3])
            pairs_acc.extend([int(i)] * len(picks))
            pairs_int.extend(int(x) for x in picks)
        pa = np.array(pairs_acc, dtype=np.int64)
        pi = np.array(pairs_int, dtype=np.int64)
        begin = np.maximum(acc.start_d[pa] + 7, 0)
        begin = np.maximum(begin, self.starts[pa, _F["integrations"]])
        stop = acc.end_d[pa]
        length = np.maximum(stop - begin, 0)
        cell_pair = np.repeat(np.arange(len(pa)), length)
        offs = np.arange(len(cell_pair)) - np.repeat(np.cumsum(length) - length, length)
        cd = begin[cell_pair] + offs
        seats = self.acc.seats[pa].astype(np.float64)
        base = np.select(
            [pi <= 1, pi == 2, pi == 3, pi == 4, pi == 5],
            [
                np.full(len(pa), 24.0),
                3 + 0.6 * seats,
                10 + 2 * seats,
                5 + 0.3 * seats,
                np.full(len(pa), 4.0),
            ],
            12.0,
        )
        weekend = np.array([x.weekday() >= 5 for x in self.dates])[cd]
        human = np.isin(pi[cell_pair], [2, 3, 4])
        lam = base[cell_pair] * np.where(weekend & human, 0.2, 1.0)
        runs = rng.poisson(lam)
        rate = rng.uniform(0.001, 0.015, len(pa))[cell_pair]
        soylent = pa[cell_pair] == self.idx["integration_failing"]
        rate = np.where(soylent, np.where(cd > self.ago(30), 0.35, 0.02), rate)
        failures = rng.binomial(runs, rate)
        keep = runs > 0
        ext = np.array(acc.ext, dtype=object)
        return pd.DataFrame(
            {
                "account_external_id": ext[pa[cell_pair]][keep],
                "integration": np.array(INTEGRATIONS, dtype=object)[pi[cell_pair]][keep],
                "day": np.array(self.dates, dtype=object)[cd][keep],
                "runs": runs[keep].astype(np.int64),
                "failures": failures[keep].astype(np.int64),
            }
        )

    # ----------------------------------------------------------------- billing
    def billing(
        self, accounts: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """One Stripe-like subscription per account and ~13 months of its invoices.

        Invoices are paid on time or a little late (never more than 25 days past due), so
        the one planted overdue invoice is the only one a CSM would chase.
        """
        rng = self.rngs[5]
        subs: list[dict[str, Any]] = []
        invoices: list[dict[str, Any]] = []
        sub_ids = _rand_ids(rng, self.n, 14)
        horizon = self.end - timedelta(days=400)
        overdue_i = self.idx["invoice_overdue"]
        for i, a in enumerate(accounts):
            annual = bool(self.acc.annual[i])
            start: date = a["contract_start"]
            churned_on: date | None = a["churned_on"]
            last_day = churned_on or self.end
            sub_ext = f"sub_{sub_ids[i]}"
            status = "active"
            if a["lifecycle"] == "trial":
                subs.append(self._sub(sub_ext, a, "trialing", start, a["renewal_date"], annual))
                continue
            anchor = self.end - timedelta(days=75) if i == overdue_i else start
            step = 12 if annual else 1
            k0 = -((anchor.year - horizon.year) * 12 + anchor.month - horizon.month) // step - 1
            k = k0
            issued_dates: list[date] = []
            while True:
                issued = _add_months(anchor, k * step)
                k += 1
                if issued > last_day:
                    break
                if issued < start or issued < horizon:
                    continue
                issued_dates.append(issued)
            amount = float(a["arr"]) if annual else float(a["mrr"])
            for issued in issued_dates:
                due = issued + timedelta(days=30)
                late = rng.random() < 0.06 + 0.35 * (1 - self.acc.health[i]) ** 2
                lag = int(rng.integers(31, 56)) if late else int(rng.integers(0, 30))
                paid_on: date | None = issued + timedelta(days=lag)
                if i == overdue_i and issued >= self.end - timedelta(days=75):
                    paid_on = None  # they stopped paying: the planted overdue invoice
                inv_status = "paid"
                if paid_on is None or paid_on > self.end:
                    paid_on, inv_status = None, "open"
                    if due < self.end:
                        status = "past_due"
                if rng.random() < 0.01:  # an occasional voided duplicate
                    invoices.append(self._invoice(rng, a, sub_ext, amount, "void", issued, None))
                invoices.append(self._invoice(rng, a, sub_ext, amount, inv_status, issued, paid_on))
            if churned_on is not None:
                status = "canceled"
            subs.append(self._sub(sub_ext, a, status, start, None, annual))
        return subs, invoices

    def _sub(
        self,
        ext: str,
        a: dict[str, Any],
        status: str,
        start: date,
        trial_end: date | None,
        annual: bool,
    ) -> dict[str, Any]:
        if status == "canceled":
            period_end = a["churned_on"]
        elif trial_end is not None:
            period_end = trial_end
        elif annual:
            period_end = a["renewal_date"]
        else:
            period_end = _next_anniversary(start, self.end, months=1)
        return {
            "external_id": ext,
            "account_external_id": a["external_id"],
            "plan": f"{_PLAN[a['tier']]}-{'annual' if annual else 'monthly'}",
            "status": status,
            "quantity": a["licensed_seats"],
            "mrr": 0.0 if status in ("trialing", "canceled") else a["mrr"],
            "started_on": start,
            "current_period_end": period_end,
            "trial_end": trial_end,
            "canceled_on": a["churned_on"] if status == "canceled" else None,
        }

    def _invoice(
        self,
        rng: np.random.Generator,
        a: dict[str, Any],
        sub_ext: str,
        amount: float,
        status: str,
        issued: date,
        paid_on: date | None,
    ) -> dict[str, Any]:
        return {
            "external_id": f"in_{_rand_ids(rng, 1, 14)[0]}",
            "account_external_id": a["external_id"],
            "subscription_external_id": sub_ext,
            "amount": amount,
            "currency": "usd",
            "status": status,
            "issued_on": issued,
            "due_on": issued + timedelta(days=30),
            "paid_on": paid_on,
        }

    def _users_by_account(self) -> list[np.ndarray]:
        counts = np.bincount(self.u.acc, minlength=self.n)
        return np.split(np.arange(len(self.u.acc)), np.cumsum(counts)[:-1])

    # ----------------------------------------------------------------- tickets
    def tickets(self) -> list[dict[str, Any]]:
        """Support tickets; unhealthier and bigger accounts file more and rate them worse.

        Negative sentiment is kept to at most one ticket per 95 days per account, so two
        within 90 days stays the planted story's own.
        """
        rng = self.rngs[6]
        acc = self.acc
        out: list[dict[str, Any]] = []
        by_acc = self._users_by_account()
        stark = self.idx["negative_sentiment"]
        seq = 100001
        for i in range(self.n):
            lo = max(int(acc.start_d[i]), 0)
            hi = int(acc.end_d[i])
            if hi <= lo:
                continue
            rate = (0.15 + 0.02 * acc.seats[i]) * (1.6 - acc.health[i])  # per 30 days
            count = int(rng.poisson(rate * (hi - lo) / 30.0))
            when = np.sort(rng.uniform(lo, hi, count))
            planted = []
            if i == stark:
                planted = [float(self.ago(70)) + 0.4, float(self.ago(12)) + 0.6]
                when = np.sort(np.concatenate([when, planted]))
            p_neg = 0.03 + 0.1 * (1 - acc.health[i])
            last_neg = -1e9
            for t in when:
                r = rng.random()
                generic_neg = i != stark and r < p_neg and t - last_neg > 95
                if t in planted or generic_neg:
                    sentiment = "negative"
                else:
                    sentiment = "positive" if rng.random() < 0.3 else "neutral"
                if sentiment == "negative":
                    last_neg = t
                out.append(self._ticket(rng, seq, i, t, sentiment, by_acc[i]))
                seq += 1
        return out

    def _ticket(
        self,
        rng: np.random.Generator,
        seq: int,
        i: int,
        t: float,
        sentiment: str,
        members: np.ndarray,
    ) -> dict[str, Any]:
        created = datetime.combine(self.day(int(t)), time(0)) + timedelta(
            hours=8 + 10 * (t - int(t))
        )
        created = created.replace(microsecond=0, second=0)
        now = datetime.combine(self.end, time(23, 59))
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
                bad = 0.03 + 0.4 * (1 - self.acc.health[i]) ** 2  # unhappy accounts rate bad
                satisfaction = "bad" if r < bad else ("good" if r < bad + 0.5 else None)
        subjects = _TICKET_SUBJECTS[sentiment]
        eligible = members[self.u.created[members] <= t] if len(members) else members
        contact = None
        if len(eligible) and rng.random() < 0.92:
            contact = str(self.user_ext[eligible[rng.integers(len(eligible))]])
        return {
            "external_id": f"zd-{seq}",
            "account_external_id": self.acc.ext[i],
            "contact_external_id": contact,
            "subject": subjects[int(rng.integers(len(subjects)))],
            "priority": priority,
            "status": status,
            "created_at": created,
            "solved_at": solved.replace(microsecond=0) if solved else None,
            "satisfaction": satisfaction,
            "sentiment": sentiment,
        }

    # ----------------------------------------------------------------- surveys
    def surveys(self) -> list[dict[str, Any]]:
        """NPS and some CSAT answers following health; ~30% of accounts answer nothing."""
        rng = self.rngs[7]
        acc, u = self.acc, self.u
        out: list[dict[str, Any]] = []
        by_acc = self._users_by_account()
        has_any = rng.random(self.n) < 0.7
        seq = 1
        for i in range(self.n):
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
                eligible = members[u.created[members] <= t]
                if not len(eligible):
                    continue
                contact = eligible[rng.integers(len(eligible))]
                h = acc.health[i]
                if kind == "nps":
                    score = int(np.clip(np.rint(2 + 8 * h + rng.normal(0, 1.3)), 0, 10))
                    band = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
                else:
                    score = int(np.clip(np.rint(1 + 4 * h + rng.normal(0, 0.6)), 1, 5))
                    band = "promoter" if score >= 4 else "passive" if score == 3 else "detractor"
                comment = None
                if rng.random() < 0.35:
                    options = _NPS_COMMENTS[band]
                    comment = options[int(rng.integers(len(options)))]
                at = datetime.combine(self.day(int(t)), time(9)) + timedelta(
                    minutes=int((t - int(t)) * 600)
                )
                out.append(
                    {
                        "external_id": f"{kind}-{seq:06d}",
                        "account_external_id": acc.ext[i],
                        "contact_external_id": str(self.user_ext[contact]),
                        "kind": kind,
                        "score": score,
                        "comment": comment,
                        "responded_at": at,
                    }
                )
                seq += 1
        return out

    # ---------------------------------------------------------------- contacts
    def contacts(self) -> list[dict[str, Any]]:
        """Contact records, with last-seen taken from the generated usage so both agree."""
        rng = self.rngs[8]
        u, acc = self.u, self.acc
        hours = rng.integers(7, 19, size=len(u.acc))
        minutes = rng.integers(0, 60, size=len(u.acc))
        out: list[dict[str, Any]] = []
        for k in range(len(u.acc)):
            last = int(self.last_active[k])
            seen = (
                datetime.combine(self.day(last), time(int(hours[k]), int(minutes[k])))
                if last >= 0
                else None
            )
            deact = (
                datetime.combine(self.day(int(u.deact[k])), time(10, 30))
                if u.deact[k] < _NEVER
                else None
            )
            out.append(
                {
                    "external_id": str(self.user_ext[k]),
                    "account_external_id": acc.ext[u.acc[k]],
                    "email": u.email[k],
                    "name": u.name[k],
                    "department": DEPARTMENTS[u.dept[k]],
                    "role": ROLES[u.role[k]],
                    "is_main_contact": bool(u.main[k]),
                    "created_on": self.day(int(u.created[k])),
                    "last_seen_at": seen,
                    "deactivated_at": deact,
                }
            )
        return out


def generate_workspace(
    seed: int, end_date: date, accounts: int = 500, days: int = 180
) -> dict[str, list[dict[str, Any]] | pd.DataFrame]:
    """Generate the whole sample workspace, keyed by entity in load order.

    Pure: the result depends only on the arguments, so tests, demos and benchmarks can
    call it directly and compare runs.
    """
    gen = _Gen(seed, end_date, accounts, days)
    owners = gen.owners()
    _, account_records = gen.accounts()
    gen.users()
    usage = gen.usage()  # also fixes last-seen days used by contacts
    integrations = gen.integrations()
    subscriptions, invoices = gen.billing(account_records)
    tickets = gen.tickets()
    surveys = gen.surveys()
    contacts = gen.contacts()
    opportunities = sample_opportunities(seed, end_date, account_records)
    arr_history = sample_arr_history(seed, end_date, account_records, days)
    return {
        "owners": owners,
        "accounts": account_records,
        "contacts": contacts,
        "usage": usage,
        "integrations": integrations,
        "subscriptions": subscriptions,
        "invoices": invoices,
        "tickets": tickets,
        "surveys": surveys,
        "opportunities": opportunities,
        "arr_history": arr_history,
    }


RENEWAL_STAGES = ((30, "Negotiation"), (90, "Proposal"), (180, "Discovery"))


def sample_opportunities(
    seed: int, end_date: date, accounts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A renewal opportunity for every live account renewing within a year, and expansion
    opportunities on a few growing ones (always on the planted expansion story), so the
    renewal pipeline and expansion forecast have something believable to show."""
    rng = np.random.default_rng([seed, 7])
    out: list[dict[str, Any]] = []
    for a in accounts:
        renewal = a.get("renewal_date")
        if a.get("lifecycle") == "churned" or renewal is None:
            continue
        days = (renewal - end_date).days
        owner = a.get("owner_external_id")
        if 0 <= days <= 365:
            stage = next((name for limit, name in RENEWAL_STAGES if days <= limit), "Qualification")
            out.append(
                {
                    "external_id": f"opp-r-{a['external_id']}",
                    "account_external_id": a["external_id"],
                    "owner_external_id": owner,
                    "name": f"{a['name']} renewal {renewal.year}",
                    "kind": "renewal",
                    "stage": stage,
                    "amount": float(a.get("arr") or 0.0),
                    "close_date": renewal,
                    "is_closed": False,
                    "is_won": False,
                }
            )
        planted = a["external_id"] == PLANTED["expansion"]
        if planted or (a.get("lifecycle") == "paid" and rng.random() < 0.08):
            out.append(
                {
                    "external_id": f"opp-x-{a['external_id']}",
                    "account_external_id": a["external_id"],
                    "owner_external_id": owner,
                    "name": f"{a['name']} seat expansion",
                    "kind": "expansion",
                    "stage": "Proposal" if planted else str(rng.choice(["Discovery", "Proposal"])),
                    "amount": round(float(a.get("arr") or 0.0) * (0.3 if planted else 0.15), 2),
                    "close_date": end_date + timedelta(days=int(rng.integers(20, 120))),
                    "is_closed": False,
                    "is_won": False,
                }
            )
    return out


EXPANDED_SHARE = 0.10
CONTRACTED_SHARE = 0.04
"""Shares of paying accounts whose seats grew / shrank during the window (before today's
ARR), so retention figures on the demo show expansion and contraction, not only churn."""


def sample_arr_history(
    seed: int, end_date: date, accounts: list[dict[str, Any]], days: int
) -> pd.DataFrame:
    """Each paying account's ARR over time, ending exactly at its current ``arr``.

    Every account that ever paid starts at ``contract_start``; about 10% of the live ones
    added seats and 4% dropped some on a day inside the window (at least 30 days after
    their start, a week before the end), priced at the account's ARR per seat; churned
    accounts drop to 0 on ``churned_on``. The planted-story accounts keep a flat history
    so their stories stay their own. Drawn from a stream of its own (``[seed, 11]``), so
    no other entity changes with it; three draws per account, whatever it uses, so one
    account's history never shifts another's.
    """
    rng = np.random.default_rng([seed, 11])
    window_start = end_date - timedelta(days=days - 1)
    latest = end_date - timedelta(days=7)
    ext_ids: list[str] = []
    effective: list[date] = []
    values: list[float] = []

    def row(ext: str, day: date, arr: float) -> None:
        ext_ids.append(ext)
        effective.append(day)
        values.append(arr)

    for a in accounts:
        kind_draw, size_draw, day_draw = rng.random(3)
        arr = float(a.get("arr") or 0.0)
        ext, start = a["external_id"], a["contract_start"]
        if a["lifecycle"] == "trial" or arr <= 0:
            continue
        if a["lifecycle"] == "churned":
            row(ext, start, arr)
            row(ext, a["churned_on"], 0.0)
            continue
        kind = ("expansion" if kind_draw < EXPANDED_SHARE
                else "contraction" if kind_draw < EXPANDED_SHARE + CONTRACTED_SHARE else None)
        first_day = max(start + timedelta(days=30), window_start)
        if kind is None or ext in _FIXED or first_day >= latest:
            row(ext, start, arr)
            continue
        seats = max(int(a.get("licensed_seats") or 1), 1)
        moved = max(1, round(seats * (0.1 + 0.25 * size_draw)))
        per_seat = arr / seats
        before = arr - moved * per_seat if kind == "expansion" else arr + moved * per_seat
        before = max(round(before / 100.0) * 100.0, 100.0)
        if before == arr:
            row(ext, start, arr)
            continue
        when = first_day + timedelta(days=int(day_draw * (latest - first_day).days))
        row(ext, start, before)
        row(ext, when, arr)
    return pd.DataFrame({"account_external_id": ext_ids, "effective_on": effective,
                         "arr": values})


@register
class SampleConnector(Connector):
    """The built-in demo source: a generated workspace, identical for a seed and end date."""

    name = "sample"

    def __init__(self, config: PulseConfig, *, end_date: date | None = None) -> None:
        super().__init__(config)
        self.settings = config.sources.sample or SampleSourceConfig()
        self.end_date = end_date or self.settings.end_date or date.today()

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        """Yield every entity in dependency order.

        The data is regenerated whole each time (it is deterministic and loads are
        idempotent), so the cursor only records which seed and end date were loaded.
        """
        s = self.settings
        data = generate_workspace(s.seed, self.end_date, accounts=s.accounts, days=s.days)
        new_cursor = f"seed={s.seed};end={self.end_date.isoformat()}"
        for entity in ENTITY_ORDER:
            yield Batch(entity=entity, records=data[entity], cursor=new_cursor)
