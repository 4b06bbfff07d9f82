"""Upserting keyed records (owners, accounts, contacts ...) on ``(source, external_id)``.

References resolve against the batch's source (or ``Batch.ref_source``); a record whose
required reference is unknown is skipped with a reason naming it. A record whose optional
reference is unknown is stored and reported the same way: a new record without the link,
an existing one keeping the link it had (a typo never unlinks stored data). An empty
optional reference clears the link. Owners' managers are linked once the batch's owners
exist, with the same rule. A tombstone (:func:`pulse.kernel.records.tombstone`) only
sets ``deleted_at`` on the stored record of its id (:func:`_bury`).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from pulse.kernel.records import TOMBSTONE, Rejection
from storage.loader.refs import ACCOUNT_REF, Ref, id_map
from storage.loader.result import LoadResult
from storage.loader.sql import CHUNK
from storage.models import (
    Account,
    Contact,
    Invoice,
    Opportunity,
    Owner,
    SourceKeyed,
    Subscription,
    SurveyResponse,
    Ticket,
    table_of,
)

UNLINKED = "row imported without this link (an existing record keeps its link)"
"""How a row with an unknown optional reference is reported: imported, never unlinked."""

KEYED: dict[str, tuple[type[SourceKeyed], tuple[Ref, ...]]] = {
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


def _where(record: dict[str, Any], entity: str) -> str:
    where = record.get("_where")
    if where:
        return str(where)
    ext = record.get("external_id")
    return f"{entity} '{ext}'" if ext else entity


def _columns(model: type[SourceKeyed]) -> set[str]:
    return {c.key for c in table_of(model).columns} - {"id", "updated_at"}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return a == b


def load_keyed(
    session: Session,
    source: str,
    entity: str,
    records: list[dict[str, Any]],
    ref_source: str | None = None,
    unlinked_ok: frozenset[str] = frozenset(),
) -> LoadResult:
    """Upsert ``records`` of a keyed entity; the batch's own rejections are the caller's.
    Unknown optional references are reported unless their key is in ``unlinked_ok``."""
    model, refs = KEYED[entity]
    result = LoadResult(fetched=len(records))
    dead = [r for r in records if r.get(TOMBSTONE)]
    if dead:
        records = [r for r in records if not r.get(TOMBSTONE)]
    columns = _columns(model)
    ref_src = ref_source or source
    maps = {ref.key: id_map(session, ref.model, ref_src, (r.get(ref.key) for r in records))
            for ref in refs}
    manager_refs: dict[str, tuple[str, str]] = {}  # owner -> (manager, where)
    rows: dict[str, dict[str, Any]] = {}
    for record in records:
        where = _where(record, entity)
        ext = record.get("external_id")
        if ext is None or str(ext).strip() == "":
            result.skipped.append(Rejection(where, "missing external_id"))
            continue
        ext = str(ext)
        row: dict[str, Any] = {"source": source, "external_id": ext}
        problem, unresolved = _resolve_refs(record, refs, maps, row)
        if problem:
            result.skipped.append(Rejection(where, problem))
            continue
        for key, note in unresolved:
            if key not in unlinked_ok:
                result.skipped.append(Rejection(where, note, imported=True))
        for key, value in record.items():
            if key in columns and key not in row:
                row[key] = value
        if entity == "owners" and record.get("manager_external_id"):
            manager_refs[ext] = (str(record["manager_external_id"]), where)
        if ext in rows:
            result.skipped.append(Rejection(where, f"duplicate external_id '{ext}' in batch"))
            continue
        rows[ext] = row

    links = tuple(ref.column for ref in refs if not ref.required)
    result.inserted, result.updated, result.unchanged = _write_keyed(
        session, model, source, rows, links
    )
    if manager_refs:
        _link_managers(session, source, manager_refs, result)
    if dead:
        buried, unchanged = _bury(session, model, source, dead)
        result.updated += buried
        result.unchanged += unchanged
    return result


def _bury(
    session: Session, model: type[SourceKeyed], source: str, dead: list[dict[str, Any]]
) -> tuple[int, int]:
    """Set ``deleted_at`` (and ``merged_into`` when given) on the stored records the
    tombstones ``dead`` name (the last tombstone of an id wins); (records changed,
    tombstones that changed nothing: the record already so, or not stored)."""
    table = table_of(model)
    if "deleted_at" not in table.c:
        raise ValueError(f"{table.name} records cannot be tombstones")
    marks = ["deleted_at", *(["merged_into"] if "merged_into" in table.c else [])]
    want = {str(r["external_id"]): {k: r[k] for k in marks if k in r} for r in dead}
    stored: dict[str, dict[str, Any]] = {}
    keys = list(want)
    for start in range(0, len(keys), CHUNK):
        stmt = select(table.c.id, table.c.external_id, *(table.c[k] for k in marks)).where(
            table.c.source == source, table.c.external_id.in_(keys[start : start + CHUNK])
        )
        stored.update({row.external_id: dict(row._mapping) for row in session.execute(stmt)})
    changes = []
    for ext, row in stored.items():
        changed = {k: v for k, v in want[ext].items() if not _same(row[k], v)}
        if changed:
            changes.append({"id": row["id"], **changed})
    for group in _by_columns(changes):
        session.execute(update(model), group)
    if changes:
        session.flush()
    return len(changes), len(dead) - len(changes)


def _resolve_refs(
    record: dict[str, Any],
    refs: tuple[Ref, ...],
    maps: dict[str, dict[str, int]],
    row: dict[str, Any],
) -> tuple[str | None, list[tuple[str, str]]]:
    """Set ``row``'s foreign keys from ``record``'s references. Returns why the record is
    skipped (a required reference missing or unknown) or None, and (key, report) of its
    unknown optional references, whose columns are left out of ``row`` so an update keeps
    the stored link (as it does for an optional reference the record does not give; an
    empty one clears the link)."""
    unresolved: list[tuple[str, str]] = []
    for ref in refs:
        if ref.key not in record and not ref.required:
            continue  # not given: an update keeps the stored link (None when inserted)
        target = record.get(ref.key)
        if target is None or str(target) == "":
            if ref.required:
                return f"missing {ref.key}", []
            row[ref.column] = None
            continue
        pk = maps[ref.key].get(str(target))
        if pk is None:
            if ref.required:
                return f"unknown {ref.label} '{target}' ({ref.key})", []
            unresolved.append((ref.key, f"unknown {ref.label} '{target}' ({ref.key}); {UNLINKED}"))
            continue
        row[ref.column] = pk
    return None, unresolved


def _write_keyed(
    session: Session, model: type[SourceKeyed], source: str, rows: dict[str, dict[str, Any]],
    links: tuple[str, ...] = (),
) -> tuple[int, int, int]:
    """Insert new rows and update changed ones; a new row lacking one of ``links`` (an
    unresolved optional reference) is inserted without it, an existing one keeps it."""
    if not rows:
        return 0, 0, 0
    written_cols = sorted({k for r in rows.values() for k in r} - {"source", "external_id"})
    fill = [c for c in links if c in written_cols]  # bulk INSERT needs uniform rows
    existing: dict[str, dict[str, Any]] = {}
    keys = list(rows)
    table_cols = [table_of(model).c[c] for c in written_cols]
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        stmt = select(model.id, model.external_id, *table_cols).where(
            model.source == source, model.external_id.in_(chunk)
        )
        for found in session.execute(stmt).mappings():
            existing[found["external_id"]] = dict(found)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged = 0
    for ext, row in rows.items():
        old = existing.get(ext)
        if old is None:
            inserts.append({**dict.fromkeys(fill), **row})
            continue
        changed = {k: v for k, v in row.items() if k in written_cols and not _same(old[k], v)}
        if changed:
            updates.append({"id": old["id"], **changed})
        else:
            unchanged += 1
    for start in range(0, len(inserts), CHUNK):
        session.execute(insert(model), inserts[start : start + CHUNK])
    for group in _by_columns(updates):
        session.execute(update(model), group)
    session.flush()
    return len(inserts), len(updates), unchanged


def _by_columns(changes: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``changes`` grouped by the set of columns they set: a bulk UPDATE needs uniform
    parameter sets."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        groups.setdefault(tuple(sorted(change)), []).append(change)
    return list(groups.values())


def _link_managers(
    session: Session, source: str, manager_refs: dict[str, tuple[str, str]], result: LoadResult
) -> None:
    managers = [manager for manager, _ in manager_refs.values()]
    ids = id_map(session, Owner, source, list(manager_refs) + managers)
    current = dict(
        session.execute(
            select(Owner.id, Owner.manager_id).where(Owner.id.in_(list(ids.values())))
        ).all()
    )
    for owner_ext, (manager_ext, where) in manager_refs.items():
        manager_id = ids.get(manager_ext)
        if manager_id is None:
            result.skipped.append(Rejection(
                where,
                f"unknown manager '{manager_ext}' (manager_external_id); {UNLINKED}",
                imported=True))
            continue
        owner_id = ids[owner_ext]
        if current.get(owner_id) != manager_id:
            session.execute(update(Owner).where(Owner.id == owner_id).values(manager_id=manager_id))
