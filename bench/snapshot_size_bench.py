"""Snapshot size benchmark: bytes per account-day on PostgreSQL, the current layout against 0021's.

bench/score_bench.py's portfolio (100,000 accounts, about ten users each) with usage over
the 90 days up to 2026-06-30, plus tickets (priorities, satisfaction, sentiment), NPS and
CSAT responses and invoices (some overdue) for part of the accounts, so every component,
flag and reason has data to say something. The real scorer scores the last 30 days (or,
with ``--score-every N``, every Nth of them, each scored frame then written for its day
and the N-1 following ones: rows are packed one by one, so their size does not depend on
how alike consecutive days are, but the components' deltas against a keyframe do: measure
those with every day scored); each day's frame is written twice, alternating which goes
first: through the real snapshot writer (``scoring.engine.persist_snapshots``: the
components and reasons packed together as deltas against each account's weekly keyframe,
migration 0023) and into a table of the
layout migrations 0019-0021 left (every list packed alone) by that layout's writer (the
same COPY).
Sizes are ``pg_total_relation_size`` (heap, TOAST, indexes) after VACUUM, over the rows.
Target: at most 300 bytes per account-day.

    python bench/snapshot_size_bench.py [--accounts N] [--rows N] [--days N]
        [--score-every N] [--keep | --url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from score_bench import bench_portfolio, bench_usage, scratch_database  # noqa: E402

from pulse.kernel.config import PulseConfig  # noqa: E402
from storage.db import get_engine, session_factory, session_scope  # noqa: E402
from storage.loader import bulk_insert  # noqa: E402
from storage.loader.sql import postgres_connection  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

AS_OF = date(2026, 6, 30)
USAGE_DAYS = 90
TARGET_BYTES = 300
OLD_TABLE = "score_snapshots_v0021"
OLD_DDL = f"""
CREATE TABLE {OLD_TABLE} (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    as_of DATE NOT NULL,
    computed_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    score FLOAT NOT NULL,
    tier VARCHAR(20) NOT NULL,
    components BYTEA,
    expansion_score FLOAT NOT NULL,
    renewal_risk VARCHAR(10) NOT NULL,
    renewal_risk_score FLOAT NOT NULL,
    flags BYTEA,
    reasons BYTEA,
    CONSTRAINT pk_v0021 PRIMARY KEY (account_id, as_of)
);
CREATE INDEX ix_v0021_as_of ON {OLD_TABLE} (as_of);
"""
"""score_snapshots as migrations 0019-0021 made it: every list packed alone."""
OLD_COLUMNS = ("account_id", "as_of", "computed_at", "score", "tier", "components",
               "expansion_score", "renewal_risk", "renewal_risk_score", "flags", "reasons")


def _days_back(rng: np.random.Generator, n: int, most: int) -> pd.Series:
    return pd.Series(pd.to_timedelta(rng.integers(0, most, n), unit="D"))


def support_and_billing(rng: np.random.Generator, ids: np.ndarray) -> dict[str, pd.DataFrame]:
    """Tickets for 40% of the accounts, NPS for half, CSAT for a quarter, invoices for a
    third (one in eight of those overdue)."""
    end = pd.Timestamp(AS_OF)
    with_tickets = rng.choice(ids, len(ids) * 2 // 5, replace=False)
    per = rng.integers(1, 8, len(with_tickets))
    owner = np.repeat(with_tickets, per)
    n = len(owner)
    created = end - _days_back(rng, n, 150) + pd.to_timedelta(rng.integers(0, 86400, n), "s")
    solved = rng.random(n) < 0.8
    tickets = pd.DataFrame({
        "source": "bench", "external_id": [f"t{i}" for i in range(n)], "account_id": owner,
        "subject": "bench ticket",
        "priority": rng.choice(["low", "normal", "high", "urgent"], n, p=[0.3, 0.5, 0.15, 0.05]),
        "status": np.where(solved, "solved", "open"), "created_at": created,
        "solved_at": (created + pd.Timedelta(days=2)).where(solved),
        "satisfaction": rng.choice(["good", "bad", None], n, p=[0.3, 0.1, 0.6]),
        "sentiment": rng.choice(["positive", "neutral", "negative", None], n,
                                p=[0.2, 0.4, 0.1, 0.3]),
    })
    nps_ids = rng.choice(ids, len(ids) // 2, replace=False)
    csat_ids = rng.choice(ids, len(ids) // 4, replace=False)
    surveys = pd.concat([
        pd.DataFrame({"account_id": nps_ids, "kind": "nps",
                      "score": rng.integers(0, 11, len(nps_ids))}),
        pd.DataFrame({"account_id": np.repeat(csat_ids, 3), "kind": "csat",
                      "score": rng.integers(1, 6, 3 * len(csat_ids))}),
    ], ignore_index=True)
    surveys["responded_at"] = end - _days_back(rng, len(surveys), 200)
    surveys["source"] = "bench"
    surveys["external_id"] = [f"s{i}" for i in range(len(surveys))]
    billed = rng.choice(ids, len(ids) // 3, replace=False)
    due = end - _days_back(rng, len(billed), 120)
    overdue = rng.random(len(billed)) < 0.125
    invoices = pd.DataFrame({
        "source": "bench", "external_id": [f"i{i}" for i in range(len(billed))],
        "account_id": billed, "amount": rng.integers(5, 500, len(billed)) * 100.0,
        "currency": "usd", "status": np.where(overdue, "open", "paid"),
        "issued_on": (due - pd.Timedelta(days=30)).dt.date, "due_on": due.dt.date,
        "paid_on": due.dt.date.where(~overdue, None),
    })
    return {"tickets": tickets, "survey_responses": surveys, "invoices": invoices}


def load(url: str, n_accounts: int, n_rows: int) -> float:
    started = time.perf_counter()
    rng = np.random.default_rng(11)
    accounts, contacts = bench_portfolio(rng, n_accounts, AS_OF)
    usage = bench_usage(rng, contacts["account_id"].to_numpy(), n_rows, AS_OF, USAGE_DAYS,
                        python_dates=False)
    frames = {"accounts": accounts, "contacts": contacts, "usage_daily": usage,
              **support_and_billing(rng, accounts["id"].to_numpy())}
    upgrade(url)
    with session_scope(url) as session:
        for table, frame in frames.items():
            bulk_insert(session, table, frame)
        session.execute(text(OLD_DDL))
    with get_engine(url).begin() as conn:
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


OLD_COMPRESSION_LEVEL = 3
"""0021's zstd level."""


def _old_pack() -> Any:
    """0021's ``storage.snapshot_codec.pack``: stdlib JSON, zstd level 3 with dictionary v1."""
    import zstandard

    from storage.snapshot_codec import DICTIONARY_V1, ZSTD_V1

    params = zstandard.ZstdCompressionParameters.from_level(
        OLD_COMPRESSION_LEVEL, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_checksum=False,
        write_content_size=True, write_dict_id=False)
    compressor = zstandard.ZstdCompressor(
        dict_data=zstandard.ZstdCompressionDict(DICTIONARY_V1.read_bytes()),
        compression_params=params)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

    def pack(value: list[Any] | None) -> bytes | None:
        if not value:
            return None
        return bytes((ZSTD_V1,)) + compressor.compress(dumps(value).encode())

    return pack


def write_old(session: Session, scored: pd.DataFrame, as_of: date, computed_at: datetime) -> None:
    """0021's writer: every list packed alone by 0021's ``pack`` (stdlib JSON), streamed
    by COPY (storage/snapshot_copy.py)."""
    from psycopg.copy import QueuedLibpqWriter

    pack = _old_pack()
    rows = scored[scored["score"].notna()]
    n = len(rows)
    columns: list[Any] = [
        rows["account_id"].astype("int64").tolist(), [as_of] * n, [computed_at] * n,
        rows["score"].astype("float64").tolist(), rows["tier"].tolist(),
        map(pack, rows["components"].tolist()),
        rows["expansion_score"].astype("float64").tolist(), rows["renewal_risk"].tolist(),
        rows["renewal_risk_score"].astype("float64").tolist(),
        map(pack, rows["flags"].tolist()), map(pack, rows["reasons"].tolist()),
    ]
    with postgres_connection(session).cursor() as cur:
        sql = f"COPY {OLD_TABLE} ({', '.join(OLD_COLUMNS)}) FROM STDIN"
        with cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
            for record in zip(*columns, strict=True):
                copy.write_row(record)


def score_days(url: str, days: int, every: int = 1) -> dict[str, list[float]]:
    """Score every ``every``-th day and write each day both ways; the seconds each writer
    took per run."""
    from scoring.engine import persist_snapshots, score_accounts
    from scoring.freshness import annotate, freshness

    config = PulseConfig().model_copy(update={"database_url": url})
    times: dict[str, list[float]] = {"old": [], "new": [], "score": []}
    for k, day in enumerate(AS_OF - timedelta(days=back) for back in range(days - 1, -1, -1)):
        computed_at = datetime.combine(day, datetime.min.time()) + timedelta(hours=6)
        with session_factory(url)() as session:
            if k % every == 0:
                started = time.perf_counter()
                scored = score_accounts(session, config, day)
                scored = annotate(scored, freshness(session, config, computed_at))
                times["score"].append(time.perf_counter() - started)
            order = ("new", "old") if k % 2 == 0 else ("old", "new")
            for layout in order:
                started = time.perf_counter()
                if layout == "new":
                    persist_snapshots(session, scored, day, computed_at)
                else:
                    write_old(session, scored, day, computed_at)
                session.commit()
                times[layout].append(time.perf_counter() - started)
        scoring = f"scored {times['score'][-1]:.1f}s" if k % every == 0 else "same scores"
        print(f"  {day}: {scoring}, written new {times['new'][-1]:.2f}s"
              f", old {times['old'][-1]:.2f}s", flush=True)
    return times


def read_times(url: str, rounds: int = 3) -> dict[str, list[float]]:
    """Seconds to read and decode every account's components of the last day, alternated:
    through ``ScoreSnapshot.components`` (a delta read with its keyframe) and from the old
    table with 0021's decoding (stdlib JSON)."""
    import zstandard
    from sqlalchemy import select

    from storage.models import ScoreSnapshot
    from storage.snapshot_codec import DICTIONARY_V1

    old_decompressor = zstandard.ZstdDecompressor(
        dict_data=zstandard.ZstdCompressionDict(DICTIONARY_V1.read_bytes()),
        format=zstandard.FORMAT_ZSTD1_MAGICLESS)

    def old_unpack(stored: bytes | None) -> list[Any]:
        return json.loads(old_decompressor.decompress(stored[1:])) if stored else []

    times: dict[str, list[float]] = {"old": [], "new": []}
    with session_factory(url)() as session:
        for k in range(rounds):
            for layout in ("new", "old") if k % 2 == 0 else ("old", "new"):
                started = time.perf_counter()
                if layout == "new":
                    session.execute(select(ScoreSnapshot.components)
                                    .where(ScoreSnapshot.as_of == AS_OF)).all()
                else:
                    rows = session.execute(text(f"SELECT components FROM {OLD_TABLE} "
                                                "WHERE as_of = :d"), {"d": AS_OF}).scalars()
                    [old_unpack(r) for r in rows]
                times[layout].append(time.perf_counter() - started)
    return times


def sizes(url: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with get_engine(url).connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("score_snapshots", OLD_TABLE):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
        # the new layout's components column holds the reasons too (migration 0023)
        for label, table, reasons in (("new", "score_snapshots", "0"),
                                      ("old", OLD_TABLE, "pg_column_size(reasons)")):
            row = conn.execute(text(
                f"SELECT count(*), pg_total_relation_size('{table}'), "
                f"pg_relation_size('{table}'), pg_indexes_size('{table}'), "
                f"avg(pg_column_size(components)), avg(coalesce(pg_column_size(flags), 0)), "
                f"avg(coalesce({reasons}, 0)) FROM {table}"
            )).one()
            rows = int(row[0])
            out[label] = {"rows": rows, "total": row[1] / rows, "heap": row[2] / rows,
                          "indexes": row[3] / rows, "components": float(row[4]),
                          "flags": float(row[5]), "reasons": float(row[6])}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=6_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--score-every", type=int, default=1, metavar="N")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--url", help="a database this bench loaded and kept: its snapshots "
                        "are emptied and written again")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    if args.url:
        with get_engine(args.url).begin() as conn:
            conn.execute(text(f"TRUNCATE score_snapshots, {OLD_TABLE}"))
        times = score_days(args.url, args.days, args.score_every)
        measured = sizes(args.url)
        reads = read_times(args.url)
    else:
        with scratch_database("postgresql", "snapbytes_bench", keep=args.keep) as url:
            load_s = load(url, args.accounts, args.rows)
            print(f"loaded {args.accounts:,} accounts, {args.rows:,} usage rows in "
                  f"{load_s:.1f}s")
            times = score_days(url, args.days, args.score_every)
            measured = sizes(url)
            reads = read_times(url)
    for layout in ("old", "new"):
        m, t = measured[layout], times[layout]
        print(
            f"{layout} layout: {m['rows']:,.0f} rows, {m['total']:,.0f} B per account-day "
            f"(heap+TOAST {m['total'] - m['indexes']:,.0f}, indexes {m['indexes']:,.0f}; "
            f"components {m['components']:,.0f} (new: with the reasons), flags "
            f"{m['flags']:,.0f}, reasons {m['reasons']:,.0f}); "
            f"write per run median {statistics.median(t):.2f}s "
            f"(min {min(t):.2f}, max {max(t):.2f}, total {sum(t):.1f}s)"
        )
    for layout in ("old", "new"):
        print(f"{layout} layout: the last day's components read and decoded in median "
              f"{statistics.median(reads[layout]):.2f}s ({len(reads[layout])} rounds)")
    print(f"scoring per run (not a write) median {statistics.median(times['score']):.1f}s")
    new = measured["new"]["total"]
    verdict = "OK" if new <= TARGET_BYTES else "OVER TARGET"
    print(f"new layout {new:,.0f} B per account-day, {measured['old']['total'] / new:.1f}x "
          f"smaller than the old; target <= {TARGET_BYTES} B: {verdict}")


if __name__ == "__main__":
    main()
