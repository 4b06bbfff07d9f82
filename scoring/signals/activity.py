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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Subquery, and_, case, distinct, func, or_, select

from pulse.kernel.config import ScoringConfig
from scoring.signals.features import DEFAULT_FEATURE_WEIGHT, feature_weights
from scoring.signals.windows import Windows
from storage.models import Contact, UsageDaily
from storage.tuning import AnySelect
from storage.usage_sql import DayBits, FeatureBits, PerUserColumns, feature_bits, unindexed

STAKEHOLDER_ROLES = ("owner", "admin", "power_user")
"""Contact roles whose activity shows the account's decision makers are engaged."""


def _per_user(
    windows: Windows, features: FeatureBits, days: DayBits, accounts: tuple[int, int] | None
) -> Subquery:
    """One row per user active in the scanned history (see the module docstring)."""
    usage = UsageDaily
    day = unindexed(usage.day)
    current = usage.day >= windows.start
    previous = and_(usage.day >= windows.prev_start, usage.day < windows.start)
    core = features.core
    # Every aggregate here costs about 0.3 s per million rows on SQLite, so only what
    # cannot be derived later is computed: "active before" is a non-null previous
    # weighted sum, "ever active" a non-null last day.
    inner = (
        select(
            usage.user_id.label("user_id"),
            func.max(usage.day).label("last_day"),
            *days.per_user(current),
            func.sum(case((current, usage.events * features.weight))).label("w_now"),
            func.sum(case((previous, usage.events * features.weight))).label("w_prev"),
            func.sum(case((and_(current, core), usage.events))).label("core_now"),
            func.min(case((core, usage.day))).label("first_core_day"),
            *[mask.label(f"fnow_{i}") for i, mask in enumerate(features.masks(current))],
        )
        .where(day >= windows.scan_start, day <= windows.as_of, usage.events > 0)
        .group_by(usage.user_id)
    )
    if features.table is not None:
        inner = inner.select_from(features.source())
    if accounts is not None:
        inner = inner.where(usage.account_id.between(*accounts))
    return inner.subquery("per_user")


@dataclass(frozen=True)
class _Roles:
    """The contact conditions both roll-ups use (built once, so bound once)."""

    main: ColumnElement[bool] = field(default_factory=lambda: Contact.is_main_contact.is_(True))
    owner: ColumnElement[bool] = field(default_factory=lambda: Contact.role == "owner")


def _usage_columns(
    users: PerUserColumns, features: FeatureBits, days: DayBits, cfg: ScoringConfig, roles: _Roles
) -> list[ColumnElement[Any]]:
    """Per account: activity of its users in both windows, features, last active days."""
    contact = Contact
    now = days.active(users)
    was = users.w_prev.is_not(None)
    stakeholder = contact.role.in_(STAKEHOLDER_ROLES)
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
        func.count(distinct(case((now, contact.department)))).label("departments_active"),
        func.count(distinct(case((was, contact.department)))).label("departments_active_prev"),
        func.sum(case((and_(now, stakeholder), 1), else_=0)).label("stakeholders_active"),
        func.sum(case((and_(was, stakeholder), 1), else_=0)).label("stakeholders_active_prev"),
        func.max(case((main, users.last_day))).label("main_last_day"),
        func.max(case((owner, users.last_day))).label("owner_last_day"),
        func.max(users.last_day).label("last_active_day"),
        func.min(users.first_core_day).label("first_core_day"),
    ]


def _contact_columns(windows: Windows, roles: _Roles) -> list[ColumnElement[Any]]:
    """Per account: its contacts as of ``as_of`` (main contact, owner role, power users)."""
    contact = Contact
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
    """Usage and contacts per account in ONE scan of the usage window (module docstring).

    ``accounts`` limits the statement to an inclusive range of account ids, so the work
    can be split across connections.
    """
    features = feature_bits(
        dialect, catalogue, feature_weights(cfg), cfg.core_features, DEFAULT_FEATURE_WEIGHT
    )
    days = DayBits(first=windows.start, last=windows.as_of, postgres=dialect == "postgresql")
    per_user = _per_user(windows, features, days, accounts)
    users = per_user.c
    roles = _Roles()
    stmt = (
        select(
            Contact.account_id.label("account_id"),
            *_usage_columns(users, features, days, cfg, roles),
            *_contact_columns(windows, roles),
        )
        .select_from(Contact)
        .outerjoin(per_user, users.user_id == Contact.id)
        .group_by(Contact.account_id)
    )
    if accounts is not None:
        stmt = stmt.where(Contact.account_id.between(*accounts))
    return stmt
