"""Per-account raw signals as of a date, aggregated inside the database.

Why it is built this way:

* **Aggregation happens in SQL** (SQLAlchemy Core ``select ... GROUP BY``), so pandas
  only ever receives one row of figures per account and query, never raw usage rows.
  Usage is read in ONE pass (:func:`_activity_stmt`): per user first, then rolled up per
  account together with the contacts, because that pass dominates the cost of a run.
* **Nothing dated after ``as_of`` is read.** Every query is bounded above by ``as_of``
  (dates) or by ``as_of + 1 day, 00:00`` (timestamps), and "current state" columns that
  could leak the future are reinterpreted: an invoice paid after ``as_of`` counts as unpaid,
  a ticket solved after ``as_of`` counts as open, ``last_seen_at`` after ``as_of`` is ignored.
  A backtest that recomputes a past score therefore sees what a CSM would have seen.
* **Same figures on SQLite and PostgreSQL.** Dates are compared with bound ``date`` /
  ``datetime`` parameters and day differences are computed in pandas. The few dialect
  branches are for speed only and compute the same numbers (the DB tests pin exact
  figures on both): distinct sets are carried as bitmasks, OR-ed with ``bit_or`` on
  PostgreSQL and ``SUM(DISTINCT 2**k)`` on SQLite; active days are counted with
  ``COUNT(DISTINCT day)`` on SQLite and as day bits on PostgreSQL (which keeps its
  aggregate parallel); PostgreSQL names each row's feature weight, core status and bit
  by joining a small VALUES table (:func:`_feature_table`) instead of comparing the
  feature text in CASE chains; SQLite is told to scan rather than use the day index
  (:class:`unindexed`); PostgreSQL gets more ``work_mem`` and no JIT for that one query.

The public entry point is :func:`load_signals`; :func:`make_signals` builds the same
structure from hand-written records for pure tests and what-if analysis. Scoring many
dates in a row (the backtest) reads the usage calendar once (:func:`usage_calendar`)
and hands it to each call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    Engine,
    Float,
    FunctionElement,
    Integer,
    Select,
    String,
    Values,
    and_,
    case,
    cast,
    column,
    distinct,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    values,
)
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from pulse.kernel.config import ScoringConfig
from storage.models import (
    LINKED_ONLY_SOURCES,
    Account,
    Contact,
    IntegrationDaily,
    Invoice,
    Override,
    ScoreSnapshot,
    SurveyResponse,
    Ticket,
    UsageDaily,
)

TICKET_LOOKBACK_DAYS = 90
"""Support tickets older than this no longer describe how the relationship feels today."""
NPS_LOOKBACK_DAYS = 180
"""NPS is surveyed rarely; an answer older than six months is too stale to score."""
CSAT_LOOKBACK_DAYS = 180
ONBOARDING_MAX_AGE_DAYS = 60
"""Past two months an account is no longer "onboarding": the usage components take over."""
SNAPSHOT_LOOKBACK_DAYS = 62
"""Previous snapshots older than this are too stale for the score-drop flag."""
CORE_FEATURE_WEIGHT = 3.0
STAKEHOLDER_ROLES = ("owner", "admin", "power_user")
URGENT_PRIORITIES = ("urgent", "high")
CLOSED_TICKET_STATUSES = ("solved", "closed")

COUNT_COLUMNS: tuple[str, ...] = (
    "active_users",
    "user_days",
    "features_used",
    "weighted_features_used",
    "core_features_used",
    "active_users_prev",
    "weighted_events",
    "weighted_events_prev",
    "core_events",
    "departments_active",
    "departments_active_prev",
    "stakeholders_active",
    "stakeholders_active_prev",
    "contacts",
    "main_contacts",
    "main_deactivated",
    "owner_contacts",
    "power_users",
    "power_users_active",
    "power_users_deactivated",
    "departments",
    "integration_runs",
    "integration_failures",
    "failing_integrations",
    "integration_runs_7d",
    "integration_failures_7d",
    "tickets_90d",
    "open_urgent_high",
    "new_urgent_high",
    "bad_satisfaction_90d",
    "good_satisfaction_90d",
    "negative_sentiment_90d",
    "negative_sentiment_flag",
    "nps_responses",
    "csat_responses",
    "invoices_on_file",
    "overdue_invoices",
    "overdue_amount",
)
"""Figures that are genuinely zero when the account has no matching rows."""

DATE_COLUMNS: tuple[str, ...] = (
    "contract_start",
    "renewal_date",
    "churned_on",
    "main_last_day",
    "owner_last_day",
    "main_created_on",
    "owner_created_on",
    "main_last_seen_at",
    "owner_last_seen_at",
    "power_user_deactivated_at",
    "last_active_day",
    "first_core_day",
    "nps_latest_at",
    "oldest_overdue_due_on",
    "prev1_as_of",
    "prev2_as_of",
    "csm_until",
)
"""Dates and timestamps, kept as ``datetime64`` (NaT when unknown)."""

FLOAT_COLUMNS: tuple[str, ...] = (
    "arr",
    "licensed_seats",
    "nps_latest",
    "csat_avg",
    "prev1_score",
    "prev2_score",
    "csm_score",
)
"""Figures that are unknown (NaN), not zero, when missing."""

TEXT_COLUMNS: tuple[str, ...] = (
    "account_name",
    "lifecycle",
    "segment",
    "main_contact_name",
    "owner_contact_name",
    "power_user_deactivated_name",
    "failing_integration_name",
    "csm_kind",
    "csm_sentiment",
    "csm_reason",
    "csm_author",
)


@dataclass(frozen=True)
class Windows:
    """Every date boundary of one scoring run, computed once so all queries agree.

    The current window is the ``window_days`` days ending on ``as_of`` inclusive
    (``start .. as_of``); the previous window is the same length just before it.
    Timestamp bounds are exclusive upper bounds at midnight after ``as_of``.
    """

    as_of: date
    window_days: int
    start: date
    prev_start: date
    scan_start: date
    end_dt: datetime
    window_start_dt: datetime
    ticket_start_dt: datetime
    sentiment_start_dt: datetime
    nps_start_dt: datetime
    csat_start_dt: datetime
    power_user_start_dt: datetime
    integration_7d_start: date
    snapshot_start: date

    @classmethod
    def build(cls, as_of: date, cfg: ScoringConfig) -> Windows:
        w = cfg.window_days
        flags = cfg.flags
        end_dt = datetime.combine(as_of + timedelta(days=1), time())
        # One scan of usage serves every purpose, so it reaches back far enough for both
        # windows, both silence thresholds and the whole onboarding period.
        scan_days = max(
            2 * w,
            flags.owner_silent_days + 1,
            flags.main_contact_silent_days + 1,
            ONBOARDING_MAX_AGE_DAYS,
        )
        return cls(
            as_of=as_of,
            window_days=w,
            start=as_of - timedelta(days=w - 1),
            prev_start=as_of - timedelta(days=2 * w - 1),
            scan_start=as_of - timedelta(days=scan_days - 1),
            end_dt=end_dt,
            window_start_dt=end_dt - timedelta(days=w),
            ticket_start_dt=end_dt - timedelta(days=TICKET_LOOKBACK_DAYS),
            sentiment_start_dt=end_dt - timedelta(days=flags.negative_sentiment_days),
            nps_start_dt=end_dt - timedelta(days=NPS_LOOKBACK_DAYS),
            csat_start_dt=end_dt - timedelta(days=CSAT_LOOKBACK_DAYS),
            power_user_start_dt=end_dt - timedelta(days=flags.power_user_deactivated_days),
            integration_7d_start=as_of - timedelta(days=6),
            snapshot_start=as_of - timedelta(days=SNAPSHOT_LOOKBACK_DAYS),
        )

    @property
    def scan_days(self) -> int:
        """Days of usage history read (the silence of a contact is known up to this)."""
        return (self.as_of - self.scan_start).days + 1


@dataclass(frozen=True)
class WorkspaceMeta:
    """Workspace-wide facts that decide whether a signal has data at all.

    A source that is not connected (no usage rows anywhere, no tickets anywhere) means
    "no data" for every account; an account without rows in a connected source means
    a genuine zero (e.g. nobody used the product), which must count against it.
    """

    windows: Windows
    has_usage: bool
    usage_first_day: date | None
    catalogue: tuple[str, ...]
    has_tickets: bool
    has_surveys: bool
    has_integrations: bool = False

    @property
    def catalogue_size(self) -> int:
        return len(self.catalogue)

    @property
    def usage_covers_previous_window(self) -> bool:
        """True when usage history reaches back (within a week) to the previous window."""
        if self.usage_first_day is None:
            return False
        return self.usage_first_day <= self.windows.prev_start + timedelta(days=7)


@dataclass
class Signals:
    """Per-account raw figures (index ``account_id``) plus the workspace facts."""

    frame: pd.DataFrame
    meta: WorkspaceMeta
    timings: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Feature value weights


def feature_weights(cfg: ScoringConfig) -> dict[str, float]:
    """Value weight per feature: core features 3, explicit ``feature_weights`` override.

    An explicit entry wins over the core default so a workspace can say "api is core but
    worth 5" without editing two lists. Features not listed weigh 1.
    """
    weights = {f: CORE_FEATURE_WEIGHT for f in cfg.core_features}
    weights.update({f: float(w) for f, w in cfg.feature_weights.items()})
    return weights


def feature_weight(feature: str, cfg: ScoringConfig) -> float:
    """Python mirror of :func:`feature_weight_expr` (for tests and explanations)."""
    return feature_weights(cfg).get(feature, 1.0)


def feature_weight_expr(cfg: ScoringConfig) -> ColumnElement[Any]:
    """SQL ``CASE`` giving each usage row's value weight; portable across dialects."""
    by_weight: dict[float, list[str]] = defaultdict(list)
    for feature, weight in feature_weights(cfg).items():
        if weight != 1.0:
            by_weight[weight].append(feature)
    if not by_weight:
        return literal(1.0, Float)
    whens = [
        (UsageDaily.feature.in_(sorted(features)), literal(weight, Float))
        for weight, features in sorted(by_weight.items())
    ]
    return case(*whens, else_=literal(1.0, Float))


# ---------------------------------------------------------------------------------------
# Queries


def _frame(session: Session, stmt: Select[Any]) -> pd.DataFrame:
    """Run a Core ``stmt`` on the session's connection: through ``Session.execute`` every
    row also passed the ORM's row loading, 0.6 s per date for 100,000 accounts."""
    session.flush()  # what Session.execute would have flushed first
    result = session.connection().execute(stmt)
    columns = list(result.keys())
    return _records(result.all(), columns)


def _records(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    """Rows as a frame, via plain tuples: pandas probes each SQLAlchemy ``Row`` for
    attributes it lacks, which took 0.45 s per 100,000 rows against 0.08 s this way."""
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)


def _account_columns() -> Select[Any]:
    """What scoring reads of an account, for every account scored on some date (the
    date's own conditions are :func:`_accounts_stmt`'s and :meth:`AccountRoster.alive_on`'s)."""
    return select(
        Account.id.label("account_id"),
        Account.name.label("account_name"),
        Account.owner_id.label("owner_id"),
        Account.segment.label("segment"),
        Account.arr.label("arr"),
        Account.licensed_seats.label("licensed_seats"),
        Account.contract_start.label("contract_start"),
        Account.renewal_date.label("renewal_date"),
        Account.lifecycle.label("lifecycle"),
        Account.churned_on.label("churned_on"),
    ).where(Account.source.not_in(LINKED_ONLY_SOURCES))


def _accounts_stmt(w: Windows) -> Select[Any]:
    """Accounts alive on ``as_of``: not churned (or churned later) and already started."""
    return (
        _account_columns()
        .where(
            or_(Account.lifecycle != "churned", Account.churned_on > w.as_of),
            or_(Account.contract_start.is_(None), Account.contract_start <= w.as_of),
        )
        .order_by(Account.id)
    )


@dataclass(frozen=True)
class AccountRoster:
    """Every scoreable account, read once for a run that scores many dates (a backtest).

    Reading and converting the 100,000 accounts took 0.7-0.8 s for each date; the
    roster answers :func:`_accounts_stmt`'s question for any date from memory, with the
    same rule (:meth:`alive_on`), so a date's frame is the one the query would give.
    """

    frame: pd.DataFrame
    churned: np.ndarray
    """True where ``lifecycle`` is "churned"."""
    churned_on: np.ndarray
    """``datetime64[D]``, NaT when unknown."""
    contract_start: np.ndarray
    """``datetime64[D]``, NaT when unknown."""

    def alive_on(self, as_of: date) -> pd.DataFrame:
        """The accounts :func:`_accounts_stmt` selects for ``as_of``, in the same order."""
        day = np.datetime64(as_of, "D")
        with np.errstate(invalid="ignore"):
            alive = (~self.churned | (self.churned_on > day)) & (
                np.isnat(self.contract_start) | (self.contract_start <= day)
            )
        return self.frame[alive].reset_index(drop=True)


def account_roster(session: Session) -> AccountRoster:
    """Read every scoreable account once (see :class:`AccountRoster`)."""
    frame = _frame(session, _account_columns().order_by(Account.id))

    def days(col: str) -> np.ndarray:
        return pd.to_datetime(frame[col]).to_numpy(dtype="datetime64[D]")

    return AccountRoster(
        frame=frame,
        churned=(frame["lifecycle"] == "churned").to_numpy(dtype=bool),
        churned_on=days("churned_on"),
        contract_start=days("contract_start"),
    )


class unindexed(FunctionElement[Any]):
    """A column reference the SQLite planner may not use an index for (``+col``).

    For the usage window SQLite would otherwise walk the ``(day, account_id)`` index and
    fetch every matching row from the table at random, which measured ten times slower
    than one sequential scan whenever the two windows hold more than a few percent of the
    history. Other databases get the plain column and their own planner's choice.
    """

    inherit_cache = True
    name = "unindexed"
    type = Date()


@compiles(unindexed)
def _unindexed_default(element: unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.clauses, **kw))


BITMASK_CHUNK = 60
"""Bits per bitmask column: powers of two up to 2**59 stay inside a signed 64-bit int."""


def _feature_masks(
    catalogue: tuple[str, ...], when: ColumnElement[bool]
) -> list[ColumnElement[Any]]:
    """SQLite: per user, the set of catalogue features used while ``when`` holds, as
    bitmasks (PostgreSQL reads the bits off :func:`_feature_table` and ORs them).

    Carrying distinct features through the per-user aggregation as bits means distinct
    features per account need no second scan of usage. SQLite has no OR aggregate, but
    ``SUM(DISTINCT 2**k)`` equals the OR of the distinct powers present.
    """
    exprs: list[ColumnElement[Any]] = []
    for c0 in range(0, len(catalogue), BITMASK_CHUNK):
        chunk = catalogue[c0 : c0 + BITMASK_CHUNK]
        code = case(
            {f: literal(1 << k, BigInteger) for k, f in enumerate(chunk)},
            value=UsageDaily.feature,
        )
        exprs.append(cast(func.sum(distinct(case((when, code)))), BigInteger))
    return exprs


def _day_masks(w: Windows) -> list[tuple[date, ColumnElement[Any]]]:
    """PostgreSQL only: per user, the days active in the current window as bitmasks.

    ``COUNT(DISTINCT day)`` forces PostgreSQL into a sorted, non-parallel aggregate over
    every usage row; bits OR-ed with ``bit_or`` and counted afterwards do not.
    """
    out: list[tuple[date, ColumnElement[Any]]] = []
    for c0 in range(0, w.window_days, BITMASK_CHUNK):
        first = w.start + timedelta(days=c0)
        last = min(first + timedelta(days=BITMASK_CHUNK - 1), w.as_of)
        bit = literal(1, BigInteger).op("<<")((UsageDaily.day - first).self_group())
        inside = and_(UsageDaily.day >= first, UsageDaily.day <= last)
        out.append((first, func.bit_or(case((inside, bit)))))
    return out


def _bit(mask: ColumnElement[Any], k: int) -> ColumnElement[Any]:
    """Bit ``k`` of ``mask`` as 0/1 (``>>`` and ``&`` exist in SQLite and PostgreSQL)."""
    return mask.op(">>")(literal(k, Integer)).op("&")(literal(1, BigInteger))


def _bit_count(mask: ColumnElement[Any]) -> ColumnElement[Any]:
    """PostgreSQL (14+): number of set bits of a non-negative ``bigint`` mask."""
    return func.bit_count(cast(mask, BIT(64)))


def _chunks(n: int) -> int:
    """Bitmask columns needed for ``n`` bits."""
    return -(-n // BITMASK_CHUNK)


def _feature_table(catalogue: tuple[str, ...], cfg: ScoringConfig) -> Values | None:
    """PostgreSQL: a VALUES table of every feature scoring knows about (the catalogue,
    the core features, those with a configured weight): its value weight, whether it is
    core, and its bit in each catalogue mask chunk (NULL outside its chunk). A usage row
    of a feature missing from it weighs 1, is not core and sets no bit, exactly as the
    CASE expressions of :func:`feature_weight_expr` and :func:`_feature_masks` say.
    None when there is no feature to list (VALUES needs a row)."""
    weights = feature_weights(cfg)
    core = set(cfg.core_features)
    position = {f: k for k, f in enumerate(catalogue)}
    chunks = _chunks(len(catalogue))
    names = sorted(set(catalogue) | core | set(weights))
    if not names:
        return None
    rows = []
    for name in names:
        bits: list[int | None] = [None] * chunks
        if name in position:
            chunk, bit = divmod(position[name], BITMASK_CHUNK)
            bits[chunk] = 1 << bit
        rows.append((name, weights.get(name, 1.0), name in core, *bits))
    columns = [
        column("name", String),
        column("weight", Float),
        column("core", Boolean),
        *(column(f"bit_{i}", BigInteger) for i in range(chunks)),
    ]
    return values(*columns, name="features").data(rows)


def _activity_stmt(
    w: Windows,
    cfg: ScoringConfig,
    catalogue: tuple[str, ...],
    dialect: str = "sqlite",
    accounts: tuple[int, int] | None = None,
) -> Select[Any]:
    """Usage and contacts per account in ONE scan of the usage window.

    The inner query aggregates usage per user (one row per user: activity in both windows,
    value-weighted events, last active day, first core day, features as a bitmask); the
    outer query joins contacts and rolls everything up per account: activity, active
    departments and stakeholders, last activity of the main contact and of the owner
    role, onboarding firsts, distinct features, and the contact facts (main contact, power
    users deactivated). Sorting or hashing the window's rows once is the dominant cost, so
    there is exactly one such pass per run. ``accounts`` limits the statement to an
    inclusive range of account ids, so the work can be split across connections.
    """
    u = UsageDaily
    day = unindexed(u.day)
    cur = u.day >= w.start
    prev = and_(u.day >= w.prev_start, u.day < w.start)
    postgres = dialect == "postgresql"
    features = _feature_table(catalogue, cfg) if postgres else None
    if features is not None:
        # one hash probe per row names the feature's weight, core status and bit, where
        # the CASE chains of the other branch compare its text up to 36 times a row
        weight: ColumnElement[Any] = func.coalesce(features.c.weight, 1.0)
        core: ColumnElement[Any] = features.c.core
        masks = [
            func.bit_or(case((cur, features.c[f"bit_{i}"])))
            for i in range(_chunks(len(catalogue)))
        ]
    else:
        weight = feature_weight_expr(cfg)
        core = u.feature.in_(list(cfg.core_features))
        masks = _feature_masks(catalogue, cur)
    if postgres:
        day_cols = [m.label(f"dmask_{i}") for i, (_, m) in enumerate(_day_masks(w))]
    else:
        day_cols = [func.count(distinct(case((cur, u.day)))).label("days_now")]
    # Every aggregate here costs about 0.3 s per million rows on SQLite, so only what
    # cannot be derived later is computed: "active before" is a non-null previous
    # weighted sum, "ever active" a non-null last day.
    inner = (
        select(
            u.user_id.label("user_id"),
            func.max(u.day).label("last_day"),
            *day_cols,
            func.sum(case((cur, u.events * weight))).label("w_now"),
            func.sum(case((prev, u.events * weight))).label("w_prev"),
            func.sum(case((and_(cur, core), u.events))).label("core_now"),
            func.min(case((core, u.day))).label("first_core_day"),
            *[m.label(f"fnow_{i}") for i, m in enumerate(masks)],
        )
        .where(day >= w.scan_start, day <= w.as_of, u.events > 0)
        .group_by(u.user_id)
    )
    if features is not None:
        inner = inner.select_from(
            u.__table__.outerjoin(features, features.c.name == u.feature)
        )
    if accounts is not None:
        inner = inner.where(u.account_id.between(*accounts))
    per_user = inner.subquery("per_user")
    pu = per_user.c
    c = Contact
    if postgres:
        n_chunks = len(day_cols)
        now = or_(*[getattr(pu, f"dmask_{i}").is_not(None) for i in range(n_chunks)])
        days_now: ColumnElement[Any] = literal(0, BigInteger)
        for i in range(n_chunks):
            days_now = days_now + func.coalesce(_bit_count(getattr(pu, f"dmask_{i}")), 0)
    else:
        now = pu.days_now > 0
        days_now = pu.days_now
    was = pu.w_prev.is_not(None)
    stakeholder = c.role.in_(STAKEHOLDER_ROLES)
    main = c.is_main_contact.is_(True)
    owner = c.role == "owner"
    power = c.role == "power_user"
    existed = or_(c.created_on.is_(None), c.created_on <= w.as_of)
    seen = c.last_seen_at < w.end_dt
    deactivated = c.deactivated_at < w.end_dt
    recently_deactivated = and_(power, c.deactivated_at >= w.power_user_start_dt, deactivated)
    still_active = or_(c.deactivated_at.is_(None), c.deactivated_at >= w.end_dt)
    weights = feature_weights(cfg)
    core_set = set(cfg.core_features)

    def n_features(prefix: str, pick: Callable[[str], float]) -> ColumnElement[Any]:
        """Sum over catalogue features used by any user of ``pick(feature)``.

        PostgreSQL ORs the users' masks once per account (``bit_or``; identical
        aggregates are computed once) and reads the bits off the result; SQLite has no
        OR aggregate, so it takes the maximum of each bit over the users.
        """
        total: ColumnElement[Any] = literal(0.0, Float)
        for k, feature in enumerate(catalogue):
            factor = pick(feature)
            if not factor:
                continue
            chunk, bit = divmod(k, BITMASK_CHUNK)
            mask = getattr(pu, f"{prefix}_{chunk}")
            if postgres:
                used = func.coalesce(_bit(func.bit_or(mask), bit), 0)
            else:
                used = func.coalesce(func.max(_bit(mask, bit)), 0)
            total = total + used * literal(factor, Float)
        return total

    stmt = (
        select(
            c.account_id.label("account_id"),
            func.sum(case((now, 1), else_=0)).label("active_users"),
            func.sum(case((was, 1), else_=0)).label("active_users_prev"),
            func.coalesce(func.sum(days_now), 0).label("user_days"),
            func.coalesce(func.sum(pu.w_now), 0.0).label("weighted_events"),
            func.coalesce(func.sum(pu.w_prev), 0.0).label("weighted_events_prev"),
            func.coalesce(func.sum(pu.core_now), 0).label("core_events"),
            n_features("fnow", lambda f: 1.0).label("features_used"),
            n_features("fnow", lambda f: weights.get(f, 1.0)).label("weighted_features_used"),
            n_features("fnow", lambda f: 1.0 if f in core_set else 0.0).label("core_features_used"),
            func.count(distinct(case((now, c.department)))).label("departments_active"),
            func.count(distinct(case((was, c.department)))).label("departments_active_prev"),
            func.sum(case((and_(now, stakeholder), 1), else_=0)).label("stakeholders_active"),
            func.sum(case((and_(was, stakeholder), 1), else_=0)).label("stakeholders_active_prev"),
            func.max(case((main, pu.last_day))).label("main_last_day"),
            func.max(case((owner, pu.last_day))).label("owner_last_day"),
            func.max(pu.last_day).label("last_active_day"),
            func.min(pu.first_core_day).label("first_core_day"),
            func.sum(case((existed, 1), else_=0)).label("contacts"),
            func.sum(case((and_(existed, main), 1), else_=0)).label("main_contacts"),
            func.max(case((and_(existed, main), c.name))).label("main_contact_name"),
            func.max(case((and_(existed, main), c.created_on))).label("main_created_on"),
            func.max(case((and_(main, seen), c.last_seen_at))).label("main_last_seen_at"),
            func.sum(case((and_(main, deactivated), 1), else_=0)).label("main_deactivated"),
            func.sum(case((and_(existed, owner), 1), else_=0)).label("owner_contacts"),
            func.max(case((and_(existed, owner), c.name))).label("owner_contact_name"),
            func.max(case((and_(existed, owner), c.created_on))).label("owner_created_on"),
            func.max(case((and_(owner, seen), c.last_seen_at))).label("owner_last_seen_at"),
            func.sum(case((and_(existed, power), 1), else_=0)).label("power_users"),
            func.sum(case((and_(existed, power, still_active), 1), else_=0)).label(
                "power_users_active"
            ),
            func.sum(case((recently_deactivated, 1), else_=0)).label("power_users_deactivated"),
            func.max(case((recently_deactivated, c.name))).label("power_user_deactivated_name"),
            func.max(case((recently_deactivated, c.deactivated_at))).label(
                "power_user_deactivated_at"
            ),
            func.count(distinct(case((existed, c.department)))).label("departments"),
        )
        .select_from(c)
        .outerjoin(per_user, pu.user_id == c.id)
        .group_by(c.account_id)
    )
    if accounts is not None:
        stmt = stmt.where(c.account_id.between(*accounts))
    return stmt


def _integrations_stmt(w: Windows) -> Select[Any]:
    i = IntegrationDaily
    last7 = i.day >= w.integration_7d_start
    failing = i.failures > 0
    return (
        select(
            i.account_id.label("account_id"),
            func.sum(i.runs).label("integration_runs"),
            func.sum(i.failures).label("integration_failures"),
            func.count(distinct(case((failing, i.integration)))).label("failing_integrations"),
            func.max(case((failing, i.integration))).label("failing_integration_name"),
            func.sum(case((last7, i.runs), else_=0)).label("integration_runs_7d"),
            func.sum(case((last7, i.failures), else_=0)).label("integration_failures_7d"),
        )
        .where(i.day >= w.start, i.day <= w.as_of)
        .group_by(i.account_id)
    )


def _tickets_stmt(w: Windows) -> Select[Any]:
    """Ticket counts; "open" is reconstructed for ``as_of`` from ``solved_at``."""
    t = Ticket
    recent = t.created_at >= w.ticket_start_dt
    urgent = t.priority.in_(URGENT_PRIORITIES)
    open_at = or_(
        t.solved_at >= w.end_dt,
        and_(t.solved_at.is_(None), not_(t.status.in_(CLOSED_TICKET_STATUSES))),
    )
    negative = t.sentiment == "negative"
    lookback = min(w.ticket_start_dt, w.sentiment_start_dt)
    return (
        select(
            t.account_id.label("account_id"),
            func.sum(case((recent, 1), else_=0)).label("tickets_90d"),
            func.sum(case((and_(urgent, open_at), 1), else_=0)).label("open_urgent_high"),
            func.sum(case((and_(urgent, t.created_at >= w.window_start_dt), 1), else_=0)).label(
                "new_urgent_high"
            ),
            func.sum(case((and_(recent, t.satisfaction == "bad"), 1), else_=0)).label(
                "bad_satisfaction_90d"
            ),
            func.sum(case((and_(recent, t.satisfaction == "good"), 1), else_=0)).label(
                "good_satisfaction_90d"
            ),
            func.sum(case((and_(recent, negative), 1), else_=0)).label("negative_sentiment_90d"),
            func.sum(
                case((and_(t.created_at >= w.sentiment_start_dt, negative), 1), else_=0)
            ).label("negative_sentiment_flag"),
        )
        .where(t.created_at < w.end_dt, or_(t.created_at >= lookback, open_at))
        .group_by(t.account_id)
    )


def _nps_stmt(w: Windows) -> Select[Any]:
    """Latest NPS answer within the lookback (ties on the same instant are averaged)."""
    s = SurveyResponse
    in_range = and_(s.kind == "nps", s.responded_at >= w.nps_start_dt, s.responded_at < w.end_dt)
    latest = (
        select(
            s.account_id.label("account_id"),
            func.max(s.responded_at).label("latest_at"),
            func.count().label("nps_responses"),
        )
        .where(in_range)
        .group_by(s.account_id)
        .subquery("latest_nps")
    )
    return (
        select(
            latest.c.account_id,
            func.avg(cast(s.score, Float)).label("nps_latest"),
            func.max(latest.c.latest_at).label("nps_latest_at"),
            func.max(latest.c.nps_responses).label("nps_responses"),
        )
        .join(
            latest,
            and_(s.account_id == latest.c.account_id, s.responded_at == latest.c.latest_at),
        )
        .where(s.kind == "nps")
        .group_by(latest.c.account_id)
    )


def _csat_stmt(w: Windows) -> Select[Any]:
    s = SurveyResponse
    return (
        select(
            s.account_id.label("account_id"),
            func.avg(cast(s.score, Float)).label("csat_avg"),
            func.count().label("csat_responses"),
        )
        .where(s.kind == "csat", s.responded_at >= w.csat_start_dt, s.responded_at < w.end_dt)
        .group_by(s.account_id)
    )


def _invoices_stmt(w: Windows) -> Select[Any]:
    """Invoices unpaid on ``as_of`` and already due (paid later counts as unpaid then)."""
    v = Invoice
    unpaid = and_(
        not_(v.status.in_(("void", "draft"))),
        or_(
            v.paid_on > w.as_of,
            and_(v.paid_on.is_(None), v.status.in_(("open", "uncollectible"))),
        ),
    )
    overdue = and_(unpaid, v.due_on < w.as_of)
    return (
        select(
            v.account_id.label("account_id"),
            func.count().label("invoices_on_file"),
            func.sum(case((overdue, 1), else_=0)).label("overdue_invoices"),
            func.sum(case((overdue, v.amount), else_=literal(0.0, Float))).label("overdue_amount"),
            func.min(case((overdue, v.due_on))).label("oldest_overdue_due_on"),
        )
        .where(or_(v.issued_on.is_(None), v.issued_on <= w.as_of))
        .group_by(v.account_id)
    )


def _snapshots_stmt(w: Windows) -> Select[Any]:
    """The two most recent snapshots per account before ``as_of`` (for the score-drop flag)."""
    ss = ScoreSnapshot
    ranked = (
        select(
            ss.account_id.label("account_id"),
            ss.as_of.label("as_of"),
            ss.score.label("score"),
            func.row_number()
            .over(partition_by=ss.account_id, order_by=ss.as_of.desc())
            .label("rn"),
        )
        .where(ss.as_of < w.as_of, ss.as_of >= w.snapshot_start)
        .subquery("ranked")
    )
    return select(ranked.c.account_id, ranked.c.as_of, ranked.c.score, ranked.c.rn).where(
        ranked.c.rn <= 2
    )


def _overrides_stmt(w: Windows) -> Select[Any]:
    """The CSM override in force on ``as_of``: set by then, not yet ended, not expired.

    Bounded like every other query (an override recorded after ``as_of`` is not seen),
    so a backtest never sees a CSM's later judgement.
    """
    o = Override
    return (
        select(
            o.account_id.label("account_id"),
            o.kind.label("csm_kind"),
            o.sentiment.label("csm_sentiment"),
            o.score.label("csm_score"),
            o.reason.label("csm_reason"),
            o.author_name.label("csm_author"),
            o.expires_on.label("csm_until"),
        )
        .where(
            o.created_at < w.end_dt,
            o.expires_on >= w.as_of,
            or_(o.ended_at.is_(None), o.ended_at >= w.end_dt),
        )
        .order_by(o.account_id, o.created_at.desc(), o.id.desc())
    )


@dataclass(frozen=True)
class UsageCalendar:
    """The (day, feature) pairs with activity over a range of days, read in one pass.

    The workspace facts of a run (first usage day and feature catalogue of its two
    windows) each cost a scan of the whole usage table on SQLite, which has no index
    leading with ``day``. A backtest scoring many past dates reads this once for its whole
    range (:func:`usage_calendar`) and hands it to :func:`load_signals`, which then
    answers those questions from it: the same filter (``events > 0``, both windows), so
    the same facts as :func:`_meta` queries.
    """

    start: date
    end: date
    days: np.ndarray
    """``datetime64[D]``, one entry per (day, feature) pair."""
    features: np.ndarray

    def covers(self, first: date, last: date) -> bool:
        return self.start <= first and last <= self.end

    @property
    def last_day(self) -> date | None:
        """The latest day with activity in the range (None if none)."""
        return self.days.max().astype(date) if len(self.days) else None

    def first_day_and_catalogue(
        self, first: date, last: date
    ) -> tuple[date | None, tuple[str, ...]]:
        """First active day and sorted distinct features between the two dates."""
        inside = (self.days >= np.datetime64(first, "D")) & (
            self.days <= np.datetime64(last, "D")
        )
        if not inside.any():
            return None, ()
        day = self.days[inside].min().astype(date)
        return day, tuple(sorted(set(self.features[inside].tolist())))


def usage_calendar(session: Session, start: date, end: date | None = None) -> UsageCalendar:
    """Every (day, feature) with activity from ``start`` (to ``end``): one grouped scan."""
    u = UsageDaily
    stmt = select(u.day, u.feature).where(u.day >= start, u.events > 0)
    if end is not None:
        stmt = stmt.where(u.day <= end)
    stmt = stmt.group_by(u.day, u.feature)
    rows = session.execute(stmt).all()
    days = pd.to_datetime(pd.Series([r[0] for r in rows], dtype=object)).to_numpy(
        dtype="datetime64[D]"
    )
    features = np.array([r[1] for r in rows], dtype=object)
    return UsageCalendar(start=start, end=end or date.max, days=days, features=features)


def _meta(session: Session, w: Windows, calendar: UsageCalendar | None = None) -> WorkspaceMeta:
    """Workspace facts: is usage connected, how far back it goes, the feature catalogue."""
    u = UsageDaily
    if calendar is not None and calendar.covers(w.prev_start, w.as_of):
        first_day, catalogue = calendar.first_day_and_catalogue(w.prev_start, w.as_of)
    else:
        window = and_(u.day >= w.prev_start, u.day <= w.as_of, u.events > 0)
        first_day = session.execute(select(func.min(u.day)).where(window)).scalar()
        catalogue = ()
        if first_day is not None:
            day = unindexed(u.day)
            stmt = select(u.feature).where(day >= w.prev_start, day <= w.as_of, u.events > 0)
            catalogue = tuple(sorted(session.execute(stmt.distinct()).scalars()))
            if isinstance(first_day, str):  # defensive: some drivers hand back ISO strings
                first_day = date.fromisoformat(first_day)

    def exists(stmt: Select[Any]) -> bool:
        return session.execute(stmt.limit(1)).first() is not None

    return WorkspaceMeta(
        windows=w,
        has_usage=first_day is not None,
        usage_first_day=first_day,
        catalogue=catalogue,
        has_tickets=exists(select(Ticket.id).where(Ticket.created_at < w.end_dt)),
        has_surveys=exists(select(SurveyResponse.id).where(SurveyResponse.responded_at < w.end_dt)),
        has_integrations=exists(select(IntegrationDaily.id).where(IntegrationDaily.day <= w.as_of)),
    )


def _previous_scores(snapshots: pd.DataFrame) -> pd.DataFrame:
    cols = ["prev1_score", "prev1_as_of", "prev2_score", "prev2_as_of"]
    if snapshots.empty:
        return pd.DataFrame(columns=["account_id", *cols])
    snapshots = snapshots.astype({"rn": int})
    first = snapshots[snapshots["rn"] == 1].set_index("account_id")
    second = snapshots[snapshots["rn"] == 2].set_index("account_id")
    out = pd.DataFrame(
        {
            "prev1_score": first["score"],
            "prev1_as_of": first["as_of"],
        }
    )
    out = out.join(
        pd.DataFrame({"prev2_score": second["score"], "prev2_as_of": second["as_of"]}),
        how="left",
    )
    return out.reset_index(names="account_id")


PARALLEL_WORKERS = 2
"""Connections used at once when that is safe (the benchmark target is a 2-core box)."""


def _engine_of(session: Session) -> Engine | None:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else None


def _parallel_safe(session: Session) -> bool:
    """True when extra connections would see exactly what ``session`` sees.

    They would not if the session holds uncommitted writes (a test or loader that scores
    before committing) or uses a private in-memory SQLite database; then every query runs
    on the session's own connection.
    """
    engine = _engine_of(session)
    if engine is None:
        return False
    dialect = engine.dialect.name
    if dialect == "sqlite":
        database = engine.url.database or ""
        if database in ("", ":memory:") or "mode=memory" in str(engine.url):
            return False
        dbapi = session.connection().connection.dbapi_connection
        return not getattr(dbapi, "in_transaction", True)
    if dialect == "postgresql" and (engine.dialect.server_version_info or (0,)) >= (10,):
        pending = session.execute(text("SELECT txid_current_if_assigned()")).scalar()
        return pending is None
    return False


def _split_ids(ids: pd.Series, parts: int) -> list[tuple[int, int]]:
    """Inclusive id ranges holding about the same number of accounts each."""
    values = np.sort(ids.to_numpy(dtype="int64"))
    if len(values) == 0:
        return []
    chunks = [c for c in np.array_split(values, parts) if len(c)]
    return [(int(c[0]), int(c[-1])) for c in chunks]


def load_signals(
    session: Session,
    cfg: ScoringConfig,
    as_of: date,
    *,
    parallel: bool | None = None,
    calendar: UsageCalendar | None = None,
    roster: AccountRoster | None = None,
) -> Signals:
    """Aggregate every raw figure the scorer needs, per account, as of ``as_of``.

    Runs a fixed number of grouped queries (independent of the number of accounts) and
    merges the per-account results in pandas. When it is safe (see :func:`_parallel_safe`;
    ``parallel=False`` forbids it) the big activity aggregation runs on extra connections
    while the small queries run on the session's: on SQLite split in two halves by account
    id (SQLite uses one core per query), on PostgreSQL as one query that the server
    parallelises itself. ``calendar`` (see :class:`UsageCalendar`) spares the two scans
    of the workspace facts when many dates are scored in a row, and ``roster`` (see
    :class:`AccountRoster`) the reading of the accounts.
    """
    w = Windows.build(as_of, cfg)
    timings: dict[str, float] = {}
    dialect = session.get_bind().dialect.name

    def run(name: str, stmt: Select[Any]) -> pd.DataFrame:
        t0 = perf_counter()
        df = _frame(session, stmt)
        timings[name] = perf_counter() - t0
        return df

    t0 = perf_counter()
    meta = _meta(session, w, calendar)
    timings["meta"] = perf_counter() - t0
    if roster is not None:
        t0 = perf_counter()
        accounts = roster.alive_on(as_of)
        timings["accounts"] = perf_counter() - t0
    else:
        accounts = run("accounts", _accounts_stmt(w))
    use_threads = _parallel_safe(session) if parallel is None else parallel
    if use_threads and parallel is None and len(accounts) < 1000:
        use_threads = False  # not worth the connections
    ranges: list[tuple[int, int] | None] = [None]
    if use_threads and dialect == "sqlite":
        ranges = list(_split_ids(accounts["account_id"], PARALLEL_WORKERS)) or [None]
    activity_stmts = [_activity_stmt(w, cfg, meta.catalogue, dialect, r) for r in ranges]

    small = {
        "integrations": _integrations_stmt(w),
        "tickets": _tickets_stmt(w),
        "nps": _nps_stmt(w),
        "csat": _csat_stmt(w),
        "invoices": _invoices_stmt(w),
        "snapshots": _snapshots_stmt(w),
        "overrides": _overrides_stmt(w),
    }
    if use_threads:
        engine = _engine_of(session)
        assert engine is not None  # checked by _parallel_safe or asked for explicitly
        t0 = perf_counter()
        with ThreadPoolExecutor(max_workers=len(activity_stmts)) as pool:
            futures = [pool.submit(_frame_on_new_connection, engine, s) for s in activity_stmts]
            results = {name: run(name, stmt) for name, stmt in small.items()}
            activity = pd.concat([f.result() for f in futures], ignore_index=True)
        timings["activity"] = perf_counter() - t0
    else:
        t0 = perf_counter()
        activity = pd.concat([_big_frame(session, s) for s in activity_stmts], ignore_index=True)
        timings["activity"] = perf_counter() - t0
        results = {name: run(name, stmt) for name, stmt in small.items()}
    results["overrides"] = results["overrides"].drop_duplicates("account_id", keep="first")
    parts = [activity, *(results[k] for k in small if k != "snapshots")]
    parts.append(_previous_scores(results["snapshots"]))
    frame = _assemble(accounts, parts)
    return Signals(frame=frame, meta=meta, timings=timings)


PG_BIG_QUERY_SETTINGS = {"work_mem": "256MB", "jit": "on"}
"""PostgreSQL settings for the one big aggregation, applied for that statement only.

``work_mem``: with the 4 MB default the per-user hash aggregate spilled to disk in a
hundred batches. 100,000 accounts (881,130 active users) need 221 MB: inside the
256 MB hash limit that a ``work_mem`` of 128 MB gives (twice, with the default
``hash_mem_multiplier``) but near it, so it is 256 MB now, room for about two million
active users before it spills. A ceiling, not an allocation: a smaller workspace uses
what it needs. ``jit``: explicitly on, so a server configured without it still compiles
this statement's per-row expressions: 8.0-9.9 s against 10.5-11.0 s for one date at
100,000 accounts, compilation (0.6 s) included. JIT had been switched off while feature weights were
CASE chains comparing each row's feature text up to 36 times; their compilation (2 s)
cost more than it saved. Figures: docs/performance.md.
"""


def _tuned(conn: Connection) -> dict[str, str]:
    """Apply :data:`PG_BIG_QUERY_SETTINGS` transaction-locally; return what they were."""
    if conn.dialect.name != "postgresql":
        return {}
    before: dict[str, str] = {}
    for name, value in PG_BIG_QUERY_SETTINGS.items():
        before[name] = str(conn.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar())
        conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    return before


def _restore(conn: Connection, before: Mapping[str, str]) -> None:
    for name, value in before.items():
        conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})


def _big_frame(session: Session, stmt: Select[Any]) -> pd.DataFrame:
    """Run the big aggregation on the session's connection with tuned settings."""
    conn = session.connection()
    before = _tuned(conn)
    try:
        return _frame(session, stmt)
    finally:
        _restore(conn, before)


def _frame_on_new_connection(engine: Engine, stmt: Select[Any]) -> pd.DataFrame:
    """Run ``stmt`` on a connection of its own (rolled back, so settings do not leak)."""
    with engine.connect() as conn:
        _tuned(conn)
        result = conn.execute(stmt)
        return _records(result.all(), list(result.keys()))


def _assemble(accounts: pd.DataFrame, parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Left-join every per-account part onto the accounts and normalise dtypes."""
    frame = accounts.set_index("account_id")
    frame.index = frame.index.astype("int64")
    for part in parts:
        if part.empty:
            continue
        part = part.set_index("account_id")
        part.index = part.index.astype("int64")
        frame = frame.join(part, how="left")
    return normalise_frame(frame)


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Give every expected column the right dtype and default, whatever its origin.

    Missing counts become 0 (no rows = nothing happened), missing values stay NaN/NaT
    (unknown), so later stages can tell "zero" from "no data".
    """
    frame = frame.copy()
    for col in COUNT_COLUMNS:
        if col not in frame.columns:
            frame[col] = 0.0
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64").fillna(0.0)
    for col in FLOAT_COLUMNS:
        if col not in frame.columns:
            frame[col] = np.nan
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in DATE_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.NaT
        frame[col] = pd.to_datetime(frame[col], errors="coerce").astype("datetime64[us]")
    for col in TEXT_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    if "owner_id" not in frame.columns:
        frame["owner_id"] = np.nan
    frame["lifecycle"] = frame["lifecycle"].fillna("paid")
    frame.index.name = "account_id"
    return frame


def make_signals(
    records: Iterable[Mapping[str, Any]],
    as_of: date,
    cfg: ScoringConfig,
    *,
    has_usage: bool = True,
    usage_first_day: date | None = None,
    catalogue: Iterable[str] | None = None,
    has_tickets: bool = True,
    has_surveys: bool = True,
    has_integrations: bool = True,
) -> Signals:
    """Build :class:`Signals` from hand-written per-account records (tests, what-ifs).

    Records hold any of the signal columns plus ``account_id``; everything else takes the
    same defaults as accounts without rows in the database.
    """
    w = Windows.build(as_of, cfg)
    frame = pd.DataFrame.from_records(list(records))
    if "account_id" not in frame.columns:
        frame["account_id"] = range(1, len(frame) + 1)
    frame = normalise_frame(frame.set_index("account_id"))
    if catalogue is None:
        catalogue = ("login", "search", *cfg.core_features)
    meta = WorkspaceMeta(
        windows=w,
        has_usage=has_usage,
        usage_first_day=usage_first_day if usage_first_day is not None else w.prev_start,
        catalogue=tuple(catalogue),
        has_tickets=has_tickets,
        has_surveys=has_surveys,
        has_integrations=has_integrations,
    )
    return Signals(frame=frame, meta=meta)


def with_meta(signals: Signals, **changes: Any) -> Signals:
    """A copy of ``signals`` with some workspace facts changed (tests, what-ifs)."""
    return Signals(frame=signals.frame, meta=replace(signals.meta, **changes))
