"""Scoring some accounts only: the same statements, restricted to a set of account ids.

Live rescoring (:mod:`pulse.jobs.live.rescore`) scores the accounts a batch of webhook
events touched against workspace figures cached by the daily run
(:mod:`scoring.figures`), so it needs each account's signals exactly as a full run
computes them, but without aggregating everyone's usage. Rather than a second copy of
every query, :func:`scoped` rewrites a finished statement: every table that holds
per-account rows (``account_id``, or the accounts table's own ``id``) is replaced by a
subquery of those accounts' rows. Each account's figures are aggregated from its own
rows only, so they equal the full statement's figures for that account; the databases
flatten such subqueries and read the rows through their account index (usage's primary
key leads with ``account_id``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import Column, Subquery, Table, select
from sqlalchemy.sql.visitors import replacement_traverse

from storage.models import Account
from storage.tuning import AnySelect


def _key_column(table: Table) -> str | None:
    """The column naming the account a row belongs to (None: not per account)."""
    if table.name == Account.__tablename__:
        return "id"
    return "account_id" if "account_id" in table.c else None


def scoped(stmt: AnySelect, account_ids: Collection[int]) -> AnySelect:
    """``stmt`` reading only the rows of ``account_ids`` from every per-account table
    (every occurrence, subqueries and joins included)."""
    ids = sorted({int(a) for a in account_ids})
    replaced: dict[Table, Subquery] = {}

    def rows_of(table: Table) -> Subquery:
        if table not in replaced:
            key = table.c[_key_column(table) or ""]
            replaced[table] = (
                select(table).where(key.in_(ids)).subquery(f"{table.name}_scoped")
            )
        return replaced[table]

    def swap(element: Any, **kw: Any) -> Any:
        if isinstance(element, Table) and _key_column(element):
            return rows_of(element)
        table = getattr(element, "table", None)
        if isinstance(element, Column) and isinstance(table, Table) and _key_column(table):
            return rows_of(table).c[element.key]
        return None

    options: dict[str, Any] = {}
    return cast(AnySelect, replacement_traverse(stmt, options, swap))
