"""Loading daily facts (usage, integrations, the ARR ledger) on their natural key.

A fact batch is loaded in two halves, so a sync can prepare slice N+1 while slice N is
still being written: ``load_facts_prepared`` resolves references (vectorised), names
rejected rows and folds duplicates; ``write_facts`` compares with the stored rows, COPYs
the new and updates the changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, text, update
from sqlalchemy.orm import Session

from pulse.kernel.records import Batch, Rejection
from storage.loader.fast_insert import CopyData, bulk_insert, copy_data
from storage.loader.refs import ACCOUNT_REF, Ref, RefCache, id_map, resolve_ids
from storage.loader.result import LoadResult, reject_rows
from storage.loader.sql import date_columns, is_postgres, plain
from storage.loader.stored import stored_rows
from storage.models import ArrChange, Base, Contact, IntegrationDaily, UsageDaily, table_of

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
FACTS_BY_TABLE = {spec[0].__tablename__: spec for spec in FACTS.values()}
FACT_ORDER: dict[str, tuple[str, ...]] = {
    # the primary key's column order: rows COPYed in this order touch the index locally
    "usage": ("account_id", "day", "user_id", "feature"),
    "integrations": ("account_id", "integration", "day"),
    "arr_history": ("account_id", "effective_on"),
}
USER_REF = Ref("user_external_id", "user_id", Contact, "user")


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
    if is_postgres(session) and not prepared.frame.empty:
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
    refs = (ACCOUNT_REF, USER_REF) if "user_id" in key_cols else (ACCOUNT_REF,)
    # where the referenced accounts and users live
    out, bad, reasons = _resolve_refs(session, df, refs, ref_source or source, cache)
    if bad.any():
        where = df["_where"] if "_where" in df.columns else pd.Series(None, index=df.index)
        reject_rows(where[bad], pd.Series(reasons[bad]), entity, result)
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


def _resolve_refs(
    session: Session,
    df: pd.DataFrame,
    refs: tuple[Ref, ...],
    ref_source: str,
    cache: RefCache | None,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Each reference column resolved (NaN when unknown), the rows to reject and why (the
    first unknown reference of each)."""
    out: dict[str, Any] = {}
    bad = np.zeros(len(df), dtype=bool)
    reasons = np.full(len(df), "", dtype=object)
    for ref in refs:
        external = df[ref.key].astype("str").where(df[ref.key].notna())
        if cache is not None:
            resolved = cache.resolve(session, ref.model, ref_source, external)
        else:
            ids = id_map(session, ref.model, ref_source, external.unique())
            resolved = resolve_ids(external, ids)
        missing = resolved.isna().to_numpy() & ~bad
        if missing.any():
            named = f"unknown {ref.label} '" + external[missing].astype(str) + "'"
            reasons[missing] = named.to_numpy()
        bad |= missing
        out[ref.column] = resolved
    return out, bad, reasons


def write_facts(session: Session, source: str, prepared: PreparedFacts) -> LoadResult:
    """The second half: compare with stored rows, COPY the new, update the changed."""
    model, key_cols, value_cols = FACTS[prepared.entity]
    result, df = prepared.result, prepared.frame
    if df.empty:
        return result
    if is_postgres(session):
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
    bulk_insert(session, model.__tablename__, new.assign(source=source), csv=csv)
    if not changed.empty:
        _update_facts(session, model, key_cols, value_cols, changed)
    result.inserted = len(new)
    result.updated = len(changed)
    return result


def _day_key(model: type[Base]) -> str:
    """The date column of a fact's natural key (``day``; ``effective_on`` for the ARR
    ledger): the one parsed as a date."""
    key = FACTS_BY_TABLE[model.__tablename__][1]
    (day,) = (c for c in key if c in date_columns(model.__tablename__))
    return day


def _update_facts(
    session: Session,
    model: type[Base],
    key_cols: Sequence[str],
    value_cols: Sequence[str],
    changed: pd.DataFrame,
) -> None:
    table = table_of(model)
    stmt = (
        update(table)
        .where(*(table.c[c] == bindparam(f"k_{c}") for c in key_cols))
        .values({c: bindparam(f"v_{c}") for c in value_cols})
    )
    frame = changed.copy()
    day = _day_key(model)
    frame[day] = pd.to_datetime(frame[day]).dt.date
    params = [
        plain({**{f"k_{c}": row[c] for c in key_cols}, **{f"v_{c}": row[c] for c in value_cols}})
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
    """Stored rows of the batch's keys, and maybe of other keys of the same accounts and
    days, which the merge then ignores (``storage.loader.stored``)."""
    day = _day_key(model)
    rows = stored_rows(session, table_of(model), key_cols, value_cols, df, day)
    if not rows:
        return pd.DataFrame(columns=[*key_cols, *value_cols])
    out = pd.DataFrame(rows, columns=[*key_cols, *value_cols])
    out[day] = pd.to_datetime(out[day]).to_numpy("datetime64[D]")
    for col in key_cols:
        if col != day:
            out[col] = out[col].astype(df[col].dtype)
    return out.rename(columns={c: f"{c}_old" for c in value_cols})
