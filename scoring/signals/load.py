"""Reading every signal of one date: the queries of a run, run together and merged."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from time import perf_counter

import pandas as pd
from sqlalchemy.orm import Session

from pulse.kernel.config import ScoringConfig
from scoring.signals.accounts import AccountRoster, accounts_stmt
from scoring.signals.activity import activity_stmt
from scoring.signals.frame import Signals, assemble_frame
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
    parallel_safe,
    query_frame,
    run_queries,
    split_ids,
)

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
) -> Signals:
    """Aggregate every raw figure the scorer needs, per account, as of ``as_of``.

    Runs a fixed number of grouped queries (independent of the number of accounts) and
    merges the per-account results in pandas. When it is safe (see
    :func:`storage.tuning.parallel_safe`; ``parallel=False`` forbids it) the big activity
    aggregation runs on extra connections while the small queries run on the session's:
    on SQLite split in two halves by account id (SQLite uses one core per query), on
    PostgreSQL as one query that the server parallelises itself. ``calendar`` (see
    :class:`~scoring.signals.workspace.UsageCalendar`) spares the two scans of the
    workspace facts when many dates are scored in a row, and ``roster`` (see
    :class:`~scoring.signals.accounts.AccountRoster`) the reading of the accounts.
    ``meta`` (workspace facts cached for ``as_of``, :mod:`scoring.figures`) spares
    reading them, and ``only`` reads the accounts of those ids alone
    (:func:`~scoring.signals.scope.scoped`; live rescoring).
    """
    windows = Windows.build(as_of, cfg)
    timings: dict[str, float] = {}
    dialect = session.get_bind().dialect.name
    t0 = perf_counter()
    meta = meta or workspace_meta(session, windows, calendar)
    timings["meta"] = perf_counter() - t0
    def scope(stmt: AnySelect) -> AnySelect:
        return stmt if only is None else scoped(stmt, only)

    if only is not None:
        accounts = query_frame(session, scope(accounts_stmt(as_of)))
    else:
        accounts = _accounts(session, as_of, roster, timings)
    use_threads = parallel_safe(session) if parallel is None else parallel
    if use_threads and parallel is None and len(accounts) < MIN_ACCOUNTS_FOR_THREADS:
        use_threads = False  # not worth the connections
    ranges: list[tuple[int, int] | None] = [None]
    if use_threads and dialect == "sqlite":
        ranges = list(split_ids(accounts["account_id"], PARALLEL_WORKERS)) or [None]
    activity_stmts = [
        scope(activity_stmt(windows, cfg, meta.catalogue, dialect, r)) for r in ranges
    ]
    small = {
        "integrations": integrations_stmt(windows),
        "tickets": tickets_stmt(windows),
        "nps": nps_stmt(windows),
        "csat": csat_stmt(windows),
        "invoices": invoices_stmt(windows),
        "snapshots": snapshots_stmt(windows),
        "overrides": overrides_stmt(windows),
    }
    small = {name: scope(stmt) for name, stmt in small.items()}
    activity, results = run_queries(
        session, activity_stmts, small, threads=use_threads, timings=timings, big_name="activity"
    )
    results["overrides"] = results["overrides"].drop_duplicates("account_id", keep="first")
    parts = [activity, *(results[k] for k in small if k != "snapshots")]
    parts.append(previous_scores(results["snapshots"]))
    frame = assemble_frame(accounts, parts)
    return Signals(frame=frame, meta=meta, timings=timings)
