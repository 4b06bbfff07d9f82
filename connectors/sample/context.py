"""The state one generation run shares between its sections.

:class:`Run` holds the window (end date, days) and one independent random stream per
section, so a section's draws never shift another's. :class:`Accounts` and :class:`Users`
are the per-account and per-user arrays that the later sections read. Days are indexes
into the window: 0 is its first day, ``days - 1`` the end date, negative days lie before it.
"""

from __future__ import annotations

import calendar
import string
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

SECTIONS: tuple[str, ...] = (
    "owners",
    "accounts",
    "users",
    "usage",
    "integrations",
    "billing",
    "tickets",
    "surveys",
    "contacts",
)
"""Sections of the generator, each drawing from a random stream of its own (in this order)."""
MIN_ACCOUNTS = 20
MIN_DAYS = 30
NEVER = np.iinfo(np.int32).max // 2
"""Day index meaning "never" (a user who never goes dormant or is never deactivated)."""
FOREVER_AGO = -NEVER
"""Day index before any window (a feature available from the start)."""
_BASE62 = np.array(list(string.digits + string.ascii_letters))


class Run:
    """One generation run: its window of days and its random streams."""

    def __init__(self, seed: int, end_date: date, accounts: int, days: int) -> None:
        if accounts < MIN_ACCOUNTS:
            raise ValueError("the sample workspace needs at least 20 accounts")
        if days < MIN_DAYS:
            raise ValueError("the sample workspace needs at least 30 days of history")
        self.end = end_date
        self.n = accounts
        self.days = days
        self.start = end_date - timedelta(days=days - 1)
        self.dates = [self.start + timedelta(days=i) for i in range(days)]
        seeds = np.random.SeedSequence(seed).spawn(len(SECTIONS))
        self._streams = {name: np.random.default_rng(s) for name, s in zip(SECTIONS, seeds,
                                                                              strict=True)}

    def rng(self, section: str) -> np.random.Generator:
        """The random stream of ``section`` (one of :data:`SECTIONS`)."""
        return self._streams[section]

    def day(self, d: int) -> date:
        """The date of day index ``d``."""
        return self.start + timedelta(days=int(d))

    def ago(self, k: int) -> int:
        """Day index of ``end_date - k days``."""
        return self.days - 1 - k


@dataclass
class AccountDraft:
    """The accounts section's arrays while they are drawn, before names and prices."""

    tier: np.ndarray  # int index into TIERS
    health: np.ndarray
    size: np.ndarray  # 0..1 quantile of the account's size inside its tier's seat range
    seats: np.ndarray
    industry: list[str]
    region: np.ndarray  # int index into REGIONS
    annual: np.ndarray
    start_ago: np.ndarray  # days from the contract start to the end date
    names: list[str | None]
    domains: list[str | None]
    churned: np.ndarray
    fixed: np.ndarray  # the hand-placed accounts of the planted stories
    trial: np.ndarray
    end_d: np.ndarray


@dataclass
class Accounts:
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
class Users:
    """Per-user arrays; a user is a contact who may use the product."""

    acc: np.ndarray  # account row of each user
    role: np.ndarray  # int index into ROLES
    dept: np.ndarray  # int index into DEPARTMENTS
    created: np.ndarray
    stop: np.ndarray  # day from which the user is dormant (`NEVER`: never)
    deact: np.ndarray  # deactivation day (`NEVER`: not deactivated)
    eng: np.ndarray  # weekday probability of being active
    intensity: np.ndarray
    main: np.ndarray
    ext: np.ndarray  # external ids ("user-00001", ...)
    name: list[str]
    email: list[str]


def random_ids(rng: np.random.Generator, n: int, k: int) -> list[str]:
    """``n`` random base-62 identifiers of ``k`` characters."""
    return ["".join(row) for row in _BASE62[rng.integers(0, 62, size=(n, k))]]


def add_months(d: date, months: int) -> date:
    """``d`` moved by whole months, clamped to the end of a shorter month."""
    year, month = divmod(d.month - 1 + months, 12)
    year += d.year
    month += 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def next_anniversary(start: date, after: date, months: int = 12) -> date:
    """First date ``start + k*months`` strictly after ``after``."""
    k = max(1, ((after.year - start.year) * 12 + after.month - start.month) // months)
    while add_months(start, k * months) <= after:
        k += 1
    while k > 1 and add_months(start, (k - 1) * months) > after:
        k -= 1
    return add_months(start, k * months)


def slug(text: str) -> str:
    """Lower-case ASCII letters and digits only (for domains and e-mail local parts)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())
