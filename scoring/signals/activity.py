"""Usage and contacts per account, aggregated in ONE scan of the usage window.

The inner query aggregates usage per user (one row per user: activity in both windows,
value-weighted events, last active day, first core day, features as a bitmask); the
outer query joins contacts and rolls everything up per account: activity, active
departments and stakeholders, last activity of the main contact and of the owner role,
onboarding firsts, distinct features, and the contact facts (main contact, power users
deactivated). Sorting or hashing the window's rows once is the dominant cost, so there is
exactly one such pass per run. How each database computes it fastest (bitmasks, the
feature table, ``unindexed``) is :mod:`storage.usage_sql`'s business; what is counted is
this module's.

The same builder serves every engine that can hold usage (:mod:`storage.usage_engine`):
in Pulse's own database :func:`activity_stmt` does it all in one statement; elsewhere the
usage part (:func:`usage_rollup_stmt`, or :func:`per_user_stmt` where the per-user rows
must travel) runs where the usage lives, joined to :class:`People` (the contacts the
engine was handed), and the contact facts (:func:`contact_facts_stmt`) run in Pulse's, or
for a backtest in a local DuckDB handed every contact once (:func:`contacts_stmt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    FromClause,
    Integer,
    String,
    Subquery,
    and_,
    case,
    column,
    distinct,
    func,
    or_,
    select,
    table,
)

from pulse.kernel.config import ScoringConfig
from scoring.signals.features import DEFAULT_FEATURE_WEIGHT, feature_weights
from scoring.signals.windows import Windows
from storage.models import Contact
from storage.tuning import AnySelect
from storage.usage_sql import (
    BITWISE_DIALECTS,
    DayBits,
    FeatureBits,
    PerUserColumns,
    UsageTable,
    feature_bits,
    pulse_usage,
    unindexed,
)

STAKEHOLDER_ROLES = ("owner", "admin", "power_user")
"""Contact roles whose activity shows the account's decision makers are engaged."""
PEOPLE_TABLE = "pulse_contacts"
"""The name under which an outside engine is handed the contacts (:func:`engine_people`)."""
PEOPLE_TYPES = {
    "external_id": pa.string(),
    "account_id": pa.int64(),
    "department": pa.string(),
    "role": pa.string(),
    "is_main_contact": pa.bool_(),
}
"""The columns of :func:`people_stmt`, as the Arrow table an outside engine is handed."""


@dataclass(frozen=True)
class People:
    """The contacts the usage is rolled up through: who a user is, and their account.

    ``key`` matches the usage's user column: Pulse's contact id for ``usage_daily``, the
    contact's external id where usage lives outside (see :func:`engine_people`).
    """

    source: FromClause
    key: ColumnElement[Any]
    account_id: ColumnElement[Any]
    department: ColumnElement[Any]
    role: ColumnElement[Any]
    is_main_contact: ColumnElement[Any]


def pulse_people() -> People:
    """Pulse's ``contacts`` table, keyed by contact id."""
    contacts = Contact.__table__
    c = contacts.c
    return People(contacts, c.id, c.account_id, c.department, c.role, c.is_main_contact)


def engine_people() -> People:
    """The contacts as an outside engine is handed them (:data:`PEOPLE_TABLE`, the
    columns of :func:`people_stmt`), keyed by external id."""
    source = table(
        PEOPLE_TABLE,
        column("external_id", String),
        column("account_id", Integer),
        column("department", String),
        column("role", String),
        column("is_main_contact", Boolean),
    )
    c = source.c
    return People(source, c.external_id, c.account_id, c.department, c.role, c.is_main_contact)


def people_stmt(user_source: str) -> AnySelect:
    """What an outside engine is handed of the contacts of ``user_source`` (the source
    whose contact ids the usage rows carry): the columns :func:`engine_people` names."""
    contact = Contact
    return select(
        contact.external_id.label("external_id"),
        contact.account_id.label("account_id"),
        contact.department.label("department"),
        contact.role.label("role"),
        contact.is_main_contact.label("is_main_contact"),
    ).where(contact.source == user_source)


@dataclass(frozen=True)
class UsagePlan:
    """The phrasing of one run's usage aggregation for one engine (built once)."""

    windows: Windows
    usage: UsageTable
    features: FeatureBits
    days: DayBits

    @classmethod
    def build(
        cls, windows: Windows, cfg: ScoringConfig, catalogue: tuple[str, ...], dialect: str,
        usage: UsageTable,
    ) -> UsagePlan:
        weights = feature_weights(cfg)
        features = feature_bits(
            dialect, usage, catalogue, weights, cfg.core_features, DEFAULT_FEATURE_WEIGHT
        )
        days = DayBits(
            first=windows.start, last=windows.as_of, bitwise=dialect in BITWISE_DIALECTS,
            day=usage.day,
        )
        return cls(windows=windows, usage=usage, features=features, days=days)


def _per_user_select(plan: UsagePlan, accounts: tuple[int, int] | None) -> AnySelect:
    """One row per user active in the scanned history (see the module docstring)."""
    usage, windows, features, days = plan.usage, plan.windows, plan.features, plan.days
    day = unindexed(usage.day)
    current = usage.day >= windows.start
    previous = and_(usage.day >= windows.prev_start, usage.day < windows.start)
    core = features.core
    # Every aggregate here costs about 0.3 s per million rows on SQLite, so only what
    # cannot be derived later is computed: "active before" is a non-null previous
    # weighted sum, "ever active" a non-null last day.
    inner = (
        select(
            usage.user.label("user_id"),
            func.max(usage.day).label("last_day"),
            *days.per_user(current),
            func.sum(case((current, usage.events * features.weight))).label("w_now"),
            func.sum(case((previous, usage.events * features.weight))).label("w_prev"),
            func.sum(case((and_(current, core), usage.events))).label("core_now"),
            func.min(case((core, usage.day))).label("first_core_day"),
            *[mask.label(f"fnow_{i}") for i, mask in enumerate(features.masks(current))],
        )
        .select_from(features.source())
        .where(day >= windows.scan_start, day <= windows.as_of, usage.events > 0)
        .group_by(usage.user)
    )
    if accounts is not None and usage.account is not None:
        inner = inner.where(usage.account.between(*accounts))
    return inner


def per_user_stmt(plan: UsagePlan) -> AnySelect:
    """The per-user figures alone, for an engine that cannot be handed the contacts (a
    warehouse): its rows are rolled up by :func:`usage_rollup_stmt` over
    :func:`per_user_table` where the contacts are."""
    return _per_user_select(plan, None)


def per_user_table(plan: UsagePlan, name: str) -> FromClause:
    """The rows of :func:`per_user_stmt` stored as table ``name`` (same columns)."""
    return table(
        name, *[column(str(c.key), c.type) for c in per_user_stmt(plan).selected_columns]
    )


@dataclass(frozen=True)
class _Roles:
    """The contact conditions both roll-ups use (built once, so bound once)."""

    main: ColumnElement[bool]
    owner: ColumnElement[bool]

    @classmethod
    def of(cls, people: People | Any) -> _Roles:
        """From :class:`People`, or any columns holding ``is_main_contact`` and ``role``."""
        return cls(main=people.is_main_contact.is_(True), owner=people.role == "owner")


def _usage_columns(
    users: PerUserColumns, plan: UsagePlan, cfg: ScoringConfig, people: People, roles: _Roles
) -> list[ColumnElement[Any]]:
    """Per account: activity of its users in both windows, features, last active days."""
    features, days = plan.features, plan.days
    now = days.active(users)
    was = users.w_prev.is_not(None)
    stakeholder = people.role.in_(STAKEHOLDER_ROLES)
    main, owner = roles.main, roles.owner
    weights = feature_weights(cfg)
    core = set(cfg.core_features)

    def used(pick: Any) -> ColumnElement[Any]:
        return features.used_sum(lambda chunk: getattr(users, f"fnow_{chunk}"), pick)

    return [
        func.sum(case((now, 1), else_=0)).label("active_users"),
        func.sum(case((was, 1), else_=0)).label("active_users_prev"),
        func.coalesce(func.sum(days.count(users)), 0).label("user_days"),
        func.coalesce(func.sum(users.w_now), 0.0).label("weighted_events"),
        func.coalesce(func.sum(users.w_prev), 0.0).label("weighted_events_prev"),
        func.coalesce(func.sum(users.core_now), 0).label("core_events"),
        used(lambda f: 1.0).label("features_used"),
        used(lambda f: weights.get(f, DEFAULT_FEATURE_WEIGHT)).label("weighted_features_used"),
        used(lambda f: 1.0 if f in core else 0.0).label("core_features_used"),
        func.count(distinct(case((now, people.department)))).label("departments_active"),
        func.count(distinct(case((was, people.department)))).label("departments_active_prev"),
        func.sum(case((and_(now, stakeholder), 1), else_=0)).label("stakeholders_active"),
        func.sum(case((and_(was, stakeholder), 1), else_=0)).label("stakeholders_active_prev"),
        func.max(case((main, users.last_day))).label("main_last_day"),
        func.max(case((owner, users.last_day))).label("owner_last_day"),
        func.max(users.last_day).label("last_active_day"),
        func.min(users.first_core_day).label("first_core_day"),
    ]


def _contact_columns(windows: Windows, roles: _Roles, contact: Any) -> list[ColumnElement[Any]]:
    """Per account: its contacts as of ``as_of`` (main contact, owner role, power users),
    from ``contact``'s columns (Pulse's ``contacts`` or an engine's :data:`CONTACTS_TABLE`)."""
    main, owner = roles.main, roles.owner
    power = contact.role == "power_user"
    existed = or_(contact.created_on.is_(None), contact.created_on <= windows.as_of)
    seen = contact.last_seen_at < windows.end_dt
    deactivated = contact.deactivated_at < windows.end_dt
    recently_deactivated = and_(
        power, contact.deactivated_at >= windows.power_user_start_dt, deactivated
    )
    still_active = or_(contact.deactivated_at.is_(None), contact.deactivated_at >= windows.end_dt)

    def count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((condition, 1), else_=0))

    def latest(condition: ColumnElement[bool], value: Any) -> ColumnElement[Any]:
        return func.max(case((condition, value)))

    return [
        count(existed).label("contacts"),
        count(and_(existed, main)).label("main_contacts"),
        latest(and_(existed, main), contact.name).label("main_contact_name"),
        latest(and_(existed, main), contact.created_on).label("main_created_on"),
        latest(and_(main, seen), contact.last_seen_at).label("main_last_seen_at"),
        count(and_(main, deactivated)).label("main_deactivated"),
        count(and_(existed, owner)).label("owner_contacts"),
        latest(and_(existed, owner), contact.name).label("owner_contact_name"),
        latest(and_(existed, owner), contact.created_on).label("owner_created_on"),
        latest(and_(owner, seen), contact.last_seen_at).label("owner_last_seen_at"),
        count(and_(existed, power)).label("power_users"),
        count(and_(existed, power, still_active)).label("power_users_active"),
        count(recently_deactivated).label("power_users_deactivated"),
        latest(recently_deactivated, contact.name).label("power_user_deactivated_name"),
        latest(recently_deactivated, contact.deactivated_at).label("power_user_deactivated_at"),
        func.count(distinct(case((existed, contact.department)))).label("departments"),
    ]


def activity_stmt(
    windows: Windows,
    cfg: ScoringConfig,
    catalogue: tuple[str, ...],
    dialect: str = "sqlite",
    accounts: tuple[int, int] | None = None,
) -> AnySelect:
    """Usage and contacts per account in ONE scan of Pulse's ``usage_daily`` (module
    docstring).

    ``accounts`` limits the statement to an inclusive range of account ids, so the work
    can be split across connections.
    """
    plan = UsagePlan.build(windows, cfg, catalogue, dialect, pulse_usage())
    per_user = _per_user_select(plan, accounts).subquery("per_user")
    people = pulse_people()
    roles = _Roles.of(people)
    stmt = (
        select(
            Contact.account_id.label("account_id"),
            *_usage_columns(per_user.c, plan, cfg, people, roles),
            *_contact_columns(windows, roles, Contact.__table__.c),
        )
        .select_from(Contact)
        .outerjoin(per_user, per_user.c.user_id == Contact.id)
        .group_by(Contact.account_id)
    )
    if accounts is not None:
        stmt = stmt.where(Contact.account_id.between(*accounts))
    return stmt


def usage_rollup_stmt(
    plan: UsagePlan, cfg: ScoringConfig, people: People, per_user: FromClause | None = None
) -> AnySelect:
    """The usage figures per account (no contact facts: :func:`contact_facts_stmt`) for
    an engine holding the usage and the ``people``: over the usage itself, or over
    ``per_user`` (a :func:`per_user_table` of rows :func:`per_user_stmt` gave)."""
    users: Subquery | FromClause = (
        _per_user_select(plan, None).subquery("per_user") if per_user is None else per_user
    )
    return (
        select(
            people.account_id.label("account_id"),
            *_usage_columns(users.c, plan, cfg, people, _Roles.of(people)),
        )
        .select_from(people.source)
        .outerjoin(users, users.c.user_id == people.key)
        .group_by(people.account_id)
    )


CONTACTS_TABLE = "pulse_all_contacts"
"""The name under which a local DuckDB is handed every contact (:func:`contacts_stmt`)."""
CONTACT_TYPES = {
    "account_id": pa.int64(),
    "name": pa.string(),
    "department": pa.string(),
    "role": pa.string(),
    "is_main_contact": pa.bool_(),
    "created_on": pa.date32(),
    "last_seen_at": pa.timestamp("us"),
    "deactivated_at": pa.timestamp("us"),
}
"""The columns of :func:`contacts_stmt`, as the Arrow table DuckDB is handed."""


def contacts_stmt() -> AnySelect:
    """Every contact (of every source) with what the contact facts read: read once for a
    backtest, whose dates then compute their facts in DuckDB (:func:`contact_facts_stmt`)."""
    c = Contact.__table__.c
    return select(*(c[name] for name in CONTACT_TYPES))


def contact_facts_stmt(windows: Windows, handed: bool = False) -> AnySelect:
    """The contact facts per account (main contact, owner, power users, departments),
    when the usage is aggregated elsewhere: in Pulse's database, or (``handed``) in a
    DuckDB handed :func:`contacts_stmt`'s rows as :data:`CONTACTS_TABLE`."""
    source: FromClause = Contact.__table__
    if handed:
        types = {pa.int64(): Integer, pa.bool_(): Boolean, pa.date32(): Date,
                 pa.timestamp("us"): DateTime}
        source = table(CONTACTS_TABLE, *(column(name, types.get(kind, String))
                                          for name, kind in CONTACT_TYPES.items()))
    c = source.c
    return (
        select(c.account_id.label("account_id"), *_contact_columns(windows, _Roles.of(c), c))
        .select_from(source)
        .group_by(c.account_id)
    )
