"""Owners and accounts of the sample workspace: who the customers are and how healthy.

Seat counts are scaled so that seats x adoption is about 5,000 users for 500 accounts
(SMB 3-9, mid-market 6-28, enterprise 15-80 seats): active-users / licensed-seats must be
a meaningful ratio for the scorer, and realistic ratios need users and seats of one scale.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np

from connectors.sample.context import (
    AccountDraft,
    Accounts,
    Run,
    next_anniversary,
    random_ids,
    slug,
)
from connectors.sample.stories import FIXED_ACCOUNTS, churned_ids, fixed_index, plant_accounts
from connectors.sample.vocabulary import (
    DEMO_EMAIL_DOMAIN,
    ENTERPRISE_TEAM,
    GROWTH_TEAM,
    REGIONS,
    SEGMENTS,
    TIERS,
    words,
)

SEAT_RANGE: dict[str, tuple[int, int]] = {
    "smb": (3, 9),
    "mid-market": (6, 28),
    "enterprise": (15, 80),
}
SEAT_PRICE: dict[str, tuple[float, float]] = {  # per seat per year, USD
    "smb": (540.0, 780.0),
    "mid-market": (780.0, 1080.0),
    "enterprise": (1080.0, 1500.0),
}
ANNUAL_SHARE: dict[str, float] = {"smb": 0.2, "mid-market": 0.55, "enterprise": 0.9}
"""Share of each tier's accounts billed annually (the rest monthly)."""
TRIAL_SHARE = 0.05
NEW_SHARE = 0.04
"""Shares of accounts on a trial, and of paying accounts that signed in the last month."""
TRIAL_DAYS = 30
PRODUCT_LINES: tuple[str, ...] = ("Analytics", "Automation", "Analytics + Automation")
TEAM_SIZES: tuple[tuple[str, int], ...] = ((ENTERPRISE_TEAM, 4), (GROWTH_TEAM, 5))
"""CS teams and their number of CSMs (each team also has a manager)."""

INDUSTRY_SUFFIX: dict[str, tuple[str, ...]] = {
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
INDUSTRIES: tuple[str, ...] = tuple(INDUSTRY_SUFFIX)
INDUSTRY_WEIGHT = np.array([0.2, 0.11, 0.1, 0.1, 0.1, 0.08, 0.07, 0.08, 0.1, 0.06])
NAME_WORDS: tuple[str, ...] = words(
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
NAME_EXTRA: tuple[str, ...] = ("Global", "United", "North", "Pacific", "Atlantic", "Prime")
OWNER_NAMES: tuple[str, ...] = words(
    "Dana Whitfield, Marco Bellini, Sunita Rao, Jamal Carter, Erin O'Neill, Tobias Lind, "
    "Grace Adeyemi, Kenji Watanabe, Laura Méndez, Ben Goldberg, Hana Kovač, Owen Fletcher, "
    "Priscilla Tan, Rafael Duarte, Claire Dubois"
)


def owners(run: Run) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Two CS teams, each a manager and a few CSMs, so digests can roll up by manager.

    Returns the owner records and each team's CSMs (external ids).
    """
    rng = run.rng("owners")
    n_owners = sum(n_csm + 1 for _, n_csm in TEAM_SIZES)
    names = [OWNER_NAMES[i] for i in rng.permutation(len(OWNER_NAMES))[:n_owners]]
    crm = random_ids(rng, n_owners, 12)
    out: list[dict[str, Any]] = []
    csms: dict[str, list[str]] = {}
    i = 0
    for team, n_csm in TEAM_SIZES:
        manager = f"own-{i + 1:02d}"
        csms[team] = []
        for k in range(n_csm + 1):
            ext = f"own-{i + 1:02d}"
            first, last = names[i].split(" ", 1)
            out.append(
                {
                    "external_id": ext,
                    "name": names[i],
                    "email": f"{slug(first)}.{slug(last)}@{DEMO_EMAIL_DOMAIN}",
                    "crm_owner_id": f"005Dn{crm[i].upper()}"[:15] + "AAA",
                    "slack_user_id": f"U0CSM{i + 1:04d}",
                    "team": team,
                    "is_manager": k == 0,
                    "manager_external_id": None if k == 0 else manager,
                }
            )
            if k:
                csms[team].append(ext)
            i += 1
    return out, csms


def accounts(run: Run, csms: dict[str, list[str]]) -> tuple[Accounts, list[dict[str, Any]]]:
    """Accounts and their latent health, which drives every later section.

    Health is drawn from three bands (about half healthy, a third so-so, a fifth in
    trouble), so that a scorer finds a realistic spread rather than a uniform blur.
    """
    rng = run.rng("accounts")
    draft = _draw_profiles(rng, run.n, run.days)
    _pick_lifecycles(rng, draft)
    _schedule_churn(rng, draft, run.days)
    plant_accounts(draft)
    _name_accounts(rng, draft.names, draft.domains, draft.industry)
    arr = _price(rng, draft)
    acc = Accounts(
        ext=[f"acct-{i + 1:04d}" for i in range(run.n)],
        name=[str(x) for x in draft.names],
        domain=[str(x) for x in draft.domains],
        tier=draft.tier,
        health=draft.health,
        seats=draft.seats,
        arr=arr,
        start_d=run.days - 1 - draft.start_ago,
        end_d=draft.end_d,
        annual=draft.annual & ~draft.trial,
    )
    return acc, _account_records(rng, run, acc, draft, csms)


def _seats(tier: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Seats at quantile ``size`` of each tier's range (geometric, so small ones dominate)."""
    lo = np.array([SEAT_RANGE[t][0] for t in TIERS])[tier]
    hi = np.array([SEAT_RANGE[t][1] for t in TIERS])[tier]
    return np.rint(lo * (hi / lo) ** size).astype(np.int64)


def _draw_profiles(rng: np.random.Generator, n: int, days: int) -> AccountDraft:
    """Tier, health band, size, industry, region, billing cycle and contract start."""
    tier = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])
    band = rng.choice(3, size=n, p=[0.49, 0.32, 0.19])  # latent healthy / fine / at risk
    health = np.select(
        [band == 0, band == 1],
        [rng.uniform(0.76, 1.0, n), rng.uniform(0.42, 0.68, n)],
        rng.uniform(0.03, 0.3, n),
    )
    size = rng.random(n) ** 1.8  # skewed towards small accounts, long tail of big ones
    seats = _seats(tier, size)
    industry = rng.choice(len(INDUSTRIES), size=n, p=INDUSTRY_WEIGHT / INDUSTRY_WEIGHT.sum())
    region = rng.choice(len(REGIONS), size=n, p=[0.45, 0.3, 0.15, 0.1])
    annual = rng.random(n) < np.array([ANNUAL_SHARE[t] for t in TIERS])[tier]
    # contract start: mostly 6 months - 3 years ago, some inside the window
    start_ago = rng.integers(days + 10, 3 * 365, size=n)
    inside = rng.random(n) < 0.08
    start_ago[inside] = rng.integers(31, max(days, 61), size=int(inside.sum()))
    return AccountDraft(
        tier=tier,
        health=health,
        size=size,
        seats=seats,
        industry=[INDUSTRIES[i] for i in industry],
        region=region,
        annual=annual,
        start_ago=start_ago,
        names=[None] * n,
        domains=[None] * n,
        churned=np.zeros(n, bool),
        fixed=np.zeros(n, bool),
        trial=np.zeros(n, bool),
        end_d=np.full(n, days, dtype=np.int64),
    )


def _pick_lifecycles(rng: np.random.Generator, draft: AccountDraft) -> None:
    """Churned, trial and brand-new accounts, never among the hand-placed ones."""
    n = len(draft.tier)
    draft.churned[[fixed_index(e) for e in churned_ids(n)]] = True
    draft.fixed[[fixed_index(e) for e in FIXED_ACCOUNTS]] = True
    trial, fixed, churned = draft.trial, draft.fixed, draft.churned
    free = np.flatnonzero(~fixed & ~churned)
    trial[rng.choice(free, size=max(1, round(n * TRIAL_SHARE)), replace=False)] = True
    free = np.flatnonzero(~fixed & ~churned & ~trial)
    new = np.zeros(n, bool)
    new[rng.choice(free, size=max(1, round(n * NEW_SHARE)), replace=False)] = True
    draft.start_ago[new] = rng.integers(5, 31, size=int(new.sum()))
    draft.start_ago[trial] = rng.integers(3, 29, size=int(trial.sum()))
    draft.tier[trial] = rng.choice(2, size=int(trial.sum()), p=[0.65, 0.35])  # trials are small
    draft.seats[trial] = _seats(draft.tier[trial], draft.size[trial])


def _schedule_churn(rng: np.random.Generator, draft: AccountDraft, days: int) -> None:
    """Churn days spread evenly over the window (with some jitter), after long contracts."""
    churned = draft.churned
    lo_churn = min(45, days // 3)
    n_churn = int(churned.sum())
    slots = np.linspace(lo_churn, days - 3, n_churn + 1)
    draft.end_d[churned] = rng.permutation(
        np.rint(slots[:-1] + rng.random(n_churn) * np.diff(slots)).astype(np.int64)
    )
    draft.health[churned] = rng.uniform(0.3, 0.6, int(churned.sum()))
    draft.start_ago[churned] = np.maximum(
        draft.start_ago[churned], days - draft.end_d[churned] + 200
    )


def _name_accounts(
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
        suffixes = INDUSTRY_SUFFIX[industry[i]]
        for attempt in range(1000):
            word = NAME_WORDS[rng.integers(len(NAME_WORDS))]
            suffix = suffixes[rng.integers(len(suffixes))]
            if attempt >= 30:
                word = f"{NAME_EXTRA[rng.integers(len(NAME_EXTRA))]} {word}"
            if attempt >= 200:
                word = f"{word} {attempt}"
            candidate = f"{word} {suffix}"
            domain = slug(candidate) + tlds[rng.integers(len(tlds))]
            if candidate.lower() not in taken and domain not in taken_dom:
                break
        names[i], domains[i] = candidate, domain
        taken.add(candidate.lower())
        taken_dom.add(domain)


def _price(rng: np.random.Generator, draft: AccountDraft) -> np.ndarray:
    """ARR: seats at a per-seat price of the tier plus a platform fee, in whole hundreds."""
    tier, n = draft.tier, len(draft.tier)
    price_lo = np.array([SEAT_PRICE[t][0] for t in TIERS])[tier]
    price_hi = np.array([SEAT_PRICE[t][1] for t in TIERS])[tier]
    price = rng.uniform(price_lo, price_hi)
    fee = np.select(
        [tier == 2, tier == 1], [rng.uniform(12000, 36000, n), rng.uniform(0, 6000, n)], 0.0
    )
    arr = np.round((draft.seats * price + fee) / 100.0) * 100.0
    arr[draft.trial] = 0.0
    return arr


def _contract_dates(
    run: Run, contract_start: date, churned: bool, trial: bool, end_d: int
) -> tuple[date, date | None]:
    """(renewal date, churn date): churned accounts "renew" on the day they left."""
    if churned:
        churned_on = run.day(end_d)
        return churned_on, churned_on
    if trial:
        return contract_start + timedelta(days=TRIAL_DAYS), None
    return next_anniversary(contract_start, run.end), None


def _account_records(
    rng: np.random.Generator,
    run: Run,
    acc: Accounts,
    draft: AccountDraft,
    csms: dict[str, list[str]],
) -> list[dict[str, Any]]:
    """The account records, with ids in the CRM, billing and support systems."""
    n = run.n
    churned, trial = draft.churned, draft.trial
    lifecycle = np.where(churned, "churned", np.where(trial, "trial", "paid")).tolist()
    dnc = (rng.random(n) < 0.02) & ~draft.fixed
    sf = random_ids(rng, n, 12)
    has_sf = rng.random(n) < 0.85
    hs = rng.integers(10**9, 10**10, size=n)
    has_hs = rng.random(n) < 0.35
    cus = random_ids(rng, n, 14)
    zd = rng.integers(10**11, 10**12, size=n)
    has_zd = rng.random(n) < 0.75
    product_line = rng.choice(len(PRODUCT_LINES), size=n, p=[0.45, 0.2, 0.35])
    csm_pick = rng.integers(0, 1000, size=n)
    records: list[dict[str, Any]] = []
    for i in range(n):
        tier = TIERS[acc.tier[i]]
        team = csms[ENTERPRISE_TEAM if tier == "enterprise" else GROWTH_TEAM]
        contract_start = run.day(acc.start_d[i])
        renewal, churned_on = _contract_dates(
            run, contract_start, bool(churned[i]), bool(trial[i]), int(acc.end_d[i])
        )
        records.append(
            {
                "external_id": acc.ext[i],
                "name": acc.name[i],
                "domain": acc.domain[i],
                "salesforce_id": f"001{sf[i]}AAA" if has_sf[i] else None,
                "hubspot_id": str(hs[i]) if has_hs[i] else None,
                "stripe_customer_id": f"cus_{cus[i]}",
                "zendesk_org_id": str(zd[i]) if has_zd[i] else None,
                "owner_external_id": team[csm_pick[i] % len(team)],
                "tier": tier,
                "segment": SEGMENTS[tier],
                "region": REGIONS[draft.region[i]],
                "industry": draft.industry[i],
                "arr": float(acc.arr[i]),
                "mrr": round(float(acc.arr[i]) / 12.0, 2),
                "licensed_seats": int(acc.seats[i]),
                "contract_start": contract_start,
                "renewal_date": renewal,
                "lifecycle": lifecycle[i],
                "churned_on": churned_on,
                "do_not_contact": bool(dnc[i]),
                "custom": {"product_line": PRODUCT_LINES[product_line[i]]},
            }
        )
    return records
