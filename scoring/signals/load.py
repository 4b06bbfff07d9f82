"""Reading every signal of one date: the queries of a run, run together and merged."""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from time import perf_counter

import pandas as pd
import pyarrow as pa
from sqlalchemy.orm import Session

from pulse.kernel.config import ScoringConfig
from scoring.signals.accounts import AccountRoster, accounts_stmt
from scoring.signals.activity import (
    CONTACT_TYPES,
    CONTACTS_TABLE,
    PEOPLE_TYPES,
    UsagePlan,
    activity_stmt,
    contact_facts_stmt,
    contacts_stmt,
    people_stmt,
)
from scoring.signals.frame import Signals, assemble_frame
from scoring.signals.remote import remote_activity
from scoring.signals.scope import scoped
from scoring.signals.sources import (
    csat_stmt,
    integrations_stmt,
    invoices_stmt,
    nps_stmt,
    overrides_stmt,
    previous_scores,
    snapshots_stmt,
    tickets_stmt,
)
from scoring.signals.windows import Windows, WorkspaceMeta
from scoring.signals.workspace import UsageCalendar, workspace_meta
from storage.tuning import (
    PARALLEL_WORKERS,
    AnySelect,
    engine_of,
    parallel_safe,
    query_frame,
    run_queries,
    split_ids,
)
from storage.usage_engine import UsageEngine, arrow_table, local_duckdb, usage_engine

MIN_ACCOUNTS_FOR_THREADS = 1000
"""Below this many accounts extra connections cost more than they save."""


def _accounts(
    session: Session, as_of: date, roster: AccountRoster | None, timings: dict[str, float]
) -> pd.DataFrame:
    """The accounts alive on ``as_of``, from the roster when there is one."""
    t0 = perf_counter()
    if roster is not None:
        accounts = roster.alive_on(as_of)
    else:
        accounts = query_frame(session, accounts_stmt(as_of))
    timings["accounts"] = perf_counter() - t0
    return accounts


def _small_statements(windows: Windows) -> dict[str, AnySelect]:
    return {
        "integrations": integrations_stmt(windows),
        "tickets": tickets_stmt(windows),
        "nps": nps_stmt(windows),
        "csat": csat_stmt(windows),
        "invoices": invoices_stmt(windows),
        "snapshots": snapshots_stmt(windows),
        "overrides": overrides_stmt(windows),
    }


@dataclass(frozen=True)
class EngineContacts:
    """The contacts a backtest reads once for all its dates when the usage lives outside
    Pulse's database: those the usage engine is handed (:func:`people_stmt`) and every
    contact with what its facts read (:func:`contacts_stmt`), from which a local DuckDB
    computes each date's contact facts. At 100,000 accounts (a million contacts) reading
    the first took about a second a date, and the facts about a second of PostgreSQL a
    date (docs/performance.md, "Backtest")."""

    people: pa.Table
    everyone: pa.Table


def engine_contacts(session: Session, cfg: ScoringConfig) -> EngineContacts | None:
    """The :class:`EngineContacts` of ``cfg``'s usage engine; None when the usage lives in
    Pulse's database."""
    engine = usage_engine(cfg.usage)
    if engine.local:
        return None
    conn = session.connection()
    return EngineContacts(
        people=arrow_table(conn, people_stmt(engine.user_source), PEOPLE_TYPES),
        everyone=arrow_table(conn, contacts_stmt(), CONTACT_TYPES),
    )


def _handed_facts(windows: Windows, contacts: EngineContacts) -> pd.DataFrame:
    """The contact facts of ``windows``' date, computed by a local DuckDB from
    ``contacts.everyone``."""
    local = local_duckdb()
    try:
        stmt = contact_facts_stmt(windows, handed=True)
        return local.frame(None, stmt, {CONTACTS_TABLE: contacts.everyone})
    finally:
        assert local.engine is not None
        local.engine.dispose()


def _outside(
    session: Session,
    cfg: ScoringConfig,
    meta: WorkspaceMeta,
    engine: UsageEngine,
    small: dict[str, AnySelect],
    timings: dict[str, float],
    scope: Callable[[AnySelect], AnySelect],
    contacts: EngineContacts | None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Usage aggregated by an outside engine (:mod:`scoring.signals.remote`) while the
    contact facts and the small queries run on the session's connection (the facts in a
    local DuckDB when ``contacts`` are given, :func:`engine_contacts`). The contacts the
    engine is handed are read on a connection of their own when that is safe
    (:func:`storage.tuning.parallel_safe`), so that read overlaps the small queries too."""
    plan = UsagePlan.build(meta.windows, cfg, meta.catalogue, engine.dialect, engine.usage)
    stmt = people_stmt(engine.user_source)
    own = engine_of(session) if parallel_safe(session) else None
    t0 = perf_counter()

    def usage_figures(people: pa.Table | None) -> pd.DataFrame:
        if people is None:
            assert own is not None
            with own.connect() as conn:
                people = arrow_table(conn, stmt, PEOPLE_TYPES)
            timings["people"] = perf_counter() - t0
        return remote_activity(engine, plan, cfg, people)

    given = contacts.people if contacts is not None else None
    if given is None and own is None:
        given = arrow_table(session.connection(), stmt, PEOPLE_TYPES)
        timings["people"] = perf_counter() - t0
    if contacts is None:
        small = {**small, "contact_facts": scope(contact_facts_stmt(meta.windows))}
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(usage_figures, given)
        results = {}
        for name, query in small.items():
            t1 = perf_counter()
            results[name] = query_frame(session, query)
            timings[name] = perf_counter() - t1
        if contacts is not None:
            t1 = perf_counter()
            results["contact_facts"] = _handed_facts(meta.windows, contacts)
            timings["contact_facts"] = perf_counter() - t1
        activity = future.result()
    timings["activity"] = perf_counter() - t0
    return activity, results


def load_signals(
    session: Session,
    cfg: ScoringConfig,
    as_of: date,
    *,
    parallel: bool | None = None,
    calendar: UsageCalendar | None = None,
    roster: AccountRoster | None = None,
    meta: WorkspaceMeta | None = None,
    only: Collection[int] | None = None,
    contacts: EngineContacts | None = None,
) -> Signals:
    """Aggregate every raw figure the scorer needs, per account, as of ``as_of``.

    Runs a fixed number of grouped queries (independent of the number of accounts) and
    merges the per-account results in pandas. The usage is aggregated where it lives
    (``cfg.usage``, :mod:`storage.usage_engine`): in an outside engine while the other
    queries run on the session (:func:`_outside`); in Pulse's database, when it is safe
    (see :func:`storage.tuning.parallel_safe`; ``parallel=False`` forbids it), on extra
    connections while the small queries run on the session's: on SQLite split in two
    halves by account id (SQLite uses one core per query), on PostgreSQL as one query
    that the server parallelises itself. ``calendar`` (see
    :class:`~scoring.signals.workspace.UsageCalendar`) spares the two scans of the
    workspace facts when many dates are scored in a row, and ``roster`` (see
    :class:`~scoring.signals.accounts.AccountRoster`) the reading of the accounts, and
    ``contacts`` (:func:`engine_contacts`) the reading of the contacts an outside engine
    is handed and their facts in Pulse's database.
    ``meta`` (workspace facts cached for ``as_of``, :mod:`scoring.figures`) spares
    reading them, and ``only`` reads the accounts of those ids alone
    (:func:`~scoring.signals.scope.scoped`; live rescoring; an outside engine still
    aggregates every account's usage, and the others are dropped).
    """
    windows = Windows.build(as_of, cfg)
    timings: dict[str, float] = {}
    dialect = session.get_bind().dialect.name
    engine = usage_engine(cfg.usage)
    t0 = perf_counter()
    meta = meta or workspace_meta(session, windows, calendar, engine)
    timings["meta"] = perf_counter() - t0

    def scope(stmt: AnySelect) -> AnySelect:
        return stmt if only is None else scoped(stmt, only)

    if only is not None:
        accounts = query_frame(session, scope(accounts_stmt(as_of)))
    else:
        accounts = _accounts(session, as_of, roster, timings)
    small = {name: scope(stmt) for name, stmt in _small_statements(windows).items()}
    if not engine.local:
        activity, results = _outside(
            session, cfg, meta, engine, small, timings, scope, contacts
        )
        parts = [activity, results.pop("contact_facts")]
    else:
        use_threads = parallel_safe(session) if parallel is None else parallel
        if use_threads and parallel is None and len(accounts) < MIN_ACCOUNTS_FOR_THREADS:
            use_threads = False  # not worth the connections
        ranges: list[tuple[int, int] | None] = [None]
        if use_threads and dialect == "sqlite":
            ranges = list(split_ids(accounts["account_id"], PARALLEL_WORKERS)) or [None]
        activity_stmts = [
            scope(activity_stmt(windows, cfg, meta.catalogue, dialect, r)) for r in ranges
        ]
        activity, results = run_queries(
            session, activity_stmts, small, threads=use_threads, timings=timings,
            big_name="activity",
        )
        parts = [activity]
    results["overrides"] = results["overrides"].drop_duplicates("account_id", keep="first")
    parts += [results[k] for k in small if k != "snapshots"]
    parts.append(previous_scores(results["snapshots"]))
    frame = assemble_frame(accounts, parts)
    return Signals(frame=frame, meta=meta, timings=timings)
