"""Scoring benchmark: 100,000 accounts and 10 million usage rows, SQLite and PostgreSQL.

Generates a synthetic portfolio with numpy, bulk-loads it (timed separately: loading is
not part of the target), then times the scoring run (SQL aggregation, pandas scoring,
snapshot persistence) in a fresh subprocess so its peak memory is its own.
Target on a 2-core machine: scoring under 30 s and under 4 GB.

    python bench/score_bench.py [--accounts N] [--rows N] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.sample import FEATURES as SAMPLE_FEATURES  # noqa: E402
from pulse.kernel.config import PulseConfig  # noqa: E402
from storage.db import get_engine, session_factory, session_scope  # noqa: E402
from storage.loader import bulk_insert  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

AS_OF = date(2026, 6, 30)
DAYS = 60
FEATURES = np.array(SAMPLE_FEATURES)
PG_ADMIN = os.environ.get("PULSE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _frames(n_accounts: int, n_rows: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    accounts, contacts = bench_portfolio(rng, n_accounts)
    usage = bench_usage(rng, contacts["account_id"].to_numpy(), n_rows)
    return {"accounts": accounts, "contacts": contacts, "usage_daily": usage}


def bench_portfolio(
    rng: np.random.Generator, n_accounts: int, as_of: date = AS_OF
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accounts (started 400 days before ``as_of``) and about ten users each.

    Split from the usage so other benchmarks (bench/backtest_bench.py) can draw usage for
    the same portfolio over a longer history, month by month.
    """
    ids = np.arange(1, n_accounts + 1)
    seats = rng.integers(5, 200, n_accounts)
    accounts = pd.DataFrame(
        {
            "id": ids,
            "source": "bench",
            "external_id": [f"b{i}" for i in ids],
            "name": [f"Bench Account {i}" for i in ids],
            "domain": [f"bench{i}.example" for i in ids],
            "tier": rng.choice(["enterprise", "mid-market", "smb"], n_accounts),
            "arr": seats * 600.0,
            "mrr": seats * 50.0,
            "licensed_seats": seats,
            "contract_start": as_of - timedelta(days=400),
            "renewal_date": [
                as_of + timedelta(days=int(d)) for d in rng.integers(1, 365, n_accounts)
            ],
            "lifecycle": "paid",
            "do_not_contact": False,
            "custom": "{}",
        }
    )
    # about ten users an account: 1M users, each with ~10 usage rows over the window
    users_per_account = np.maximum(1, (seats * rng.uniform(0.05, 0.15, n_accounts)).astype(int))
    user_account = np.repeat(ids, users_per_account)
    n_users = len(user_account)
    contacts = pd.DataFrame(
        {
            "id": np.arange(1, n_users + 1),
            "source": "bench",
            "external_id": [f"u{i}" for i in range(1, n_users + 1)],
            "account_id": user_account,
            "role": "member",
            "is_main_contact": False,
        }
    )
    return accounts, contacts


def bench_usage(
    rng: np.random.Generator,
    user_account: np.ndarray,
    n_rows: int,
    as_of: date = AS_OF,
    days: int = DAYS,
    *,
    python_dates: bool = True,
) -> pd.DataFrame:
    """``n_rows`` distinct (user, feature, day) rows over the ``days`` ending on ``as_of``.

    ``user_account[i]`` is the account of user id ``i + 1``. ``python_dates=False`` keeps
    ``day`` as datetime64 (the loader accepts both; millions of ``date`` objects are slow).
    """
    n_users = len(user_account)
    # one row per (user, feature, day): draw distinct keys by sampling a flat index space
    space = n_users * len(FEATURES) * days
    flat = np.unique(rng.integers(0, space, int(n_rows * 1.02)))[:n_rows]
    user_idx, rest = np.divmod(flat, len(FEATURES) * days)
    feature_idx, day_idx = np.divmod(rest, days)
    day = pd.Timestamp(as_of) - pd.to_timedelta(day_idx, unit="D")
    usage = pd.DataFrame(
        {
            "source": "bench",
            "account_id": user_account[user_idx],
            "user_id": user_idx + 1,
            "feature": FEATURES[feature_idx],
            "day": day.date if python_dates else day.to_numpy(dtype="datetime64[s]"),
            "events": rng.integers(1, 40, len(flat)),
            "minutes": rng.uniform(0.5, 60, len(flat)).round(1),
        }
    )
    # key order keeps the unique index's B-tree appends local: loading is not what we time
    return usage.sort_values(["account_id", "user_id", "feature", "day"], ignore_index=True)


def _load(url: str, frames: dict[str, pd.DataFrame]) -> float:
    started = time.perf_counter()
    upgrade(url)
    with session_scope(url) as session:
        for table, frame in frames.items():
            bulk_insert(session, table, frame)
    if get_engine(url).dialect.name == "postgresql":
        with get_engine(url).begin() as conn:
            conn.execute(text("ANALYZE"))
            for table in ("accounts", "contacts"):
                conn.execute(
                    text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
                )
    return time.perf_counter() - started


def _score_subprocess(url: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--score-only", url],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peak_rss_mb() -> float:
    """This process's own peak RSS. ru_maxrss would not do: on Linux it survives execve and
    so reports the (large) parent that forked us; VmHWM belongs to the new address space."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _score_only(url: str) -> None:
    from scoring.engine import run_scoring

    started = time.perf_counter()
    with session_factory(url)() as session:
        summary = run_scoring(session, PulseConfig(), AS_OF)
        session.commit()
    elapsed = time.perf_counter() - started
    peak_mb = _peak_rss_mb()
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb, "accounts": summary.accounts}))


@contextmanager
def scratch_database(
    backend: str, prefix: str = "pulse_bench", *, keep: bool = False
) -> Iterator[str]:
    """A throwaway database URL: a temp SQLite file, or a PostgreSQL database dropped after
    (unless ``keep``: then its URL is printed, to time it again with ``--url``)."""
    if backend == "sqlite":
        yield f"sqlite:///{tempfile.mkdtemp(prefix=prefix + '-')}/bench.db"
        return
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        get_engine(url).dispose()
        if keep:
            print(f"kept {url}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _run_backend(backend: str, frames: dict[str, pd.DataFrame]) -> dict[str, float | str]:
    with scratch_database(backend) as url:
        load_s = _load(url, frames)
        result = _score_subprocess(url)
    return {"backend": backend, "load_s": load_s, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--score-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.score_only:
        _score_only(args.score_only)
        return
    started = time.perf_counter()
    frames = _frames(args.accounts, args.rows)
    print(
        f"generated {len(frames['accounts']):,} accounts, {len(frames['contacts']):,} users, "
        f"{len(frames['usage_daily']):,} usage rows in {time.perf_counter() - started:.1f}s"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        r = _run_backend(backend, frames)
        verdict = "OK" if r["seconds"] < 30 and r["peak_mb"] < 4096 else "OVER TARGET"
        print(
            f"{backend:10s} load {r['load_s']:6.1f}s | scoring {r['seconds']:6.1f}s, "
            f"peak {r['peak_mb']:,.0f} MB, {r['accounts']:,} accounts scored | {verdict}"
        )


if __name__ == "__main__":
    main()
