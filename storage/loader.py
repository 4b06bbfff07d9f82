"""Idempotent loading of connector batches into storage.

Every entity is keyed: records from source systems on ``(source, external_id)``, daily
facts on their natural key (account, user, feature, day). A record identical to what is
stored is counted as unchanged and not written, so loading the same data twice changes
nothing. References (``account_external_id`` ...) resolve against records of the same
source, or of ``Batch.ref_source`` when the batch names one; a record whose reference is
unknown is skipped with a reason naming it, and the rest of the batch still loads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql as psql
from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    String,
    any_,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from pulse.kernel.records import Batch, Rejection
from storage.models import (
    Account,
    ArrChange,
    Base,
    Contact,
    IntegrationDaily,
    Invoice,
    Opportunity,
    Owner,
    Subscription,
    SurveyResponse,
    Ticket,
    UsageDaily,
)

CHUNK = 5_000
MAX_ROW_REJECTIONS = 200


@dataclass
class LoadResult:
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Rejection] = field(default_factory=list)

    def add(self, other: LoadResult) -> None:
        self.fetched += other.fetched
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped.extend(other.skipped)


@dataclass(frozen=True)
class Ref:
    """A reference key in a record, resolved to a foreign-key column."""

    key: str  # e.g. "account_external_id"
    column: str  # e.g. "account_id"
    model: type[Base]
    label: str  # e.g. "account"
    required: bool = True


ACCOUNT_REF = Ref("account_external_id", "account_id", Account, "account")
KEYED: dict[str, tuple[type[Base], tuple[Ref, ...]]] = {
    "owners": (Owner, ()),
    "accounts": (Account, (Ref("owner_external_id", "owner_id", Owner, "owner", False),)),
    "contacts": (Contact, (ACCOUNT_REF,)),
    "subscriptions": (Subscription, (ACCOUNT_REF,)),
    "invoices": (
        Invoice,
        (
            ACCOUNT_REF,
            Ref("subscription_external_id", "subscription_id", Subscription, "subscription", False),
        ),
    ),
    "tickets": (
        Ticket,
        (ACCOUNT_REF, Ref("contact_external_id", "contact_id", Contact, "contact", False)),
    ),
    "opportunities": (
        Opportunity,
        (ACCOUNT_REF, Ref("owner_external_id", "owner_id", Owner, "owner", False)),
    ),
    "surveys": (
        SurveyResponse,
        (ACCOUNT_REF, Ref("contact_external_id", "contact_id", Contact, "contact", False)),
    ),
}
FACTS: dict[str, tuple[type[Base], tuple[str, ...], tuple[str, ...]]] = {
    # entity: (model, natural key columns, value columns)
    "usage": (UsageDaily, ("account_id", "user_id", "feature", "day"), ("events", "minutes")),
    "integrations": (
        IntegrationDaily,
        ("account_id", "integration", "day"),
        ("runs", "failures"),
    ),
    "arr_history": (ArrChange, ("account_id", "effective_on"), ("arr",)),
}


class RefCache:
    """External id -> primary key of whole tables, kept for one sync run.

    A big usage load resolves millions of account and user references; one query per
    table and one prebuilt hash index beat a lookup query per batch. Loading records of a
    table drops its entry, so a reference never resolves against stale keys.
    """

    def __init__(self) -> None:
        self._maps: dict[tuple[str, str], tuple[pa.Array, np.ndarray]] = {}

    def forget(self, model: type[Base]) -> None:
        table = model.__tablename__
        self._maps = {k: v for k, v in self._maps.items() if k[0] != table}

    def resolve(self, session: Session, model: type[Base], source: str,
                external: pd.Series) -> pd.Series:
        key = (model.__tablename__, source)
        if key not in self._maps:
            self._maps[key] = self._load(session, model, source)
        return _lookup(external, *self._maps[key])


    @staticmethod
    def _load(session: Session, model: type[Base], source: str) -> tuple[pa.Array, np.ndarray]:
        if _postgres(session):
            # a million users as Python tuples take seconds; as COPY CSV read by Arrow, <1 s
            query = psql.SQL(
                "COPY (SELECT external_id, id FROM {} WHERE source = {}) TO STDOUT (FORMAT csv)"
            ).format(psql.Identifier(model.__tablename__), psql.Literal(source))
            sink = io.BytesIO()
            dbapi = session.connection().connection.dbapi_connection
            with dbapi.cursor() as cur, cur.copy(query) as cp:
                for part in cp:
                    sink.write(part)
            if not sink.getbuffer().nbytes:  # no records of that source yet
                return pa.array([], pa.string()), np.empty(0, dtype=np.float64)
            table = pacsv.read_csv(
                pa.py_buffer(sink.getvalue()),
                read_options=pacsv.ReadOptions(column_names=["external_id", "id"]),
                convert_options=pacsv.ConvertOptions(
                    column_types={"external_id": pa.string(), "id": pa.int64()},
                    strings_can_be_null=False,
                ),
            )
            keys = table.column("external_id").combine_chunks()
            return keys, table.column("id").to_numpy().astype(np.float64)
        rows = session.execute(
            select(model.external_id, model.id).where(  # type: ignore[attr-defined]
                model.source == source  # type: ignore[attr-defined]
            )
        ).all()
        keys = pa.array([r[0] for r in rows], pa.string())
        return keys, np.array([r[1] for r in rows], dtype=np.float64)


def load_batch(
    session: Session, source: str, batch: Batch, cache: RefCache | None = None
) -> LoadResult:
    """Upsert one batch; the caller owns the transaction (and the cursor that goes with it).

    ``cache`` (one per sync run) resolves fact references against whole-table maps.
    """
    if batch.entity in FACTS:
        # the batch's own rejections are listed by load_facts_prepared
        return write_facts(session, source, load_facts_prepared(session, source, batch, cache))
    if batch.entity in KEYED:
        records = batch.records
        if isinstance(records, pd.DataFrame):
            records = records.to_dict("records")
        result = _load_keyed(
            session, source, batch.entity, [_plain(r) for r in records], batch.ref_source
        )
        if cache is not None:
            cache.forget(KEYED[batch.entity][0])
        result.skipped[:0] = batch.rejected
        return result
    raise ValueError(f"unknown entity '{batch.entity}'")


# --- keyed records -------------------------------------------------------------------


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """Turn numpy/pandas scalars into Python values the database drivers accept."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        if value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
            value = None
        out[key] = value
    return out


def _where(record: dict[str, Any], entity: str) -> str:
    where = record.get("_where")
    if where:
        return str(where)
    ext = record.get("external_id")
    return f"{entity} '{ext}'" if ext else entity


def _id_map(
    session: Session, model: type[Base], source: str, external_ids: Iterable[str]
) -> dict[str, int]:
    ids = sorted({str(e) for e in external_ids if e is not None})
    found: dict[str, int] = {}
    key = model.external_id  # type: ignore[attr-defined]
    step = ANY_CHUNK if _postgres(session) else CHUNK
    for start in range(0, len(ids), step):
        chunk = ids[start : start + step]
        rows = session.execute(
            select(key, model.id).where(  # type: ignore[attr-defined]
                model.source == source,  # type: ignore[attr-defined]
                _among(session, key, chunk, String),
            )
        )
        found.update({ext: pk for ext, pk in rows})
    return found


ANY_CHUNK = 100_000
"""Values per ``= ANY(array)`` on PostgreSQL: one bound parameter, so no query text to
build and parse per value (a 5,000-item ``IN`` list cost more than the lookup itself)."""


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _among(session: Session, column: Any, values: Sequence[Any], item: Any) -> Any:
    """``column IN values``, as ``= ANY(:array)`` on PostgreSQL."""
    if _postgres(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(item)))
    return column.in_(list(values))


def _columns(model: type[Base]) -> set[str]:
    return {c.key for c in model.__table__.columns} - {"id", "updated_at"}  # type: ignore[attr-defined]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return a == b


def _load_keyed(
    session: Session,
    source: str,
    entity: str,
    records: list[dict[str, Any]],
    ref_source: str | None = None,
) -> LoadResult:
    model, refs = KEYED[entity]
    result = LoadResult(fetched=len(records))
    columns = _columns(model)
    ref_src = ref_source or source
    maps = {ref.key: _id_map(session, ref.model, ref_src, (r.get(ref.key) for r in records))
            for ref in refs}
    manager_refs: dict[str, str] = {}
    rows: dict[str, dict[str, Any]] = {}
    for record in records:
        where = _where(record, entity)
        ext = record.get("external_id")
        if ext is None or str(ext).strip() == "":
            result.skipped.append(Rejection(where, "missing external_id"))
            continue
        ext = str(ext)
        row: dict[str, Any] = {"source": source, "external_id": ext}
        problem = None
        for ref in refs:
            target = record.get(ref.key)
            if target is None or str(target) == "":
                if ref.required:
                    problem = f"missing {ref.key}"
                    break
                row[ref.column] = None
                continue
            pk = maps[ref.key].get(str(target))
            if pk is None:
                if ref.required:
                    problem = f"unknown {ref.label} '{target}' ({ref.key})"
                    break
                row[ref.column] = None  # optional link not (yet) known: keep the record
                continue
            row[ref.column] = pk
        if problem:
            result.skipped.append(Rejection(where, problem))
            continue
        for key, value in record.items():
            if key in columns and key not in row:
                row[key] = value
        if entity == "owners" and record.get("manager_external_id"):
            manager_refs[ext] = str(record["manager_external_id"])
        if ext in rows:
            result.skipped.append(Rejection(where, f"duplicate external_id '{ext}' in batch"))
            continue
        rows[ext] = row

    ins, upd, same = _write_keyed(session, model, source, rows)
    result.inserted, result.updated, result.unchanged = ins, upd, same
    if manager_refs:
        _link_managers(session, source, manager_refs, result)
    return result


def _write_keyed(
    session: Session, model: type[Base], source: str, rows: dict[str, dict[str, Any]]
) -> tuple[int, int, int]:
    if not rows:
        return 0, 0, 0
    written_cols = sorted({k for r in rows.values() for k in r} - {"source", "external_id"})
    existing: dict[str, dict[str, Any]] = {}
    keys = list(rows)
    table_cols = [model.__table__.c[c] for c in written_cols]  # type: ignore[attr-defined]
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        stmt = select(model.id, model.external_id, *table_cols).where(  # type: ignore[attr-defined]
            model.source == source, model.external_id.in_(chunk)  # type: ignore[attr-defined]
        )
        for found in session.execute(stmt).mappings():
            existing[found["external_id"]] = dict(found)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged = 0
    for ext, row in rows.items():
        old = existing.get(ext)
        if old is None:
            inserts.append(row)
            continue
        changed = {k: v for k, v in row.items() if k in written_cols and not _same(old[k], v)}
        if changed:
            updates.append({"id": old["id"], **changed})
        else:
            unchanged += 1
    for start in range(0, len(inserts), CHUNK):
        session.execute(insert(model), inserts[start : start + CHUNK])
    if updates:
        # group by the set of changed columns: bulk UPDATE needs uniform parameter sets
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for u in updates:
            groups.setdefault(tuple(sorted(u)), []).append(u)
        for group in groups.values():
            session.execute(update(model), group)
    session.flush()
    return len(inserts), len(updates), unchanged


def _link_managers(
    session: Session, source: str, manager_refs: dict[str, str], result: LoadResult
) -> None:
    ids = _id_map(session, Owner, source, list(manager_refs) + list(manager_refs.values()))
    current = dict(
        session.execute(
            select(Owner.id, Owner.manager_id).where(Owner.id.in_(list(ids.values())))
        ).all()
    )
    for owner_ext, manager_ext in manager_refs.items():
        manager_id = ids.get(manager_ext)
        if manager_id is None:
            result.skipped.append(
                Rejection(f"owners '{owner_ext}'", f"unknown manager '{manager_ext}'; kept without")
            )
            continue
        owner_id = ids[owner_ext]
        if current.get(owner_id) != manager_id:
            session.execute(update(Owner).where(Owner.id == owner_id).values(manager_id=manager_id))


# --- daily facts (bulk) ----------------------------------------------------------------


@dataclass
class PreparedFacts:
    """A fact batch with references resolved, duplicates folded and rows in key order:
    everything that does not depend on rows stored by earlier batches of the same run,
    so a sync can prepare batch N+1 while batch N is still being written."""

    entity: str
    frame: pd.DataFrame
    result: LoadResult
    csv: CopyData | None = None
    """``frame`` rendered for COPY as if every row were new (the usual case in a bulk
    load); used when the existence check finds none of the rows stored."""
    assume_new: bool = False
    """No row of the batch can be stored yet (a bulk load into an empty table of keys the
    connector vouches are distinct): the existence check is skipped. Without the primary
    key, which such a load drops, that check would scan the growing table per slice."""


def load_facts_prepared(
    session: Session,
    source: str,
    batch: Batch,
    cache: RefCache | None = None,
    *,
    assume_new: bool = False,
) -> PreparedFacts:
    """The first half of loading a fact batch (see ``write_facts``)."""
    if batch.entity not in FACTS:
        raise ValueError(f"'{batch.entity}' is not a fact entity")
    frame = batch.records
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(list(frame))
    prepared = _prepare_facts(session, source, batch.entity, frame, batch.ref_source, cache,
                              distinct=batch.distinct_keys)
    prepared.result.skipped[:0] = batch.rejected
    prepared.assume_new = assume_new
    if _postgres(session) and not prepared.frame.empty:
        table = FACTS[batch.entity][0].__tablename__
        prepared.csv = copy_data(table, prepared.frame.assign(source=source))
    return prepared


def _prepare_facts(
    session: Session,
    source: str,
    entity: str,
    frame: pd.DataFrame,
    ref_source: str | None = None,
    cache: RefCache | None = None,
    *,
    distinct: bool = False,
) -> PreparedFacts:
    """Vectorised reference resolution, rejects named by row, duplicates folded (unless
    the connector vouched there are none: ``Batch.distinct_keys``)."""
    model, key_cols, value_cols = FACTS[entity]
    result = LoadResult(fetched=len(frame))
    empty = pd.DataFrame(columns=[*key_cols, *value_cols])
    if frame.empty:
        return PreparedFacts(entity, empty, result)
    df = frame.reset_index(drop=True)
    where = df["_where"] if "_where" in df.columns else pd.Series(None, index=df.index)
    ref_src = ref_source or source  # where the referenced accounts and users live
    refs = [("account_external_id", "account_id", Account, "account")]
    if "user_id" in key_cols:
        refs.append(("user_external_id", "user_id", Contact, "user"))
    out: dict[str, Any] = {}
    bad = np.zeros(len(df), dtype=bool)
    reasons = np.full(len(df), "", dtype=object)
    for key, column, ref_model, label in refs:
        external = df[key].astype("str").where(df[key].notna())
        if cache is not None:
            resolved = cache.resolve(session, ref_model, ref_src, external)
        else:
            resolved = _resolve(external, _id_map(session, ref_model, ref_src, external.unique()))
        missing = resolved.isna().to_numpy() & ~bad
        if missing.any():
            named = f"unknown {label} '" + external[missing].astype(str) + "'"
            reasons[missing] = named.to_numpy()
        bad |= missing
        out[column] = resolved
    if bad.any():
        _reject_rows(where[bad], pd.Series(reasons[bad]), entity, result)
    keep = ~bad
    if not keep.any():
        return PreparedFacts(entity, empty, result)
    for column in out:
        out[column] = out[column][keep].astype("int64").to_numpy()
    for col in key_cols:
        if col not in out:
            out[col] = df[col][keep].to_numpy()
    day = _day_key(model)
    out[day] = pd.to_datetime(out[day]).to_numpy("datetime64[D]")
    for col in value_cols:
        out[col] = pd.to_numeric(df[col][keep]).fillna(0).to_numpy()
    df = pd.DataFrame({c: out[c] for c in (*key_cols, *value_cols)})
    before = len(df)
    if not distinct:
        df = df.drop_duplicates(list(key_cols), keep="last")
    if len(df) < before:
        result.skipped.append(
            Rejection(entity, f"{before - len(df)} duplicate row(s) for the same key; last kept")
        )
    df = df.sort_values(list(FACT_ORDER[entity]), ignore_index=True)
    return PreparedFacts(entity, df, result)


def write_facts(session: Session, source: str, prepared: PreparedFacts) -> LoadResult:
    """The second half: compare with stored rows, COPY the new, update the changed."""
    model, key_cols, value_cols = FACTS[prepared.entity]
    result, df = prepared.result, prepared.frame
    if df.empty:
        return result
    if _postgres(session):
        # The slice and its sync cursor commit together, so a crash that loses this commit
        # loses both and the next run reads the slice again: no need to wait for the WAL
        # flush on every slice of a bulk load.
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    existing = (
        pd.DataFrame() if prepared.assume_new
        else _existing_facts(session, model, key_cols, value_cols, df)
    )
    csv = None
    if existing.empty:
        new, changed, csv = df, df.iloc[0:0], prepared.csv
    else:
        merged = df.merge(existing, on=list(key_cols), how="left", suffixes=("", "_old"),
                          indicator=True)
        is_new = (merged["_merge"] == "left_only").to_numpy()
        diff = np.zeros(len(merged), dtype=bool)
        for col in value_cols:
            diff |= ~np.isclose(merged[col].astype(float), merged[f"{col}_old"].astype(float))
        new = merged[is_new][df.columns]
        changed = merged[~is_new & diff][df.columns]
        result.unchanged = int((~is_new & ~diff).sum())
    table = model.__tablename__
    bulk_insert(session, table, new.assign(source=source), csv=csv)
    if not changed.empty:
        _update_facts(session, model, key_cols, value_cols, changed)
    result.inserted = len(new)
    result.updated = len(changed)
    return result


def _resolve(external: pd.Series, ids: dict[str, int]) -> pd.Series:
    """Map external ids to primary keys (NaN when unknown), for a batch without a cache."""
    keys = pa.array(list(ids), pa.string())
    return _lookup(external, keys, np.fromiter(ids.values(), dtype=np.float64, count=len(ids)))


def _lookup(external: pd.Series, keys: pa.Array, pks: np.ndarray) -> pd.Series:
    """``pks`` of each external id in ``keys`` (NaN when unknown): Arrow's hash lookup runs
    in C++ without the GIL, beside the database's work; ``Series.map(dict)`` on Arrow
    strings went through a Python object per row."""
    at = pc.index_in(pa.array(external, pa.string(), from_pandas=True), value_set=keys)
    idx = at.to_numpy(zero_copy_only=False)
    found = ~np.isnan(idx)
    values = np.full(len(external), np.nan)
    values[found] = pks[idx[found].astype(np.int64)]
    return pd.Series(values, index=external.index)


FACT_ORDER: dict[str, tuple[str, ...]] = {
    # the primary key's column order: rows COPYed in this order touch the index locally
    "usage": ("account_id", "day", "user_id", "feature"),
    "integrations": ("account_id", "integration", "day"),
    "arr_history": ("account_id", "effective_on"),
}


def _day_key(model: type[Base]) -> str:
    """The date column of a fact's natural key (``day``; ``effective_on`` for the ARR
    ledger): the one the existence check ranges over and the one parsed as a date."""
    key = FACTS_BY_TABLE[model.__tablename__][1]
    (day,) = (c for c in key if c in _date_columns(model.__tablename__))
    return day


FACTS_BY_TABLE = {spec[0].__tablename__: spec for spec in FACTS.values()}


def _update_facts(
    session: Session,
    model: type[Base],
    key_cols: Sequence[str],
    value_cols: Sequence[str],
    changed: pd.DataFrame,
) -> None:
    table = model.__table__  # type: ignore[attr-defined]
    stmt = (
        update(table)
        .where(*(table.c[c] == bindparam(f"k_{c}") for c in key_cols))
        .values({c: bindparam(f"v_{c}") for c in value_cols})
    )
    frame = changed.copy()
    day = _day_key(model)
    frame[day] = pd.to_datetime(frame[day]).dt.date
    params = [
        _plain({**{f"k_{c}": row[c] for c in key_cols}, **{f"v_{c}": row[c] for c in value_cols}})
        for row in frame.to_dict("records")
    ]
    session.connection().execute(stmt, params)


def _existing_facts(
    session: Session,
    model: type[Base],
    key_cols: Sequence[str],
    value_cols: Sequence[str],
    df: pd.DataFrame,
) -> pd.DataFrame:
    """Stored rows of the batch's accounts within its day range (the primary key's prefix)."""
    table = model.__table__  # type: ignore[attr-defined]
    accounts = sorted(int(a) for a in np.unique(df["account_id"].to_numpy()))
    day = _day_key(model)
    first = pd.Timestamp(df[day].min()).date()
    last = pd.Timestamp(df[day].max()).date()
    frames = []
    cols = [*(table.c[c] for c in key_cols), *(table.c[c] for c in value_cols)]
    step = ANY_CHUNK if _postgres(session) else 900
    for start in range(0, len(accounts), step):
        chunk = accounts[start : start + step]
        stmt = select(*cols).where(
            _among(session, table.c.account_id, chunk, Integer),
            table.c[day] >= first,
            table.c[day] <= last,
        )
        rows = session.execute(stmt).all()
        if rows:
            frames.append(pd.DataFrame(rows, columns=[c.key for c in cols]))
    if not frames:
        return pd.DataFrame(columns=[*key_cols, *value_cols])
    out = pd.concat(frames, ignore_index=True)
    out[day] = pd.to_datetime(out[day]).to_numpy("datetime64[D]")
    for col in key_cols:
        if col != day:
            out[col] = out[col].astype(df[col].dtype)
    return out.rename(columns={c: f"{c}_old" for c in value_cols})


def _reject_rows(where: pd.Series, reasons: pd.Series, entity: str, result: LoadResult) -> None:
    if where.empty:
        return
    wheres = where.astype(object).where(where.notna(), entity)
    for at, reason in list(zip(wheres, reasons, strict=True))[:MAX_ROW_REJECTIONS]:
        result.skipped.append(Rejection(str(at), str(reason)))
    if len(where) > MAX_ROW_REJECTIONS:
        result.skipped.append(
            Rejection(entity, f"... and {len(where) - MAX_ROW_REJECTIONS} more row(s) skipped")
        )


def bulk_insert(
    session: Session, table_name: str, frame: pd.DataFrame, *, csv: CopyData | None = None
) -> None:
    """Insert many rows fast: COPY on PostgreSQL, executemany on SQLite.

    Millions of usage rows through the ORM would dominate a sync; both drivers have a
    native bulk path that keeps the load within seconds. On PostgreSQL the CSV is written
    by Arrow's C++ writer straight from the columns (no Python object per value); ``csv``
    is that text rendered beforehand by ``copy_data`` for exactly ``frame``.
    """
    if frame.empty:
        return
    columns = list(frame.columns)
    dates = _date_columns(table_name)
    conn = session.connection()
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        data = csv if csv is not None else copy_data(table_name, frame)
        sql = f"COPY {table_name} ({', '.join(data.columns)}) FROM STDIN WITH (FORMAT csv)"
        with dbapi.cursor() as cur, cur.copy(sql) as cp:
            for part in data.parts:
                cp.write(part)
        return
    converted = frame.astype(object)  # Python scalars: sqlite3 binds no numpy types
    for col in columns:
        values = frame[col]
        if pd.api.types.is_datetime64_any_dtype(values):
            fmt = "%Y-%m-%d" if col in dates else "%Y-%m-%d %H:%M:%S.%f"
            converted[col] = values.dt.strftime(fmt).astype(object)
        elif values.dtype == object and len(values) and isinstance(values.iloc[0], date):
            converted[col] = values.map(lambda d: d.isoformat())
    converted = converted.where(converted.notna(), None)
    placeholders = ", ".join("?" for _ in columns)
    cur = dbapi.cursor()
    try:
        cur.executemany(
            f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({placeholders})",
            converted.itertuples(index=False, name=None),
        )
    finally:
        cur.close()


COPY_ROWS = 100_000


@dataclass(frozen=True)
class CopyData:
    """Rows rendered as PostgreSQL COPY CSV, in parts of ``COPY_ROWS``."""

    columns: tuple[str, ...]
    parts: tuple[pa.Buffer, ...]


def copy_data(table_name: str, frame: pd.DataFrame) -> CopyData:
    """Render ``frame`` for ``COPY table_name FROM STDIN (FORMAT csv)``; no database needed,
    so a bulk load renders the next slice while the server ingests the current one."""
    dates = _date_columns(table_name)
    options = pacsv.WriteOptions(include_header=False, batch_size=COPY_ROWS)
    parts = []
    for start in range(0, len(frame), COPY_ROWS):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(_arrow_table(frame.iloc[start : start + COPY_ROWS], dates), sink, options)
        parts.append(sink.getvalue())
    return CopyData(tuple(frame.columns), tuple(parts))


def _date_columns(table_name: str) -> set[str]:
    return {c.key for c in Base.metadata.tables[table_name].columns
            if isinstance(c.type, Date) and not isinstance(c.type, DateTime)}


def _arrow_table(frame: pd.DataFrame, dates: set[str]) -> pa.Table:
    """The frame as Arrow, with DATE columns as dates and timestamps at microseconds."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, name in enumerate(table.column_names):
        column = table.column(i)
        if pa.types.is_timestamp(column.type):
            target = pa.date32() if name in dates else pa.timestamp("us", column.type.tz)
            table = table.set_column(i, name, pc.cast(column, target, safe=False))
    return table
