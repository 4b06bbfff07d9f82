"""How storage/snapshot_dictionary_v1.zstd was made (kept for the record: never rerun over it).

A stored snapshot's components, flags and reasons are compressed with a zstd dictionary
(:mod:`storage.snapshot_codec`). The dictionary was trained once on the snapshots of the
sample workspace (`pulse demo`, 943 accounts scored on two dates). Rows written with it
can only be read with the very same bytes, so a better dictionary is a new file with the
next version number, never an edit of this one.

    DATABASE_URL=sqlite:////tmp/demo.db pulse demo
    python bench/train_snapshot_dictionary.py /tmp/demo.db storage/snapshot_dictionary_v2.zstd
"""

from __future__ import annotations

import json
import sqlite3
import sys

import zstandard

DICTIONARY_BYTES = 32_768
"""Size of the trained dictionary (bigger stopped paying: 65,536 saved 1-2 bytes a row)."""


def main(database: str, out: str) -> None:
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT components, flags, reasons FROM score_snapshots").fetchall()
    samples = [
        json.dumps(json.loads(value), separators=(",", ":"), ensure_ascii=False).encode()
        for row in rows
        for value in row
        if value not in (None, "[]")
    ]
    trained = zstandard.train_dictionary(DICTIONARY_BYTES, samples, level=19)
    with open(out, "wb") as fh:
        fh.write(trained.as_bytes())
    print(f"{len(samples):,} samples -> {len(trained.as_bytes()):,} bytes in {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
