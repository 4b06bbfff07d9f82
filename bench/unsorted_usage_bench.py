"""Existence-check benchmark: a usage file in no day order through the files connector on
SQLite, this tree against an older revision, alternating.

The loader compares each 500,000-row slice with the rows already stored. Until 2026-12 it
read every stored row of the slice's accounts between the slice's first and last day, so a
file in no day order re-read nearly the whole table for every slice; when that range
holds more than twice the slice's rows it now joins the slice's exact keys instead
(``storage.loader.stored``). This bench writes a usage Parquet file of ``--rows`` rows in
random order (each slice spans every day and most accounts; in day order with
``--by-day``), a SQLite database holding its accounts and users (not timed), then for
each round and each tree
(``--old-rev``, extracted with ``git archive``; this tree) times, each in a fresh
subprocess so its peak memory (``VmHWM``) is its own:

* first: ``pulse sync --source files`` into the empty usage table;
* again: the same file re-imported (``--full``; every row found unchanged).

    python bench/unsorted_usage_bench.py [--rows N] [--accounts N] [--rounds N] [--old-rev REV]
                                         [--by-day]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE_ENV = "PULSE_BENCH_TREE"
sys.path.insert(0, os.environ.get(TREE_ENV, str(ROOT)))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

OLD_REV = "dd71928"
"""main before the exact-key check (the day-range check over the slice's accounts)."""
END = date(2026, 6, 30)
DAYS = 60
FEATURES = np.array(["login", "search", "reports", "dashboards", "workflows", "api",
                     "alerts", "exports", "comments", "admin", "mobile", "integrations"])
USERS_PER_ACCOUNT = 10


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _template(path: Path, n_accounts: int) -> int:
    """A SQLite database with ``n_accounts`` accounts of USERS_PER_ACCOUNT users each."""
    from storage.db import get_engine, session_scope
    from storage.loader import bulk_insert
    from storage.migrate import upgrade

    url = f"sqlite:///{path}"
    upgrade(url)
    ids = np.arange(1, n_accounts + 1)
    users = np.arange(1, n_accounts * USERS_PER_ACCOUNT + 1)
    with session_scope(url) as session:
        bulk_insert(session, "accounts", pd.DataFrame({
            "id": ids, "source": "files", "external_id": [f"A{i}" for i in ids],
            "name": [f"Bench {i}" for i in ids], "lifecycle": "paid",
            "do_not_contact": False, "custom": "{}",
        }))
        bulk_insert(session, "contacts", pd.DataFrame({
            "id": users, "source": "files", "external_id": [f"U{i}" for i in users],
            "account_id": (users - 1) // USERS_PER_ACCOUNT + 1,
            "email": [f"u{i}@bench.example" for i in users], "role": "member",
            "is_main_contact": False,
        }))
    get_engine(url).dispose()  # closing the last connection folds the WAL into the file
    return len(users)


def _write_usage(path: Path, n_users: int, n_rows: int, seed: int, by_day: bool) -> int:
    """Distinct (user, feature, day) keys in random order (no slice keeps to a day range),
    or in day order when ``by_day``."""
    rng = np.random.default_rng(seed)
    space = n_users * len(FEATURES) * DAYS
    flat = rng.permutation(np.unique(rng.integers(0, space, int(n_rows * 1.02)))[:n_rows])
    user_idx, rest = np.divmod(flat, len(FEATURES) * DAYS)
    feature_idx, day_idx = np.divmod(rest, DAYS)
    if by_day:
        order = np.argsort(-day_idx, kind="stable")  # oldest day first
        user_idx, feature_idx, day_idx = user_idx[order], feature_idx[order], day_idx[order]
    days = np.array([END - timedelta(days=int(d)) for d in range(DAYS)], dtype="datetime64[D]")
    pq.write_table(pa.table({
        "account_external_id": np.char.add("A", (user_idx // USERS_PER_ACCOUNT + 1).astype(str)),
        "user_external_id": np.char.add("U", (user_idx + 1).astype(str)),
        "feature": FEATURES[feature_idx],
        "day": days[day_idx],
        "events": rng.integers(1, 40, len(flat)).astype(np.int32),
        "minutes": rng.uniform(0.5, 60, len(flat)).round(1),
    }), path)
    return len(flat)


def _sync(url: str, directory: str, full: bool) -> None:
    """The timed part, in its own process: FilesConnector -> run_sync (storage.loader)."""
    from connectors.files import FilesConnector
    from pulse.kernel.config import FilesSourceConfig, PulseConfig, SourcesConfig
    from pulse.services.sync import run_sync

    cfg = PulseConfig(database_url=url,
                      sources=SourcesConfig(files=FilesSourceConfig(path=directory)))
    started = time.perf_counter()
    report = run_sync(url, cfg, "files", full=full, connector=FilesConnector(cfg))
    usage = report.by_entity.get("usage")
    print(json.dumps({
        "seconds": time.perf_counter() - started, "peak_mb": _peak_rss_mb(),
        "status": report.status, "errors": report.errors,
        "counts": [usage.inserted, usage.updated, usage.unchanged] if usage else None,
    }))


def _timed(tree: Path, url: str, directory: Path, full: bool) -> dict[str, object]:
    command = [sys.executable, __file__, "--sync", url, str(directory)]
    if full:
        command.append("--full")
    env = {**os.environ, TREE_ENV: str(tree)}
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, env=env,
                         cwd=tree)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--old-rev", default=OLD_REV)
    parser.add_argument("--by-day", action="store_true",
                        help="write the file in day order (the case the old check handled)")
    parser.add_argument("--sync", nargs=2, metavar=("URL", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sync:
        _sync(args.sync[0], args.sync[1], args.full)
        return

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    work = Path(tempfile.mkdtemp(prefix="pulse-unsorted-bench-"))
    try:
        old = work / "old"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.old_rev],
                                 check=True, stdout=subprocess.PIPE).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        drop = work / "drop"
        drop.mkdir()
        template = work / "template.db"
        n_users = _template(template, args.accounts)
        rows = _write_usage(drop / "usage.parquet", n_users, args.rows, args.seed, args.by_day)
        order = "day order" if args.by_day else "random order"
        print(f"{args.accounts:,} accounts, {n_users:,} users, {rows:,} usage rows in {order} "
              f"(not timed)")
        for round_no in range(1, args.rounds + 1):
            for label, tree in ((f"old {args.old_rev}", old), ("new", ROOT)):
                db = work / "run.db"
                shutil.copyfile(template, db)
                url = f"sqlite:///{db}"
                for phase, full in (("first", False), ("again", True)):
                    r = _timed(tree, url, drop, full)
                    print(f"round {round_no} {label:>12} {phase:>5}: {r['seconds']:7.1f}s "
                          f"peak {r['peak_mb']:7,.0f} MB  usage inserted/updated/unchanged "
                          f"{r['counts']} ({r['status']}) {r['errors'] or ''}", flush=True)
                db.unlink()
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
