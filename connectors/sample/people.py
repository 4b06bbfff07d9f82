"""The people of the sample workspace: users (contacts who may use the product) and their
contact records.

Adoption, the share of users gone quiet and how active people are all follow the account's
health, because those are what the seats and usage components of the score measure.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

import numpy as np

from connectors.sample.context import NEVER, Accounts, Run, Users, slug
from connectors.sample.stories import FIXED_ROWS, plant_user_counts, plant_users
from connectors.sample.vocabulary import DEPARTMENTS, ROLES, words

FIRST_NAMES: tuple[str, ...] = words(
    "Alex, Priya, Jordan, Mei, Samuel, Fatima, Lucas, Aisha, Daniel, Sofia, Omar, Hannah, "
    "Mateo, Chloe, Ethan, Yuki, Noah, Zara, Liam, Elena, Kwame, Grace, Diego, Nina, Ravi, "
    "Olivia, Tomas, Leila, Benjamin, Ana, Chen, Isabel, Marcus, Amara, Felix, Julia, Hiro, "
    "Maya, Victor, Ines, Arjun, Clara, Kofi, Emma, Pedro, Sara, Jonas, Lina, Max, Rosa, "
    "Tariq, Freya, Andre, Naomi, Ivan, Keiko, Leo, Alma, Rahul, Eva"
)
LAST_NAMES: tuple[str, ...] = words(
    "Smith, Patel, Garcia, Nguyen, Kim, Okafor, Müller, Rossi, Silva, Cohen, Johnson, Singh, "
    "Martinez, Tanaka, Brown, Hassan, Dubois, Novak, Larsen, Williams, Chen, Lopez, "
    "Andersson, Kowalski, Mensah, Ivanova, Haddad, Fischer, Moreau, Santos, Yamamoto, "
    "Murphy, Schmidt, Reyes, Ali, Wright, Costa, Park, Bauer, Oliveira, Nakamura, Clarke, "
    "Romero, Sato, Walker, Lindqvist, Mbeki, Petrov, Fernandes, Ortiz, Campbell, Yilmaz, "
    "Jensen"
)
QUIET_BEFORE_DAYS = 31
"""Dormant users stop using the product at least this many days before the end date."""
ROLE_ENGAGEMENT = np.array([1.0, 1.05, 1.3, 0.9])
"""How much more (or less) often each role (owner, admin, power user, member) logs in."""
OWNER, ADMIN, POWER_USER, MEMBER = range(len(ROLES))


def users(run: Run, acc: Accounts) -> Users:
    """Contacts who use the product: how many, who, since when, how keen."""
    rng = run.rng("users")
    n_users, dormant_share = _user_counts(rng, run.n, acc)
    user_acc = np.repeat(np.arange(run.n), n_users)
    first = np.concatenate([[0], np.cumsum(n_users)[:-1]])
    pos = np.arange(len(user_acc)) - first[user_acc]  # position of the user inside its account
    role, main = _roles(rng, n_users, user_acc, pos)
    dept = _departments(rng, run.n, user_acc)
    created = _creation_days(rng, run.days, acc, user_acc, main | (pos == 0))
    stop = _dormancy(rng, run.days, dormant_share[user_acc], created, main)
    deact = _departures(rng, run.days, acc, user_acc, role, main, created)
    eng, intensity = _engagement(rng, acc.health[user_acc], role, main)
    first_names = np.array(FIRST_NAMES)[rng.integers(len(FIRST_NAMES), size=len(user_acc))]
    last_names = np.array(LAST_NAMES)[rng.integers(len(LAST_NAMES), size=len(user_acc))]
    people = Users(
        acc=user_acc,
        role=role,
        dept=dept,
        created=created,
        stop=stop,
        deact=deact,
        eng=eng.astype(np.float32),
        intensity=intensity,
        main=main,
        ext=np.array([f"user-{k + 1:05d}" for k in range(len(user_acc))], dtype=object),
        name=[],
        email=[],
    )
    plant_users(run, rng, people, acc.start_d)
    _name_people(people, acc, first_names, last_names)
    return people


def _user_counts(
    rng: np.random.Generator, n: int, acc: Accounts
) -> tuple[np.ndarray, np.ndarray]:
    """Users per account (seats x adoption) and each account's share of dormant users."""
    health = acc.health
    adopt = np.clip(0.55 + 0.5 * health + rng.normal(0, 0.04, n), 0.4, 1.08)
    n_users = np.maximum(2, np.rint(acc.seats * adopt)).astype(np.int64)
    # share of users gone quiet: steep between "fine" and "healthy" accounts
    dormant_share = 0.05 + 0.6 / (1 + np.exp((health - 0.6) / 0.07))
    dormant_share = np.clip(dormant_share + rng.normal(0, 0.02, n), 0, 0.7)
    plant_user_counts(acc.seats, n_users, dormant_share)
    return n_users, dormant_share


def _roles(
    rng: np.random.Generator, n_users: np.ndarray, user_acc: np.ndarray, pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Roles and main contacts: the first user owns the account, then a few admins, ~10%
    power users; the main contact is the owner, or in a fifth of accounts an admin."""
    n_admin = np.where(n_users >= 4, np.maximum(1, np.rint(n_users * 0.05)), 0)
    n_power = np.where(n_users >= 5, np.maximum(1, np.rint(n_users * 0.1)), 0)
    role = np.full(len(user_acc), MEMBER, dtype=np.int64)
    role[pos == 0] = OWNER
    role[(pos >= 1) & (pos < 1 + n_admin[user_acc])] = ADMIN
    power = (pos >= 1 + n_admin[user_acc]) & (pos < 1 + n_admin[user_acc] + n_power[user_acc])
    role[power] = POWER_USER
    main = pos == 0
    admin_main = (rng.random(len(n_users)) < 0.2) & (n_admin > 0)
    admin_main[FIXED_ROWS] = False
    swap = admin_main[user_acc]
    main[swap & (pos == 0)] = False
    main[swap & (pos == 1)] = True
    return role, main


def _departments(rng: np.random.Generator, n: int, user_acc: np.ndarray) -> np.ndarray:
    """Departments: each account concentrates in a few of them."""
    dept_weight = rng.dirichlet(np.full(len(DEPARTMENTS), 0.6), size=n)
    cdf = np.cumsum(dept_weight, axis=1)
    cdf[:, -1] = 1.0
    return (rng.random(len(user_acc))[:, None] > cdf[user_acc]).sum(axis=1)


def _creation_days(
    rng: np.random.Generator, days: int, acc: Accounts, user_acc: np.ndarray, first: np.ndarray
) -> np.ndarray:
    """When each user was created: the ``first`` users (owner, main contact) with the
    account, most others before the window or soon after the account started."""
    total = len(user_acc)
    start = acc.start_d[user_acc]
    old = start < 0
    r = rng.random(total)
    pre = rng.random(total) < 0.75
    created = np.where(
        old & pre,
        start + (r * np.maximum(-start, 1)).astype(np.int64),
        np.where(
            old,
            (r * (days - 5)).astype(np.int64),
            start + (r * np.minimum(10, np.maximum(days - 1 - start, 0) + 1)).astype(np.int64),
        ),
    )
    created[first] = start[first]
    return np.minimum(created, acc.end_d[user_acc] - 1)


def _dormancy(
    rng: np.random.Generator,
    days: int,
    dormant_share: np.ndarray,
    created: np.ndarray,
    main: np.ndarray,
) -> np.ndarray:
    """Day each user went dormant (``NEVER``: active): dormant users stop using the product
    before the last 30 days (or never start); main contacts never go dormant."""
    total = len(created)
    dormant = (rng.random(total) < dormant_share) & ~main
    never = rng.random(total) < 0.3
    stop = np.full(total, NEVER, dtype=np.int64)
    latest = days - QUIET_BEFORE_DAYS
    span = np.maximum(latest - np.maximum(created, 0), 0)
    stop_at = np.maximum(created, 0) + (rng.random(total) * span).astype(np.int64)
    stop[dormant] = np.where(
        never[dormant] | (span[dormant] == 0), created[dormant], stop_at[dormant]
    )
    return stop


def _departures(
    rng: np.random.Generator,
    days: int,
    acc: Accounts,
    user_acc: np.ndarray,
    role: np.ndarray,
    main: np.ndarray,
    created: np.ndarray,
) -> np.ndarray:
    """Deactivation day (``NEVER``: still there): a few members leave; never power users or
    anyone at a fixed account, so the planted departure stays unique."""
    total = len(user_acc)
    deact = np.full(total, NEVER, dtype=np.int64)
    leaves = (rng.random(total) < 0.015) & (role == MEMBER) & ~main
    leaves &= acc.end_d[user_acc] == days
    leaves[np.isin(user_acc, FIXED_ROWS)] = False
    lo_d = np.maximum(created, 0) + 1
    d_at = lo_d + (rng.random(total) * np.maximum(days - lo_d, 1)).astype(np.int64)
    leaves &= d_at < days
    deact[leaves] = d_at[leaves]
    return deact


def _engagement(
    rng: np.random.Generator, health: np.ndarray, role: np.ndarray, main: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weekday odds of being active and how much a user does when active (``health`` is
    each user's account health)."""
    total = len(role)
    eng = (0.01 + 0.85 * health**3) * ROLE_ENGAGEMENT[role] * rng.uniform(0.7, 1.25, total)
    eng = np.clip(eng, 0.03, 0.95)
    eng[main] = np.maximum(eng[main], 0.2 + 0.4 * health[main])
    intensity = rng.lognormal(0.0, 0.3, total) * np.where(role == POWER_USER, 1.6, 1.0)
    intensity *= 0.2 + health**2  # unhealthy accounts do less when they log in
    return eng, intensity


def _name_people(
    people: Users, acc: Accounts, first_names: np.ndarray, last_names: np.ndarray
) -> None:
    """Names and unique e-mail addresses at the account's domain."""
    seen: set[str] = set()
    for k in range(len(people.acc)):
        base = f"{slug(first_names[k])}.{slug(last_names[k])}"
        domain = acc.domain[people.acc[k]]
        email = f"{base}@{domain}"
        j = 2
        while email in seen:
            email = f"{base}{j}@{domain}"
            j += 1
        seen.add(email)
        people.name.append(f"{first_names[k]} {last_names[k]}")
        people.email.append(email)


def contacts(
    run: Run, acc: Accounts, people: Users, last_active: np.ndarray
) -> list[dict[str, Any]]:
    """Contact records, with last-seen taken from the generated usage so both agree."""
    rng = run.rng("contacts")
    hours = rng.integers(7, 19, size=len(people.acc))
    minutes = rng.integers(0, 60, size=len(people.acc))
    out: list[dict[str, Any]] = []
    for k in range(len(people.acc)):
        last = int(last_active[k])
        seen = (
            datetime.combine(run.day(last), time(int(hours[k]), int(minutes[k])))
            if last >= 0
            else None
        )
        deact = (
            datetime.combine(run.day(int(people.deact[k])), time(10, 30))
            if people.deact[k] < NEVER
            else None
        )
        out.append(
            {
                "external_id": str(people.ext[k]),
                "account_external_id": acc.ext[people.acc[k]],
                "email": people.email[k],
                "name": people.name[k],
                "department": DEPARTMENTS[people.dept[k]],
                "role": ROLES[people.role[k]],
                "is_main_contact": bool(people.main[k]),
                "created_on": run.day(int(people.created[k])),
                "last_seen_at": seen,
                "deactivated_at": deact,
            }
        )
    return out
