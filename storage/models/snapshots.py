"""Score snapshots: each account's scored state of each day, and how its explanation is read.

A snapshot's explanation (its components and its reasons, packed together as one JSON
list, so a reason that repeats a component's sentence costs nearly nothing) is mostly the
account's explanation of a few days before, so a scoring run stores it as a delta
(:func:`storage.snapshot_codec.pack_against`) against the account's latest *keyframe* of
the last days (a row whose explanation is packed alone), named by ``components_ref``
(:mod:`storage.snapshot_keyframes` picks it). Reading ``ScoreSnapshot.components`` or
``ScoreSnapshot.reasons`` appends the keyframe's stored bytes to a delta's in SQL (a
look-up by primary key), so every reader, ORM or Core, in a subquery or through an alias,
gets exactly the lists written without knowing. Whatever deletes or rewrites a keyframe
first packs its dependents alone (:func:`detach_dependents`), so every remaining row stays
readable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    bindparam,
    case,
    event,
    exists,
    func,
    inspect,
    literal,
    select,
    type_coerce,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Mapped, Mapper, aliased, column_property, mapped_column
from sqlalchemy.orm.util import AliasedClass
from sqlalchemy.sql.elements import ColumnElement

from storage.models.base import Base
from storage.snapshot_codec import PackedJSON, PackedPart, pack

KEYFRAME_DAYS = 7
"""A delta's keyframe is less than this many days older than it, so an account scored
daily gets a keyframe a week: a longer gap makes the deltas larger (more of the figures
moved since) and a shorter one makes more keyframes (about 310 B of components where a
delta takes about 140 B; docs/performance.md, "Snapshot size")."""
DETACH_BATCH_ROWS = 5_000
"""Dependents re-packed per round trip when their keyframe goes (memory stays flat)."""


class ScoreSnapshot(Base):
    """One account's scored state on one date, with every component kept for explanation.

    Keyed by account and date (no surrogate id: its index cost a fifth of a row). The
    components, flags and reasons read as JSON-ready lists. They are stored compressed
    (:mod:`storage.snapshot_codec`, docs/performance.md "Snapshot size"): the flags alone
    (empty bytes when there are none), the components and reasons together as the
    *explanation* ``components_stored``, a delta against a keyframe of the same account
    when the scoring run found one (``components_ref``, its date). Columns are declared
    widest first, so PostgreSQL pads no fixed-width column. Old daily snapshots are
    thinned to weekly and monthly ones (:mod:`storage.snapshot_thinning`).
    """

    __tablename__ = "score_snapshots"
    __table_args__ = (Index("ix_snapshot_as_of", "as_of"),)

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime)
    score: Mapped[float] = mapped_column(Float)
    expansion_score: Mapped[float] = mapped_column(Float)
    renewal_risk_score: Mapped[float] = mapped_column(Float)
    # The as_of of the same account's keyframe the explanation is a delta against; None
    # when it is packed alone (a keyframe).
    components_ref: Mapped[date | None] = mapped_column(Date, nullable=True)
    tier: Mapped[str] = mapped_column(String(20))
    renewal_risk: Mapped[str] = mapped_column(String(10))
    flags: Mapped[list[Any]] = mapped_column(PackedJSON(empty=b""))
    components_stored: Mapped[bytes | None] = mapped_column(
        "components", LargeBinary, nullable=True
    )

    if TYPE_CHECKING:
        components: Mapped[list[Any]]
        reasons: Mapped[list[Any]]


def explanation_read() -> ColumnElement[bytes]:
    """The explanation as read, in SQL: the stored bytes, followed by the keyframe's for
    a delta (:func:`storage.snapshot_codec.unpack` reads them; a delta whose keyframe is
    missing fails to decode rather than read as empty)."""
    table = cast(Table, ScoreSnapshot.__table__)
    keyframe = table.alias("components_keyframe")
    keyframe_bytes = (
        select(keyframe.c.components)
        .where(
            keyframe.c.account_id == table.c.account_id,
            keyframe.c.as_of == table.c.components_ref,
        )
        .correlate_except(keyframe)
        .scalar_subquery()
    )
    with_keyframe = sql_cast(
        table.c.components.concat(func.coalesce(keyframe_bytes, literal(b"", LargeBinary))),
        LargeBinary,
    )
    return case((table.c.components_ref.is_(None), table.c.components), else_=with_keyframe)


ScoreSnapshot.components = column_property(
    type_coerce(explanation_read(), PackedPart(0)).label("components")
)
ScoreSnapshot.reasons = column_property(
    type_coerce(explanation_read(), PackedPart(1)).label("reasons")
)


Doomed = Callable[[type[ScoreSnapshot] | AliasedClass[ScoreSnapshot]], ColumnElement[bool]]
"""Which snapshots are about to go, as a condition on the entity or an alias of it."""


def detach_dependents(connection: Connection, doomed: Doomed, first: date, last: date) -> int:
    """Pack alone the explanation of every snapshot that is a delta against a ``doomed``
    keyframe (all dated ``first`` to ``last``) and is not doomed itself, so it stays
    readable once the keyframe is deleted or rewritten; how many. Call before the change,
    in its transaction."""
    snap = ScoreSnapshot
    keyframe = aliased(ScoreSnapshot, name="doomed_keyframe")
    explanation = type_coerce(explanation_read(), PackedJSON())
    stmt = select(snap.account_id, snap.as_of, explanation).where(
        snap.as_of > first,
        snap.as_of < last + timedelta(days=KEYFRAME_DAYS),
        snap.components_ref >= first,
        snap.components_ref <= last,
        ~doomed(snap),
        exists().where(
            keyframe.account_id == snap.account_id,
            keyframe.as_of == snap.components_ref,
            doomed(keyframe),
        ),
    )
    rows = connection.execute(stmt).all()
    table = cast(Table, ScoreSnapshot.__table__)
    rewrite = (
        table.update()
        .where(
            table.c.account_id == bindparam("key_account"), table.c.as_of == bindparam("key_day")
        )
        .values(components=bindparam("packed", type_=LargeBinary), components_ref=None)
    )
    for start in range(0, len(rows), DETACH_BATCH_ROWS):
        batch = rows[start : start + DETACH_BATCH_ROWS]
        connection.execute(
            rewrite,
            [{"key_account": a, "key_day": d, "packed": pack(c)} for a, d, c in batch],
        )
    return len(rows)


@event.listens_for(ScoreSnapshot, "before_insert")
@event.listens_for(ScoreSnapshot, "before_update")
def _pack_assigned_explanation(
    mapper: Mapper[ScoreSnapshot], connection: Connection, target: ScoreSnapshot
) -> None:
    """Components or reasons assigned through the ORM are stored packed alone, together
    (the one not assigned as it was, or empty); a keyframe being rewritten first has its
    dependents packed alone."""
    state = inspect(target)
    if not (state.attrs.components.history.added or state.attrs.reasons.history.added):
        return
    if state.persistent and target.components_ref is None:
        account_id, as_of = target.account_id, target.as_of
        detach_dependents(
            connection, lambda s: (s.account_id == account_id) & (s.as_of == as_of), as_of, as_of
        )
    target.components_stored = pack([list(target.components or []), list(target.reasons or [])])
    target.components_ref = None
