"""Resolving references (``account_external_id`` ...) to primary keys.

A record names what it refers to by the external id of the same source (or of
``Batch.ref_source``); the loader stores the primary key. Keyed records resolve a
batch's references in one query per referenced table; fact batches, millions of rows
long, resolve them against whole-table maps held by a :class:`RefCache` for a sync run.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql as psql
from sqlalchemy import String, select
from sqlalchemy.orm import Session

from storage.loader.sql import ANY_CHUNK, CHUNK, among, is_postgres, postgres_connection
from storage.models import Account, SourceKeyed


@dataclass(frozen=True)
class Ref:
    """A reference key in a record, resolved to a foreign-key column."""

    key: str  # e.g. "account_external_id"
    column: str  # e.g. "account_id"
    model: type[SourceKeyed]
    label: str  # e.g. "account"
    required: bool = True


ACCOUNT_REF = Ref("account_external_id", "account_id", Account, "account")
KeyMap = tuple[pa.Array, np.ndarray]
"""A table's external ids (Arrow strings) and, at the same positions, primary keys."""


def id_map(
    session: Session, model: type[SourceKeyed], source: str, external_ids: Iterable[object]
) -> dict[str, int]:
    """Primary keys of ``model``'s records of ``source`` with these external ids."""
    ids = sorted({str(e) for e in external_ids if e is not None})
    found: dict[str, int] = {}
    step = ANY_CHUNK if is_postgres(session) else CHUNK
    for start in range(0, len(ids), step):
        chunk = ids[start : start + step]
        rows = session.execute(
            select(model.external_id, model.id).where(
                model.source == source,
                among(session, model.external_id, chunk, String),
            )
        )
        found.update({ext: pk for ext, pk in rows})
    return found


class RefCache:
    """External id -> primary key of whole tables, kept for one sync run.

    A big usage load resolves millions of account and user references; one query per
    table and one prebuilt hash index beat a lookup query per batch. Loading records of a
    table drops its entry, so a reference never resolves against stale keys.
    """

    def __init__(self) -> None:
        self._maps: dict[tuple[str, str], KeyMap] = {}

    def forget(self, model: type[SourceKeyed]) -> None:
        table = model.__tablename__
        self._maps = {k: v for k, v in self._maps.items() if k[0] != table}

    def resolve(self, session: Session, model: type[SourceKeyed], source: str,
                external: pd.Series) -> pd.Series:
        key = (model.__tablename__, source)
        if key not in self._maps:
            self._maps[key] = self._load(session, model, source)
        return _lookup(external, *self._maps[key])

    @staticmethod
    def _load(session: Session, model: type[SourceKeyed], source: str) -> KeyMap:
        if is_postgres(session):
            return _copy_keys(session, model, source)
        rows = session.execute(
            select(model.external_id, model.id).where(model.source == source)
        ).all()
        keys = pa.array([r[0] for r in rows], pa.string())
        return keys, np.array([r[1] for r in rows], dtype=np.float64)


def _copy_keys(session: Session, model: type[SourceKeyed], source: str) -> KeyMap:
    """A table's (external ids, primary keys) of ``source``, read with COPY: a million users
    as Python tuples take seconds; as COPY CSV read by Arrow, <1 s."""
    query = psql.SQL(
        "COPY (SELECT external_id, id FROM {} WHERE source = {}) TO STDOUT (FORMAT csv)"
    ).format(psql.Identifier(model.__tablename__), psql.Literal(source))
    sink = io.BytesIO()
    with postgres_connection(session).cursor() as cur, cur.copy(query) as cp:
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


def resolve_ids(external: pd.Series, ids: dict[str, int]) -> pd.Series:
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
