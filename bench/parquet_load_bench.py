"""Bulk-load benchmark: a 10-million-row usage Parquet file through the files connector.

Creates a fresh PostgreSQL database (dropped at the end), bulk-inserts the accounts and
users the usage rows refer to (source ``files``, not timed), writes ``usage.parquet`` with
numpy/pyarrow, then times the real path a ``pulse sync --source files`` takes: the files
connector's chunked validation and ``storage.loader`` (reference resolution, upsert check,
COPY), in a fresh subprocess so its peak memory (``VmHWM``) is its own.
Target: above 200,000 rows/s.

A first load into an empty table runs without the table's indexes and builds them at the
end (``storage.bulk``); ``--not-empty`` stores one usage row first, so the timed load takes
the path of a table that already holds usage (indexes kept, existence check per slice).

    python bench/parquet_load_bench.py [--rows N] [--accounts N] [--not-empty] [--profile]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage.bulk import missing_usage_indexes  # noqa: E402
from storage.db import get_engine, session_scope  # noqa: E402
from storage.loader import bulk_insert  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

END = date(2026, 6, 30)
DAYS = 60
FEATURES = np.array(
    ["login", "search", "reports", "dashboards", "workflows", "integrations", "api",
     "alerts", "exports", "comments", "admin", "mobile"]
)
PG_ADMIN = os.environ.get("PULSE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
WRITE_ROWS = 1_000_000  # Parquet row groups written at a time (bounded generator memory)


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _people(n_accounts: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n_accounts + 1)
    seats = rng.integers(5, 200, n_accounts)
    accounts = pd.DataFrame({
        "id": ids,
        "source": "files",
        "external_id": [f"A{i}" for i in ids],
        "name": [f"Load Bench {i}" for i in ids],
        "domain": [f"load{i}.example" for i in ids],
        "licensed_seats": seats,
        "lifecycle": "paid",
        "do_not_contact": False,
        "custom": "{}",
    })
    per_account = np.maximum(1, (seats * rng.uniform(0.05, 0.15, n_accounts)).astype(int))
    user_account = np.repeat(ids, per_account)
    n_users = len(user_account)
    contacts = pd.DataFrame({
        "id": np.arange(1, n_users + 1),
        "source": "files",
        "external_id": [f"U{i}" for i in range(1, n_users + 1)],
        "account_id": user_account,
        "email": [f"u{i}@load.example" for i in range(1, n_users + 1)],
        "role": "member",
        "is_main_contact": False,
    })
    return accounts, contacts, user_account


def _write_parquet(path: Path, user_account: np.ndarray, n_rows: int, seed: int) -> int:
    """Distinct (user, feature, day) keys, in user order like a warehouse export."""
    rng = np.random.default_rng(seed + 1)
    n_users = len(user_account)
    space = n_users * len(FEATURES) * DAYS
    flat = np.unique(rng.integers(0, space, int(n_rows * 1.02)))[:n_rows]
    schema = pa.schema([
        ("account_external_id", pa.string()), ("user_external_id", pa.string()),
        ("feature", pa.string()), ("day", pa.date32()), ("events", pa.int32()),
        ("minutes", pa.float64()),
    ])
    days = np.array([END - timedelta(days=int(d)) for d in range(DAYS)], dtype="datetime64[D]")
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, len(flat), WRITE_ROWS):
            part = flat[start : start + WRITE_ROWS]
            user_idx, rest = np.divmod(part, len(FEATURES) * DAYS)
            feature_idx, day_idx = np.divmod(rest, DAYS)
            n = len(part)
            table = pa.table({
                "account_external_id": np.char.add("A", user_account[user_idx].astype(str)),
                "user_external_id": np.char.add("U", (user_idx + 1).astype(str)),
                "feature": FEATURES[feature_idx],
                "day": days[day_idx],
                "events": rng.integers(1, 40, n).astype(np.int32),
                "minutes": rng.uniform(0.5, 60, n).round(1),
            }, schema=schema)
            writer.write_table(table)
    return len(flat)


def _load_only(url: str, directory: str, profile: bool) -> None:
    """The timed part: FilesConnector -> run_sync (storage.loader), one process."""
    from connectors.files import FilesConnector
    from pulse.kernel.config import FilesSourceConfig, PulseConfig, SourcesConfig
    from pulse.services.sync import run_sync

    built: list[float] = []

    class _IndexBuild(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.msg.startswith("usage indexes built"):
                built.append(float(record.args[0]))  # type: ignore[index]

    sync_log = logging.getLogger("pulse.services.sync")
    sync_log.setLevel(logging.INFO)
    sync_log.addHandler(_IndexBuild())
    cfg = PulseConfig(database_url=url, sources=SourcesConfig(files=FilesSourceConfig(
        path=directory)))
    connector = FilesConnector(cfg)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    report = run_sync(url, cfg, "files", connector=connector)
    elapsed = time.perf_counter() - started
    if profiler is not None:
        import pstats

        profiler.disable()
        order = os.environ.get("PROFILE_SORT", "cumulative")
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(order).print_stats(35)
    print(json.dumps({
        "seconds": elapsed,
        "peak_mb": _peak_rss_mb(),
        "status": report.status,
        "fetched": report.totals.fetched,
        "inserted": report.totals.inserted,
        "skipped": len(report.skipped),
        "errors": report.errors,
        "index_build_s": sum(built) if built else None,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--not-empty", action="store_true",
                        help="store one usage row first (the load keeps the indexes)")
    parser.add_argument("--profile", action="store_true", help="cProfile the load (stderr).")
    parser.add_argument("--load-only", nargs=2, metavar=("URL", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_only:
        _load_only(args.load_only[0], args.load_only[1], args.profile)
        return

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    name = f"pulse_loadbench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    workdir = tempfile.mkdtemp(prefix="pulse-loadbench-")
    try:
        started = time.perf_counter()
        accounts, contacts, user_account = _people(args.accounts, args.seed)
        upgrade(url)
        with session_scope(url) as session:
            bulk_insert(session, "accounts", accounts)
            bulk_insert(session, "contacts", contacts)
        with get_engine(url).begin() as conn:
            for table in ("accounts", "contacts"):
                conn.execute(
                    text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
                )
            if args.not_empty:  # a day before the file's range: no key in common
                conn.execute(text(
                    "INSERT INTO usage_daily (account_id, day, user_id, feature, source, "
                    "events, minutes) SELECT c.account_id, DATE '2000-01-01', c.id, 'login', "
                    "'files', 1, 1.0 FROM contacts c ORDER BY c.id LIMIT 1"))
            conn.execute(text("ANALYZE"))
        path = Path(workdir) / "usage.parquet"
        rows = _write_parquet(path, user_account, args.rows, args.seed)
        del accounts, contacts, user_account
        print(f"prepared {args.accounts:,} accounts, {rows:,} usage rows "
              f"({path.stat().st_size / 1e6:,.0f} MB Parquet) in "
              f"{time.perf_counter() - started:.1f}s (not timed)")
        command = [sys.executable, __file__, "--load-only", url, workdir]
        if args.profile:
            command.append("--profile")
        out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rate = r["inserted"] / r["seconds"] if r["seconds"] else 0.0
        verdict = "OK" if rate > 200_000 else "UNDER TARGET"
        print(f"postgresql load {r['seconds']:.1f}s: {r['inserted']:,} of {r['fetched']:,} rows "
              f"inserted ({r['status']}, {r['skipped']} skipped) = {rate:,.0f} rows/s, "
              f"peak {r['peak_mb']:,.0f} MB | {verdict}")
        if r["index_build_s"] is not None:
            print(f"  of which building the primary key and BRIN index: "
                  f"{r['index_build_s']:.1f}s")
        with get_engine(url).connect() as conn:
            missing = missing_usage_indexes(conn)
        state = f"missing {', '.join(missing)}" if missing else "all present"
        print(f"  usage indexes afterwards: {state}")
        for error in r["errors"]:
            print(f"  error: {error}")
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        for p in Path(workdir).iterdir():
            p.unlink()
        Path(workdir).rmdir()


if __name__ == "__main__":
    main()
