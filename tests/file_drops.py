"""Import-file drops for the ``files`` connector tests: the fixture directories and pulling
them into batches (no database)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from connectors.files import FilesConnector
from pulse.kernel.config import parse_config
from pulse.kernel.records import Batch

FIXTURES = Path(__file__).parent / "fixtures" / "files"
VALID = FIXTURES / "valid"
BROKEN = FIXTURES / "broken"


def pull(path: Path, cursor: str | None = None, *, full: bool = False,
         **kwargs: Any) -> tuple[list[Batch], FilesConnector]:
    connector = FilesConnector(parse_config({}), path=path, **kwargs)
    return list(connector.pull(cursor, full=full)), connector


def by_entity(batches: list[Batch]) -> dict[str, Batch]:
    """One batch per entity (the fixtures are far below the chunk size)."""
    out: dict[str, Batch] = {}
    for batch in batches:
        assert batch.entity not in out, f"{batch.entity} split unexpectedly"
        out[batch.entity] = batch
    return out


def records(batch: Batch) -> list[dict[str, Any]]:
    if isinstance(batch.records, pd.DataFrame):
        return batch.records.to_dict("records")
    return batch.records


def rejections(batches: list[Batch]) -> set[tuple[str, str]]:
    return {(r.where, r.reason) for b in batches for r in b.rejected}


def copy_valid(tmp_path: Path) -> Path:
    target = tmp_path / "drop"
    shutil.copytree(VALID, target)
    return target
