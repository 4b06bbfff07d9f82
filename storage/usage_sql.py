"""How the big usage aggregation is phrased for each database: the speed tricks only.

The scorer (``scoring.signals``) decides what a figure means: which features are core,
what each weighs, which days count. This module only decides how SQLite and PostgreSQL
compute those figures fastest, and every branch computes the same numbers (the DB tests
pin exact figures on both):

* distinct sets (features used, active days) travel through the per-user aggregation as
  bitmasks of :data:`BITMASK_CHUNK` bits a column, so the per-account roll-up needs no
  second scan of usage;
* features (:class:`FeatureBits`): PostgreSQL joins each usage row to a small VALUES
  table naming the feature's weight, core status and bit, and ORs the bits with
  ``bit_or``; SQLite, which has no OR aggregate, compares the feature text in ``CASE``
  chains and ORs the distinct powers of two with ``SUM(DISTINCT 2**k)``;
* active days (:class:`DayBits`): ``COUNT(DISTINCT day)`` on SQLite; day bits OR-ed with
  ``bit_or`` and counted with ``bit_count`` on PostgreSQL, which keeps its aggregate
  parallel;
* :class:`unindexed` tells SQLite to scan usage rather than walk the day index.

DuckDB takes PostgreSQL's branch (:data:`BITWISE_DIALECTS`: both have ``bit_or`` and
``bit_count``, spelled per dialect by :class:`bit_count`); every other engine
(Snowflake, BigQuery, Databricks SQL, Redshift) gets the portable branch, the one SQLite
takes: ``COUNT(DISTINCT ...)``, ``SUM(DISTINCT 2**k)`` and ``CASE`` chains are standard
SQL. Where the rows are is a :class:`UsageTable`:
Pulse's ``usage_daily`` (:func:`pulse_usage`) or any table, view or file whose columns
the configuration names (:func:`mapped_usage`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    Float,
    FromClause,
    FunctionElement,
    Integer,
    String,
    Values,
    and_,
    case,
    cast,
    column,
    distinct,
    func,
    literal,
    or_,
    table,
    values,
)
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.types import TypeEngine

from storage.models import UsageDaily

BITMASK_CHUNK = 60
"""Bits per bitmask column: powers of two up to 2**59 stay inside a signed 64-bit int."""
BITWISE_DIALECTS = ("postgresql", "duckdb")
"""Databases with an OR aggregate (``bit_or``) and ``bit_count``: their aggregation ORs
bitmasks, joins the feature table and keeps days as bits. In DuckDB the portable
``COUNT(DISTINCT)``/``SUM(DISTINCT)`` phrasing measured several times slower."""

PerUserColumns = ReadOnlyColumnCollection[str, Any]
"""The columns of the per-user subquery (``subquery.c``)."""


@dataclass(frozen=True)
class UsageTable:
    """The usage rows a statement reads, wherever they live: a FROM and its columns.

    ``user`` names the user (Pulse's contact id in ``usage_daily``, the user's external
    id elsewhere); ``account`` is only known for Pulse's own table, where it lets the
    work be split by account id range.
    """

    source: FromClause
    user: ColumnElement[Any]
    feature: ColumnElement[Any]
    day: ColumnElement[Any]
    events: ColumnElement[Any]
    account: ColumnElement[Any] | None = None


def pulse_usage() -> UsageTable:
    """Pulse's own ``usage_daily`` table, which a sync fills."""
    usage = UsageDaily.__table__
    c = usage.c
    return UsageTable(
        source=usage, user=c.user_id, feature=c.feature, day=c.day, events=c.events,
        account=c.account_id,
    )


def mapped_usage(name: str, columns: Mapping[str, str]) -> UsageTable:
    """A table or view ``name`` (``schema.table`` allowed) whose columns ``columns`` names
    for ``user``, ``feature``, ``day`` and ``events`` (configuration ``scoring.usage``)."""
    schema, _, bare = name.rpartition(".")
    kinds: dict[str, TypeEngine[Any]] = {
        "user": String(), "feature": String(), "day": Date(), "events": BigInteger()
    }
    cols: dict[str, ColumnClause[Any]] = {
        key: column(columns[key], kind) for key, kind in kinds.items()
    }
    source = table(bare, *cols.values(), schema=schema or None)
    return UsageTable(
        source=source,
        user=source.c[columns["user"]],
        feature=source.c[columns["feature"]],
        day=source.c[columns["day"]],
        events=source.c[columns["events"]],
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


def mask_chunks(bits: int) -> int:
    """Bitmask columns needed for ``bits`` bits."""
    return -(-bits // BITMASK_CHUNK)


def bit_of(mask: ColumnElement[Any], k: int) -> ColumnElement[Any]:
    """Bit ``k`` of ``mask`` as 0/1 (``>>`` and ``&`` exist in SQLite and PostgreSQL)."""
    return mask.op(">>")(literal(k, Integer)).op("&")(literal(1, BigInteger))


class bit_count(FunctionElement[Any]):
    """The number of set bits of a non-negative ``bigint`` mask: PostgreSQL (14+) counts
    bits of a bit string (``bit_count(CAST(mask AS BIT(64)))``), DuckDB of the integer."""

    inherit_cache = True
    name = "bit_count"
    type = BigInteger()


@compiles(bit_count)
def _bit_count_default(element: bit_count, compiler: Any, **kw: Any) -> str:
    return f"bit_count({compiler.process(element.clauses, **kw)})"


@compiles(bit_count, "postgresql")
def _bit_count_postgresql(element: bit_count, compiler: Any, **kw: Any) -> str:
    mask = compiler.process(cast(element.clauses.clauses[0], BIT(64)), **kw)
    return f"bit_count({mask})"


def weight_case(
    weights: Mapping[str, float], default: float, feature_col: ColumnElement[Any]
) -> ColumnElement[Any]:
    """SQL ``CASE`` giving each usage row's value weight (``default`` when the feature
    has none in ``weights``); portable across dialects."""
    by_weight: dict[float, list[str]] = defaultdict(list)
    for feature, weight in weights.items():
        if weight != default:
            by_weight[weight].append(feature)
    if not by_weight:
        return literal(default, Float)
    whens = [
        (feature_col.in_(sorted(features)), literal(weight, Float))
        for weight, features in sorted(by_weight.items())
    ]
    return case(*whens, else_=literal(default, Float))


def feature_table(
    catalogue: tuple[str, ...],
    weights: Mapping[str, float],
    core: Collection[str],
    default_weight: float,
) -> Values | None:
    """PostgreSQL: a VALUES table of every feature scoring knows about (the catalogue,
    the core features, those with a configured weight): its value weight, whether it is
    core, and its bit in each catalogue mask chunk (NULL outside its chunk). A usage row
    of a feature missing from it weighs ``default_weight``, is not core and sets no bit,
    exactly as the CASE expressions of :func:`weight_case` and :meth:`FeatureBits.masks`
    say. None when there is no feature to list (VALUES needs a row)."""
    core_set = set(core)
    position = {feature: k for k, feature in enumerate(catalogue)}
    chunks = mask_chunks(len(catalogue))
    names = sorted(set(catalogue) | core_set | set(weights))
    if not names:
        return None
    rows = []
    for name in names:
        bits: list[int | None] = [None] * chunks
        if name in position:
            chunk, bit = divmod(position[name], BITMASK_CHUNK)
            bits[chunk] = 1 << bit
        rows.append((name, weights.get(name, default_weight), name in core_set, *bits))
    columns = [
        column("name", String),
        column("weight", Float),
        column("core", Boolean),
        *(column(f"bit_{i}", BigInteger) for i in range(chunks)),
    ]
    return values(*columns, name="features").data(rows)


@dataclass(frozen=True)
class FeatureBits:
    """Per usage row: its feature's value weight and core status; per user: the
    catalogue features used, as bitmasks; per account: sums over the features used.

    Build with :func:`feature_bits`. ``table`` is the VALUES table the usage rows are
    joined to (:meth:`source`) on :data:`BITWISE_DIALECTS`, None elsewhere (CASE chains).
    """

    catalogue: tuple[str, ...]
    weight: ColumnElement[Any]
    core: ColumnElement[Any]
    table: Values | None
    bitwise: bool
    usage: UsageTable

    def source(self) -> FromClause:
        """What the per-user aggregation reads: usage, joined to the feature table if any."""
        usage = self.usage.source
        if self.table is None:
            return usage
        return usage.outerjoin(self.table, self.table.c.name == self.usage.feature)

    def masks(self, when: ColumnElement[bool]) -> list[ColumnElement[Any]]:
        """Per user, the catalogue features used while ``when`` holds, as bitmasks.

        PostgreSQL reads the bits off the feature table and ORs them; SQLite has no OR
        aggregate, but ``SUM(DISTINCT 2**k)`` equals the OR of the distinct powers present.
        """
        if self.table is not None:
            return [
                func.bit_or(case((when, self.table.c[f"bit_{i}"])))
                for i in range(mask_chunks(len(self.catalogue)))
            ]
        exprs: list[ColumnElement[Any]] = []
        for first in range(0, len(self.catalogue), BITMASK_CHUNK):
            chunk = self.catalogue[first : first + BITMASK_CHUNK]
            code = case(
                {feature: literal(1 << k, BigInteger) for k, feature in enumerate(chunk)},
                value=self.usage.feature,
            )
            exprs.append(cast(func.sum(distinct(case((when, code)))), BigInteger))
        return exprs

    def used_sum(
        self, mask_of_chunk: Callable[[int], ColumnElement[Any]], pick: Callable[[str], float]
    ) -> ColumnElement[Any]:
        """Per account, the sum over catalogue features used by any user of ``pick(feature)``.

        ``mask_of_chunk(i)`` is the per-user mask column of chunk ``i``. PostgreSQL ORs
        the users' masks once per account (``bit_or``; identical aggregates are computed
        once) and reads the bits off the result; SQLite takes the maximum of each bit
        over the users.
        """
        total: ColumnElement[Any] = literal(0.0, Float)
        for k, feature in enumerate(self.catalogue):
            factor = pick(feature)
            if not factor:
                continue
            chunk, bit = divmod(k, BITMASK_CHUNK)
            mask = mask_of_chunk(chunk)
            if self.bitwise:
                used = func.coalesce(bit_of(func.bit_or(mask), bit), 0)
            else:
                used = func.coalesce(func.max(bit_of(mask, bit)), 0)
            total = total + used * literal(factor, Float)
        return total


def feature_bits(
    dialect: str,
    usage: UsageTable,
    catalogue: tuple[str, ...],
    weights: Mapping[str, float],
    core: Collection[str],
    default_weight: float,
) -> FeatureBits:
    """The fastest phrasing of :class:`FeatureBits` for ``dialect`` (same figures).

    ``weights`` are the features' value weights (``default_weight`` for the others) and
    ``core`` the core features: the scorer's rules, taken as given here.
    """
    bitwise = dialect in BITWISE_DIALECTS
    table = feature_table(catalogue, weights, core, default_weight) if bitwise else None
    if table is not None:
        # one hash probe per row names the feature's weight, core status and bit, where
        # the CASE chains of the other branch compare its text up to 36 times a row
        return FeatureBits(
            catalogue=catalogue,
            weight=func.coalesce(table.c.weight, default_weight),
            core=table.c.core,
            table=table,
            bitwise=bitwise,
            usage=usage,
        )
    return FeatureBits(
        catalogue=catalogue,
        weight=weight_case(weights, default_weight, usage.feature),
        core=usage.feature.in_(list(core)),
        table=None,
        bitwise=bitwise,
        usage=usage,
    )


@dataclass(frozen=True)
class DayBits:
    """Active days of each user between ``first`` and ``last``, and their roll-up.

    ``COUNT(DISTINCT day)`` forces PostgreSQL into a sorted, non-parallel aggregate over
    every usage row; there (and in DuckDB: ``bitwise``) each user's days become bits
    OR-ed with ``bit_or`` and counted per account afterwards. SQLite and the portable
    phrasing count distinct days directly. ``day`` is the usage's day column.
    """

    first: date
    last: date
    bitwise: bool
    day: ColumnElement[Any]

    @property
    def _chunk_starts(self) -> list[date]:
        days = (self.last - self.first).days + 1
        return [self.first + timedelta(days=c0) for c0 in range(0, days, BITMASK_CHUNK)]

    def per_user(self, inside: ColumnElement[bool]) -> list[ColumnElement[Any]]:
        """Labelled per-user aggregates; ``inside`` is the same range as a condition."""
        day = self.day
        if not self.bitwise:
            return [func.count(distinct(case((inside, day)))).label("days_now")]
        columns: list[ColumnElement[Any]] = []
        for i, start in enumerate(self._chunk_starts):
            end = min(start + timedelta(days=BITMASK_CHUNK - 1), self.last)
            bit = literal(1, BigInteger).op("<<")((day - start).self_group())
            in_chunk = and_(day >= start, day <= end)
            columns.append(func.bit_or(case((in_chunk, bit))).label(f"dmask_{i}"))
        return columns

    def active(self, per_user: PerUserColumns) -> ColumnElement[bool]:
        """Whether a user (a row of the per-user subquery's columns) had an active day."""
        if not self.bitwise:
            return per_user.days_now > 0
        chunks = range(len(self._chunk_starts))
        return or_(*[getattr(per_user, f"dmask_{i}").is_not(None) for i in chunks])

    def count(self, per_user: PerUserColumns) -> ColumnElement[Any]:
        """A user's number of active days (NULL when the user had no usage rows)."""
        if not self.bitwise:
            return per_user.days_now
        total: ColumnElement[Any] = literal(0, BigInteger)
        for i in range(len(self._chunk_starts)):
            total = total + func.coalesce(bit_count(getattr(per_user, f"dmask_{i}")), 0)
        return total
