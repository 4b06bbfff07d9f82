"""Usage engines benchmark: `pulse score` on PostgreSQL, on SQLite and on DuckDB over
Parquet, alternating in one run on the same data, against the floor: a bare DuckDB
computing the same per-account aggregation from the same rows exported to Parquet.

The portfolio and usage come from bench/score_bench.py's generators. Each variant's
database is loaded once (not timed): PostgreSQL and SQLite with every usage row; for
the DuckDB engine a Pulse database (PostgreSQL, and SQLite) holding accounts and contacts
only, the usage written once to ``usage.parquet`` with users by external id, as a files
drop holds them (``scoring.usage: {engine: duckdb, path: .../usage.parquet}``).

Every timed run is a fresh subprocess. A scoring run is ``run_scoring`` as `pulse score`
calls it (aggregation, pandas scoring, snapshots written), timed inside the process. Each
database is first scored, untimed, on the day before, so that every timed run is a daily
run as a workspace scored every day makes it: its explanations written as deltas against
that day's keyframes (:mod:`storage.snapshot_keyframes`); ``--first-run`` leaves the day
before unscored, so every explanation is a keyframe, as in a workspace's first run. The
floor is the builder's whole per-account statement (usage and contact facts, the
portable phrasing) compiled for DuckDB and run on a new DuckDB connection over
``usage_daily.parquet`` and ``contacts.parquet``, the result fetched as a frame.

    python bench/engine_bench.py [--accounts N] [--rows N] [--rounds N] [--first-run]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from score_bench import (  # noqa: E402
    AS_OF,
    _frames,
    _load,
    _peak_rss_mb,
    scratch_database,
)

from pulse.kernel.config import PulseConfig, UsageEngineConfig  # noqa: E402
from storage.db import session_factory  # noqa: E402

USER_SOURCE = "bench"
"""The source of the bench's contacts, whose external ids (u1, u2 ...) the Parquet holds."""


def _write_parquet(frames: dict[str, pd.DataFrame], where: Path) -> None:
    """usage.parquet as a files drop holds it (users by external id), and the floor's
    usage_daily.parquet and contacts.parquet (Pulse's ids, every contact column)."""
    usage = frames["usage_daily"]
    day = pa.array(pd.to_datetime(usage["day"]).to_numpy(dtype="datetime64[D]"))
    user_ext = pa.compute.binary_join_element_wise(
        "u", pa.array(usage["user_id"].to_numpy()).cast(pa.string()), ""
    )
    drop = pa.table({
        "user_external_id": user_ext,
        "feature": pa.array(usage["feature"].to_numpy(dtype=object)),
        "day": day,
        "events": pa.array(usage["events"].to_numpy()),
    })
    pq.write_table(drop, where / "usage.parquet")
    pulse_ids = pa.table({
        "account_id": pa.array(usage["account_id"].to_numpy()),
        "user_id": pa.array(usage["user_id"].to_numpy()),
        "feature": drop["feature"],
        "day": day,
        "events": drop["events"],
    })
    pq.write_table(pulse_ids, where / "usage_daily.parquet")
    contacts = frames["contacts"].copy()
    for col, kind in (("email", "str"), ("name", "str"), ("department", "str"),
                      ("created_on", "datetime64[s]"), ("last_seen_at", "datetime64[s]"),
                      ("deactivated_at", "datetime64[s]")):
        if col not in contacts.columns:
            contacts[col] = pd.Series([None] * len(contacts), dtype=object if kind == "str"
                                      else kind)
    contacts.to_parquet(where / "contacts.parquet", index=False)


def _floor(where: str) -> None:
    """The bare DuckDB aggregation (subprocess body); prints its seconds as JSON."""
    from sqlalchemy import create_engine

    from pulse.kernel.config import ScoringConfig
    from scoring.signals.activity import activity_stmt
    from scoring.signals.windows import Windows

    cfg = ScoringConfig()
    catalogue = tuple(sorted(pq.read_table(f"{where}/usage.parquet", columns=["feature"])
                             .column("feature").unique().to_pylist()))
    stmt = activity_stmt(Windows.build(AS_OF, cfg), cfg, catalogue, "duckdb")
    started = time.perf_counter()
    engine = create_engine("duckdb:///:memory:")
    with engine.connect() as con:
        for view, file in (("usage_daily", "usage_daily.parquet"),
                           ("contacts", "contacts.parquet")):
            con.exec_driver_sql(
                f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{where}/{file}')"
            )
        rows = con.execute(stmt).all()
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "peak_mb": _peak_rss_mb(), "accounts": len(rows)}))


def _score(url: str, usage: dict[str, Any] | None, as_of: date = AS_OF) -> None:
    """One `pulse score` run (subprocess body); prints seconds, memory and timings."""
    from scoring.engine import run_scoring

    config = PulseConfig()
    if usage:
        scoring = config.scoring.model_copy(update={"usage": UsageEngineConfig(**usage)})
        config = config.model_copy(update={"scoring": scoring})
    started = time.perf_counter()
    with session_factory(url)() as session:
        summary = run_scoring(session, config, as_of)
        session.commit()
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "peak_mb": _peak_rss_mb(),
                      "accounts": summary.accounts, "timings": summary.timings}))


def _run(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _variants(stack: ExitStack, frames: dict[str, pd.DataFrame], where: Path,
              backends: list[str], daily: bool) -> dict[str, list[str]]:
    """Load every variant's database (scored on the day before when ``daily``); the
    command line of each timed run."""
    no_usage = {k: v for k, v in frames.items() if k != "usage_daily"}
    usage = json.dumps({"engine": "duckdb", "path": str(where / "usage.parquet"),
                        "user_source": USER_SOURCE})
    variants: dict[str, list[str]] = {"duckdb floor": ["--floor", str(where)]}
    for backend in backends:
        full = stack.enter_context(scratch_database(backend, "pulse_engine"))
        bare = stack.enter_context(scratch_database(backend, "pulse_engine_bare"))
        t_full, t_bare = _load(full, frames), _load(bare, no_usage)
        print(f"loaded {backend}: {t_full:.1f}s with usage, {t_bare:.1f}s without (not timed)")
        variants[f"pulse score, {backend}"] = ["--score-only", full]
        variants[f"pulse score, duckdb/parquet (pulse db {backend})"] = [
            "--score-only", bare, "--usage", usage]
    if daily:
        for name, command in variants.items():
            if name != "duckdb floor":
                _run([*command, "--as-of", (AS_OF - timedelta(days=1)).isoformat()])
        print(f"scored {AS_OF - timedelta(days=1)} in every database (not timed)")
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--floor", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--score-only", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--usage", metavar="JSON", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    parser.add_argument("--first-run", action="store_true",
                        help="time first runs (every explanation a keyframe), not daily runs")
    args = parser.parse_args()
    if args.floor:
        _floor(args.floor)
        return
    if args.score_only:
        _score(args.score_only, json.loads(args.usage) if args.usage else None,
               date.fromisoformat(args.as_of) if args.as_of else AS_OF)
        return
    started = time.perf_counter()
    frames = _frames(args.accounts, args.rows)
    print(f"generated {len(frames['accounts']):,} accounts, {len(frames['contacts']):,} users, "
          f"{len(frames['usage_daily']):,} usage rows in {time.perf_counter() - started:.1f}s")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    with ExitStack() as stack:
        where = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pulse-engine-")))
        _write_parquet(frames, where)
        variants = _variants(stack, frames, where, args.backends.split(","),
                             daily=not args.first_run)
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        for round_no in range(1, args.rounds + 1):
            for name, command in variants.items():
                r = _run(command)
                seconds[name].append(r["seconds"])
                parts = ", ".join(f"{k} {v:.2f}" for k, v in r.get("timings", {}).items()
                                  if v >= 0.05)
                print(f"round {round_no} {name:50s} {r['seconds']:6.2f}s "
                      f"peak {r['peak_mb']:,.0f} MB, {r['accounts']:,} accounts"
                      + (f" ({parts})" if parts else ""))
    floor = statistics.median(seconds["duckdb floor"])
    print(f"\nmedian of {args.rounds} rounds (ratio to the floor, {floor:.2f}s):")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"  {name:50s} {median:6.2f}s  {median / floor:5.1f}x  "
              f"(runs: {', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
