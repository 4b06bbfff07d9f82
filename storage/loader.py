"""Idempotent loading of connector batches into storage.

Every entity is keyed: records from source systems on ``(source, external_id)``, daily
facts on their natural key (account, user, feature, day). A record identical to what is
stored is counted as unchanged and not written, so loading the same data twice changes
nothing. References (``account_external_id`` ...) resolve against records of the same
source, or of ``Batch.ref_source`` when the batch names one; a record whose reference is
unknown is skipped with a reason naming it, and the rest of the batch still loads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from connectors.base import Batch, Rejection
from storage.models import (
    Account,
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
}


def load_batch(session: Session, source: str, batch: Batch) -> LoadResult:
    """Upsert one batch; the caller owns the transaction (and the cursor that goes with it)."""
    if batch.entity in FACTS:
        frame = batch.records
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(list(frame))
        result = _load_facts(session, source, batch.entity, frame, batch.ref_source)
    elif batch.entity in KEYED:
        records = batch.records
        if isinstance(records, pd.DataFrame):
            records = records.to_dict("records")
        result = _load_keyed(
            session, source, batch.entity, [_plain(r) for r in records], batch.ref_source
        )
    else:
        raise ValueError(f"unknown entity '{batch.entity}'")
    result.skipped[:0] = batch.rejected
    return result


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
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = session.execute(
            select(model.external_id, model.id).where(  # type: ignore[attr-defined]
                model.source == source,  # type: ignore[attr-defined]
                model.external_id.in_(chunk),  # type: ignore[attr-defined]
            )
        )
        found.update({ext: pk for ext, pk in rows})
    return found


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


def _load_facts(
    session: Session,
    source: str,
    entity: str,
    frame: pd.DataFrame,
    ref_source: str | None = None,
) -> LoadResult:
    model, key_cols, value_cols = FACTS[entity]
    result = LoadResult(fetched=len(frame))
    if frame.empty:
        return result
    df = frame.copy()
    if "_where" not in df.columns:
        df["_where"] = None
    bad = pd.Series(False, index=df.index)
    reasons = pd.Series("", index=df.index, dtype=object)

    ref_src = ref_source or source  # where the referenced accounts and users live
    acct = _id_map(session, Account, ref_src, df["account_external_id"].dropna().unique())
    df["account_id"] = df["account_external_id"].astype(object).map(
        lambda e: acct.get(str(e)) if e is not None else None
    )
    missing = df["account_id"].isna()
    reasons[missing & ~bad] = "unknown account '" + df["account_external_id"].astype(str) + "'"
    bad |= missing
    if "user_id" in key_cols:
        users = _id_map(session, Contact, ref_src, df["user_external_id"].dropna().unique())
        df["user_id"] = df["user_external_id"].astype(object).map(
            lambda e: users.get(str(e)) if e is not None else None
        )
        missing = df["user_id"].isna() & ~bad
        reasons[missing] = "unknown user '" + df["user_external_id"].astype(str) + "'"
        bad |= missing
    _reject_rows(df[bad], reasons[bad], entity, result)
    df = df[~bad]
    if df.empty:
        return result

    df["account_id"] = df["account_id"].astype("int64")
    if "user_id" in df.columns:
        df["user_id"] = df["user_id"].astype("int64")
    df["day"] = pd.to_datetime(df["day"]).dt.date
    before = len(df)
    df = df.drop_duplicates(list(key_cols), keep="last")
    if len(df) < before:
        result.skipped.append(
            Rejection(entity, f"{before - len(df)} duplicate row(s) for the same key; last kept")
        )
    for col in value_cols:
        df[col] = pd.to_numeric(df[col]).fillna(0)
    df = df[list(key_cols) + list(value_cols)]

    existing = _existing_facts(session, model, key_cols, value_cols, df)
    if existing.empty:
        new, changed = df, df.iloc[0:0]
    else:
        merged = df.merge(existing, on=list(key_cols), how="left", suffixes=("", "_old"))
        is_new = merged["id"].isna()
        diff = pd.Series(False, index=merged.index)
        for col in value_cols:
            diff |= ~np.isclose(merged[col].astype(float), merged[f"{col}_old"].astype(float))
        new = merged[is_new][df.columns]
        changed = merged[~is_new & diff]
        result.unchanged = int((~is_new & ~diff).sum())
    new = new.assign(source=source)
    bulk_insert(session, model.__table__.name, new)  # type: ignore[attr-defined]
    if not changed.empty:
        params = changed[["id", *value_cols]].astype({"id": "int64"}).to_dict("records")
        session.execute(update(model), [_plain(p) for p in params])
    result.inserted = len(new)
    result.updated = len(changed)
    return result


def _existing_facts(
    session: Session,
    model: type[Base],
    key_cols: Sequence[str],
    value_cols: Sequence[str],
    df: pd.DataFrame,
) -> pd.DataFrame:
    table = model.__table__  # type: ignore[attr-defined]
    accounts = sorted(int(a) for a in df["account_id"].unique())
    frames = []
    cols = [table.c.id, *(table.c[c] for c in key_cols), *(table.c[c] for c in value_cols)]
    for start in range(0, len(accounts), 900):
        chunk = accounts[start : start + 900]
        stmt = select(*cols).where(
            table.c.account_id.in_(chunk),
            table.c.day >= df["day"].min(),
            table.c.day <= df["day"].max(),
        )
        rows = session.execute(stmt).all()
        if rows:
            frames.append(pd.DataFrame(rows, columns=[c.key for c in cols]))
    if not frames:
        return pd.DataFrame(columns=["id", *key_cols, *value_cols])
    out = pd.concat(frames, ignore_index=True)
    out["day"] = pd.to_datetime(out["day"]).dt.date
    return out.rename(columns={c: f"{c}_old" for c in value_cols})


def _reject_rows(
    bad: pd.DataFrame, reasons: pd.Series, entity: str, result: LoadResult
) -> None:
    if bad.empty:
        return
    wheres = bad["_where"].astype(object).where(bad["_where"].notna(), entity)
    for where, reason in list(zip(wheres, reasons, strict=True))[:MAX_ROW_REJECTIONS]:
        result.skipped.append(Rejection(str(where), str(reason)))
    if len(bad) > MAX_ROW_REJECTIONS:
        result.skipped.append(
            Rejection(entity, f"... and {len(bad) - MAX_ROW_REJECTIONS} more row(s) skipped")
        )


def bulk_insert(session: Session, table_name: str, frame: pd.DataFrame) -> None:
    """Insert many rows fast: COPY on PostgreSQL, executemany on SQLite.

    Millions of usage rows through the ORM would dominate a sync; both drivers have a
    native bulk path that keeps the load within seconds.
    """
    if frame.empty:
        return
    columns = list(frame.columns)
    frame = frame.astype(object)  # Python scalars: neither driver binds numpy types
    conn = session.connection()
    dialect = conn.dialect.name
    dbapi = conn.connection.dbapi_connection
    if dialect == "postgresql":
        col_list = ", ".join(columns)
        sql = f"COPY {table_name} ({col_list}) FROM STDIN WITH (FORMAT csv)"
        with dbapi.cursor() as cur, cur.copy(sql) as cp:
            for start in range(0, len(frame), 200_000):
                cp.write(frame.iloc[start : start + 200_000].to_csv(header=False, index=False))
        return
    converted = frame.copy()
    for col in columns:
        if converted[col].dtype == object and len(converted) and isinstance(
            converted[col].iloc[0], date
        ):
            converted[col] = converted[col].map(lambda d: d.isoformat())
    placeholders = ", ".join("?" for _ in columns)
    cur = dbapi.cursor()
    try:
        cur.executemany(
            f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({placeholders})",
            converted.itertuples(index=False, name=None),
        )
    finally:
        cur.close()
