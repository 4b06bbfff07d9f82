"""Explanations stored column-wise (issue 20's next step), against the per-row packing of
today, on the same scored accounts.

A scoring run stores each account's explanation (its component entries and reasons) as a
row of its own: JSON packed with zstd, a delta against the account's weekly keyframe
(:mod:`storage.snapshot_keyframes`). Writing them is per-account Python (the JSON, a
compressor built around each keyframe) and most of what keeps `pulse score` above 3x its
DuckDB floor (docs/performance.md, "daily runs, the collector paused"). The alternative
measured here: the figures of a date's explanations (each component's value, weight and
points, its raw figures) as the columns of one Parquet file per date, written by pyarrow
in one call, the sentences built when read.

The accounts are scored once (not timed) on a SQLite database loaded with
bench/score_bench.py's generators. Then, alternating in each round:

* ``rows, keyframes``: every explanation packed alone (a first run; JSON + zstd level 7
  with dictionary v1), as :func:`~storage.snapshot_keyframes.pack_explanations` does;
* ``rows, deltas``: every explanation packed against a keyframe of the day before (the
  same explanation with every figure 1% lower), as a daily run does;
* ``columns, row groups of N``: the same figures as one Parquet file (zstd), N accounts a
  row group, and the time to read one account's figures back from it.

The flattening of the entries into columns is not timed (a column-wise writer would hold
the columns already). Bytes are per account-day, before the database's own overhead.

    python bench/explanation_columns_bench.py [--accounts N] [--rows N] [--rounds N]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from score_bench import AS_OF, _frames, _load  # noqa: E402

from pulse.kernel.config import PulseConfig  # noqa: E402
from scoring.engine import score_accounts  # noqa: E402
from storage.db import session_factory  # noqa: E402
from storage.snapshot_codec import pack, pack_against, reference_text  # noqa: E402

ROW_GROUPS = (1_000, 5_000)
"""Accounts a Parquet row group holds: reading one account decodes its whole group."""
DAY_BEFORE_FACTOR = 0.99
"""The keyframe of a delta: the same explanation with every figure this much of today's."""


def _scored(n_accounts: int, n_rows: int) -> pd.DataFrame:
    url = f"sqlite:///{tempfile.mkdtemp(prefix='pulse-columns-')}/bench.db"
    _load(url, _frames(n_accounts, n_rows))
    with session_factory(url)() as session:
        return score_accounts(session, PulseConfig(), AS_OF)


def _columns(scored: pd.DataFrame) -> pd.DataFrame:
    """Each account's figures flattened into columns ``<component>.<figure>``."""
    rows = []
    for account_id, entries in zip(scored["account_id"], scored["components"], strict=True):
        row: dict[str, Any] = {"account_id": account_id}
        for e in entries:
            key = e["key"]
            for name in ("effective_weight", "value", "points"):
                row[f"{key}.{name}"] = e[name]
            for name, value in e["raw"].items():
                row[f"{key}.raw.{name}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


def _older(value: Any) -> Any:
    """A figure of the day before (strings, flags and missing values unchanged)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return round(value * DAY_BEFORE_FACTOR, 3)


def _day_before(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**e, "value": _older(e["value"]), "points": _older(e["points"]),
         "raw": {k: _older(v) for k, v in e["raw"].items()}}
        for e in entries
    ]


def _rows_keyframes(explanations: list[list[Any]]) -> int:
    return sum(len(pack(value) or b"") for value in explanations)


def _rows_deltas(explanations: list[list[Any]], keyframes: list[bytes]) -> int:
    return sum(
        len(pack_against(value, reference_text(keyframe)) or b"")
        for value, keyframe in zip(explanations, keyframes, strict=True)
    )


def _parquet(columns: pd.DataFrame, row_group: int) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(columns, preserve_index=False), out,
                   compression="zstd", row_group_size=row_group)
    return out.getvalue()


def _read_one(data: bytes, position: int, row_group: int) -> dict[str, Any]:
    table = pq.ParquetFile(io.BytesIO(data)).read_row_group(position // row_group)
    row: dict[str, Any] = table.slice(position % row_group, 1).to_pylist()[0]
    return row


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    scored = _scored(args.accounts, args.rows)
    scored = scored[scored["score"].notna()].reset_index(drop=True)
    n = len(scored)
    explanations = [[list(c), list(r)] for c, r in
                    zip(scored["components"], scored["reasons"], strict=True)]
    keyframes = [pack([_day_before(c), list(r)]) or b"" for c, r in
                 zip(scored["components"], scored["reasons"], strict=True)]
    columns = _columns(scored)
    print(f"{n:,} accounts scored (not timed); {len(columns.columns) - 1} figures a row")
    variants: dict[str, Callable[[], int]] = {
        "rows, keyframes": lambda: _rows_keyframes(explanations),
        "rows, deltas": lambda: _rows_deltas(explanations, keyframes),
        **{f"columns, row groups of {g:,}": (lambda g=g: len(_parquet(columns, g)))
           for g in ROW_GROUPS},
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    sizes: dict[str, int] = {}
    for round_no in range(1, args.rounds + 1):
        for name, write in variants.items():
            elapsed, size = _timed(write)
            seconds[name].append(elapsed)
            sizes[name] = size
            print(f"round {round_no} {name:28s} {elapsed:6.3f}s  {size / n:6.0f} B an account")
    print(f"\nmedian of {args.rounds} rounds, {n:,} accounts:")
    for name, values in seconds.items():
        print(f"  {name:28s} write {statistics.median(values):6.3f}s  "
              f"{sizes[name] / n:6.0f} B an account-day")
    for group in ROW_GROUPS:
        data = _parquet(columns, group)
        reads = [_timed(lambda p=p, d=data, g=group: _read_one(d, p, g))[0]
                 for p in range(0, n, max(1, n // 20))]
        print(f"  one account read back, row groups of {group:,}: "
              f"median {statistics.median(reads) * 1000:.1f} ms, max {max(reads) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
