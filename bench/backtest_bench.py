"""Backtest benchmark: 100,000 accounts, 12 monthly as-of dates, SQLite and PostgreSQL.

The portfolio and the usage rows come from bench/score_bench.py's generators, drawn month
by month over 16 months (the 12 as-of dates, the 60 days of history the first one reads,
and the 90-day horizon after the last), at the scoring benchmark's density: 50 usage rows
per account per month (about ten users an account, each active on a few days a month),
72 million rows once churn and late starts have removed some. About 15% of the accounts
churn on a day spread over the backtest range; their usage fades over the six weeks
before and stops at churn, so the figures mean something. Loading is timed separately
(not part of the target); the backtest runs in a fresh subprocess whose own peak RSS is
reported. Target on a 2-core machine: under 2 minutes. Figures: docs/performance.md.

    python bench/backtest_bench.py [--accounts N] [--rows-per-month N]
        [--backend sqlite|postgresql|both] [--keep]   # --keep: leave the database, print its URL
    python bench/backtest_bench.py --url URL   # time it again on a database loaded before

With ``PULSE_BENCH_USAGE=FILE.parquet`` in the environment the usage is read from that
file by the DuckDB engine (``scoring.usage.engine: duckdb``, users by the external id of
the ``bench`` contacts), Pulse's database giving the accounts and contacts: the fastest
engine of the issue-20 target. Export a kept database's usage for it with
``python bench/backtest_bench.py --export-usage URL FILE.parquet``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from score_bench import (  # noqa: E402
    _peak_rss_mb,
    bench_portfolio,
    bench_usage,
    scratch_database,
)

from pulse.kernel.config import PulseConfig, UsageEngineConfig  # noqa: E402
from scoring.periods import add_months, parse_span  # noqa: E402
from storage.bulk import drop_usage_indexes, restore_usage_indexes  # noqa: E402
from storage.db import get_engine, session_factory, session_scope  # noqa: E402
from storage.loader import bulk_insert  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

FIRST_AS_OF = date(2025, 3, 31)
LAST_AS_OF = date(2026, 2, 28)
EVERY = "1m"
HORIZON = "90d"
HISTORY_START = date(2025, 2, 1)
"""Far enough back for the first date's two 30-day windows (trend needs both)."""
HISTORY_END = date(2026, 5, 31)
"""The last as-of date's horizon (May 29) ends inside the data."""
CHURN_SHARE = 0.15
FADE_DAYS = 42
SEED = 11


def _months() -> list[tuple[date, int]]:
    """(last day, number of days) of every month of usage history."""
    out = []
    first = HISTORY_START
    while first <= HISTORY_END:
        nxt = add_months(first, 1)
        out.append((nxt - timedelta(days=1), (nxt - first).days))
        first = nxt
    return out


def _portfolio(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scoring benchmark's accounts, with start dates, renewals and churn spread out."""
    accounts, contacts = bench_portfolio(rng, n, as_of=HISTORY_END)
    start = pd.Timestamp(HISTORY_START)
    # 90% customers for 1-3 years before the history starts, 10% joining during it
    ago = rng.integers(30, 1000, n)
    joined = rng.random(n) < 0.10
    offset = np.where(joined, -rng.integers(0, 400, n), ago)
    contract_start = start - pd.to_timedelta(offset, unit="D")
    churned = rng.random(n) < CHURN_SHARE
    span = (HISTORY_END - FIRST_AS_OF).days
    churned_on = pd.Timestamp(FIRST_AS_OF) + pd.to_timedelta(
        rng.integers(1, span + 1, n), unit="D"
    )
    churned &= churned_on > contract_start + pd.Timedelta(days=60)
    renewal = pd.Timestamp(HISTORY_END) + pd.to_timedelta(rng.integers(1, 365, n), unit="D")
    accounts["contract_start"] = contract_start.to_numpy(dtype="datetime64[s]")
    accounts["renewal_date"] = np.where(churned, churned_on, renewal).astype("datetime64[s]")
    accounts["churned_on"] = np.where(churned, churned_on, np.datetime64("NaT")).astype(
        "datetime64[s]"
    )
    accounts["lifecycle"] = np.where(churned, "churned", "paid")
    return accounts, contacts


def _fade(
    rng: np.random.Generator, usage: pd.DataFrame, accounts: pd.DataFrame
) -> pd.DataFrame:
    """No usage before contract start or after churn; fading over the weeks before churn."""
    idx = usage["account_id"].to_numpy() - 1
    day = usage["day"].to_numpy(dtype="datetime64[D]")
    start = accounts["contract_start"].to_numpy(dtype="datetime64[D]")[idx]
    churn = accounts["churned_on"].to_numpy(dtype="datetime64[D]")[idx]
    stays = np.isnat(churn)
    left = np.where(stays, FADE_DAYS, (churn - day).astype("int64")).astype("float64")
    keep_p = np.clip(left / FADE_DAYS, 0.15, 1.0)
    keep = (day >= start) & (left > 0) & (rng.random(len(usage)) < keep_p)
    return usage[keep]


def _load(url: str, n_accounts: int, rows_per_month: int) -> tuple[float, int]:
    """Load the portfolio, then its usage month by month in day order.

    Day order is how a production table grows (each sync appends the latest days), and
    the layout PostgreSQL's BRIN index on ``day`` relies on. Inserting in day order into
    the (account, day, ...) primary key would land every row in a random leaf, so on
    PostgreSQL the key and the BRIN index are dropped for the load and built afterwards
    (same schema in the end), and SQLite's loading connection gets a 4 GB page cache.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    accounts, contacts = _portfolio(rng, n_accounts)
    upgrade(url)
    engine = get_engine(url)
    postgres = engine.dialect.name == "postgresql"
    with session_scope(url) as session:
        bulk_insert(session, "accounts", accounts)
        bulk_insert(session, "contacts", contacts)
    if postgres:
        with engine.begin() as conn:
            drop_usage_indexes(conn)
    user_account = contacts["account_id"].to_numpy()
    rows = 0
    for last, days in _months():
        n_rows = rows_per_month * n_accounts * days // 30
        usage = bench_usage(rng, user_account, n_rows, last, days, python_dates=False)
        usage = _fade(rng, usage, accounts).sort_values(
            ["day", "account_id", "user_id", "feature"], ignore_index=True
        )
        with session_scope(url) as session:
            if not postgres:
                session.execute(text("PRAGMA cache_size = -4000000"))
            bulk_insert(session, "usage_daily", usage)
        rows += len(usage)
        print(f"  loaded {last:%Y-%m}: {len(usage):,} rows", flush=True)
    if postgres:
        with engine.begin() as conn:
            restore_usage_indexes(conn)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
            for table in ("accounts", "contacts"):
                conn.execute(
                    text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
                )
    return time.perf_counter() - started, rows


USAGE_ENV = "PULSE_BENCH_USAGE"
BENCH_SOURCE = "bench"
"""The source of the generated contacts (their external ids are the usage's users)."""


def _backtest_only(url: str) -> None:
    from pulse.services.backtest import run_backtest

    per_date: list[float] = []
    started = time.perf_counter()
    scoring = PulseConfig().scoring
    if parquet := os.environ.get(USAGE_ENV):
        scoring = scoring.model_copy(update={"usage": UsageEngineConfig(
            engine="duckdb", path=parquet, user_source=BENCH_SOURCE)})
    with session_factory(url)() as session:
        run = run_backtest(
            session,
            scoring,
            FIRST_AS_OF,
            LAST_AS_OF,
            every=parse_span(EVERY),
            horizon=parse_span(HORIZON),
            progress=lambda day, n, s: per_date.append(s),
        )
    elapsed = time.perf_counter() - started
    pooled = run.result.pooled
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "per_date": per_date,
                "phases": run.seconds,
                "peak_mb": _peak_rss_mb(),
                "dates": len(run.dates),
                "censored": len(run.censored),
                "observations": pooled.observations,
                "churners": pooled.churners,
                "auc": pooled.auc,
            }
        )
    )


def export_usage(url: str, path: str) -> None:
    """A loaded PostgreSQL database's usage as the Parquet file ``PULSE_BENCH_USAGE``
    names (users by their contact's external id, in day order): ``COPY`` to a CSV file
    beside it, converted by DuckDB."""
    import duckdb
    import psycopg

    csv = f"{path}.csv"
    sql = ("COPY (SELECT c.external_id AS user_external_id, u.feature, u.day, u.events "
           "FROM usage_daily u JOIN contacts c ON c.id = u.user_id ORDER BY u.day) "
           "TO STDOUT WITH (FORMAT CSV, HEADER)")
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with (psycopg.connect(dsn) as conn, conn.cursor() as cur, open(csv, "wb") as out,
          cur.copy(sql) as copy):
        for block in copy:
            out.write(block)
    duckdb.connect().execute(
        f"COPY (SELECT * FROM read_csv_auto('{csv}')) TO '{path}' (FORMAT parquet)")
    os.remove(csv)


def _backtest_subprocess(url: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--backtest-only", url],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _report(backend: str, r: dict[str, float], load_s: float | None, rows: int | None) -> None:
    per = r["per_date"]
    verdict = "OK" if r["seconds"] < 120 else "OVER TARGET"
    loaded = f"load {load_s:6.1f}s ({rows:,} rows) | " if load_s is not None and rows else ""
    print(
        f"{backend:10s} {loaded}backtest {r['seconds']:6.1f}s "
        f"({r['dates']} dates, {min(per):.1f}-{max(per):.1f}s each, "
        f"median {float(np.median(per)):.1f}s), peak {r['peak_mb']:,.0f} MB, "
        f"{r['observations']:,} observations, {r['churners']:,} churn, "
        f"AUC {r['auc']:.3f} | {verdict}",
        flush=True,
    )


def bench_main(
    doc: str,
    what: str,
    prefix: str,
    only: Callable[[str], None],
    measure: Callable[[str], dict],
    report: Callable[[str, dict, float | None, int | None], None],
) -> None:
    """The command line of a bench that loads this bench's data and times ``what`` on it
    in a subprocess (``measure``, which runs the script again with ``--{what}-only``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument(
        "--rows-per-month", type=int, default=50, help="usage rows per account per month"
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--keep", action="store_true",
                        help="keep the loaded database (prints its URL, for --url)")
    parser.add_argument("--url", help=f"time the {what} on an already loaded database")
    parser.add_argument(f"--{what}-only", metavar="URL", dest="only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        only(args.only)
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    if args.url:
        report(get_engine(args.url).dialect.name, measure(args.url), None, None)
        return
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with scratch_database(backend, prefix=prefix, keep=args.keep) as url:
            try:
                load_s, rows = _load(url, args.accounts, args.rows_per_month)
                result = measure(url)
            finally:
                get_engine(url).dispose()
                if backend == "sqlite" and not args.keep:  # tens of GB: do not leave it
                    shutil.rmtree(Path(make_url(url).database or "").parent, ignore_errors=True)
            if args.keep and backend == "sqlite":
                print(f"kept {url}")
        report(backend, result, load_s, rows)


def main() -> None:
    if sys.argv[1:2] == ["--export-usage"]:
        export_usage(sys.argv[2], sys.argv[3])
        return
    bench_main(__doc__ or "", "backtest", "pulse_backtest_bench", _backtest_only,
               _backtest_subprocess, _report)


if __name__ == "__main__":
    main()
