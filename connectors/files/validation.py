"""Checking a file's header and each chunk of its rows: every row is either kept whole or
rejected with all its reasons, duplicates included (across chunks too)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectors.files.parsing import (
    frame_column,
    parse_column,
    parse_typed_column,
    python_values,
    show_value,
)
from connectors.files.sources import FileError, RawChunk
from connectors.files.specs import CUSTOM_PREFIX, SCORE_RANGES, FileSpec
from pulse.kernel.records import Rejection


@dataclass
class ColumnPlan:
    """Which file column feeds which field; decided once per file from its header."""

    fields: dict[str, int]
    custom: dict[str, int]
    unknown: list[str]


def plan_columns(spec: FileSpec, header: Sequence[str]) -> ColumnPlan:
    """Match the header to the spec's fields (case-insensitively) and ``custom.`` columns;
    a duplicate or a missing required column makes the whole file unusable."""
    known = spec.by_name
    fields: dict[str, int] = {}
    custom: dict[str, int] = {}
    unknown: list[str] = []
    dupes: list[str] = []
    for pos, raw in enumerate(header):
        name = raw.strip()
        low = name.lower()
        if low in known:
            if low in fields:
                dupes.append(low)
            fields[low] = pos
        elif spec.custom and low.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
            key = name[len(CUSTOM_PREFIX):].strip()
            if key in custom:
                dupes.append(name)
            custom[key] = pos
        else:
            unknown.append(name or f"(unnamed column {pos + 1})")
    if dupes:
        raise FileError(f"duplicate column(s): {', '.join(dict.fromkeys(dupes))}")
    missing = [f for f in spec.required if f not in fields]
    if missing:
        raise FileError(f"missing required column(s): {', '.join(missing)}")
    return ColumnPlan(fields, custom, unknown)


class SeenKeys:
    """Keys already seen in this file (hashed), so duplicates are caught across chunks too.

    16 bytes per distinct row instead of the row itself: a multi-million-row usage file
    stays cheap while "first on line N" can still be named. Kept as sorted runs merged
    like a binary counter (run sizes roughly double), so adding a chunk never copies the
    whole history and a lookup searches only a logarithmic number of runs.
    """

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, their lines)

    def _prior(self, hashes: np.ndarray) -> np.ndarray:
        prior = np.zeros(len(hashes), dtype=np.int64)
        if not self.runs:
            return prior
        order = np.argsort(hashes)  # sorted probes walk each run in order: cache-friendly
        probes = hashes[order]
        found_lines = np.zeros(len(hashes), dtype=np.int64)
        for run_h, run_l in self.runs:
            idx = np.minimum(np.searchsorted(run_h, probes), len(run_h) - 1)
            found = (run_h[idx] == probes) & (found_lines == 0)
            found_lines[found] = run_l[idx[found]]
        prior[order] = found_lines
        return prior

    def _add(self, hashes: np.ndarray, lines: np.ndarray) -> None:
        order = np.argsort(hashes, kind="stable")
        run = (hashes[order], lines[order])
        while self.runs and len(self.runs[-1][0]) <= len(run[0]):
            last = self.runs.pop()
            both_h = np.concatenate([last[0], run[0]])
            both_l = np.concatenate([last[1], run[1]])
            order = np.argsort(both_h, kind="stable")
            run = (both_h[order], both_l[order])
        self.runs.append(run)

    def first_lines(self, hashes: np.ndarray, lines: np.ndarray) -> np.ndarray:
        """For each row, the line of the first row with its key (its own line if new)."""
        n = len(hashes)
        if n == 0:
            return lines.copy()
        in_chunk = pd.Series(lines).groupby(hashes, sort=False).transform("min").to_numpy()
        prior = self._prior(hashes)
        first = np.where(prior > 0, prior, in_chunk)
        new = (prior == 0) & (first == lines)
        if new.any():
            self._add(hashes[new], lines[new])
        return first


Flag = Callable[[np.ndarray, Callable[[int], str]], None]
"""Add a reason (made from the row's index) to every row of a mask."""


def validate_chunk(spec: FileSpec, plan: ColumnPlan, chunk: RawChunk, seen: SeenKeys, file: str,
                   unit: str) -> tuple[list[dict[str, Any]] | pd.DataFrame, list[Rejection]]:
    """Check one chunk; every row is either kept whole or rejected with all its reasons."""
    reasons: dict[int, list[str]] = {i: [e] for i, e in chunk.row_errors.items()}

    def flag(mask: np.ndarray, message: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask):
            reasons.setdefault(int(i), []).append(message(int(i)))

    values, usable = _parse_fields(spec, plan, chunk, flag)
    _cross_checks(spec, values, usable, flag)
    if all(k in values for k in spec.key):
        _flag_duplicates(spec, values, usable, chunk, seen, unit, reasons)

    keep = np.ones(len(chunk), dtype=bool)
    if reasons:
        keep[list(reasons)] = False
    rejected = [Rejection(f"{file}:{chunk.lines[i]}", "; ".join(reasons[i]))
                for i in sorted(reasons)]
    return _kept_records(spec, plan, chunk, values, np.flatnonzero(keep), file), rejected


def _parse_fields(spec: FileSpec, plan: ColumnPlan, chunk: RawChunk,
                  flag: Flag) -> tuple[dict[str, pd.Series], dict[str, np.ndarray]]:
    """Each present field's parsed values, and where they are present and valid (for
    cross-field and key checks); empty required cells and bad values are flagged."""
    values: dict[str, pd.Series] = {}
    usable: dict[str, np.ndarray] = {}
    for f in spec.fields:
        if f.name not in plan.fields:
            continue
        pos = plan.fields[f.name]
        if pos in chunk.typed:
            raw, empty = chunk.typed[pos]
            parsed, problems = parse_typed_column(f, raw, empty)
        else:
            raw = chunk.columns[pos].str.strip()
            empty = (raw == "").to_numpy(bool)
            parsed, problems = parse_column(f, raw, empty)
        if f.required:
            flag(empty, _constant(f"{f.name} is empty (required)"))
        for mask, message in problems:
            if mask.any():
                flag(mask, _about_cell(message, raw))
        values[f.name] = parsed
        usable[f.name] = parsed.notna().to_numpy(bool)
    return values, usable


def _flag_duplicates(spec: FileSpec, values: dict[str, pd.Series], usable: dict[str, np.ndarray],
                     chunk: RawChunk, seen: SeenKeys, unit: str,
                     reasons: dict[int, list[str]]) -> None:
    """Rows whose key an earlier row (of this chunk or an earlier one) already had."""
    eligible = np.logical_and.reduce([usable[k] for k in spec.key])
    rows = np.flatnonzero(eligible)
    keyframe = pd.DataFrame({k: values[k].iloc[rows].reset_index(drop=True)
                             for k in spec.key})
    hashes = pd.util.hash_pandas_object(keyframe, index=False).to_numpy(np.uint64)
    first = seen.first_lines(hashes, chunk.lines[rows])
    dup = first != chunk.lines[rows]
    for j in np.flatnonzero(dup):
        i = int(rows[j])
        if spec.key == ("external_id",):
            label = f"external_id '{show_value(values['external_id'].iloc[i])}'"
        else:
            label = "row for the same " + ", ".join(spec.key)
        reasons.setdefault(i, []).append(f"duplicate {label} (first on {unit} {first[j]})")


def _kept_records(spec: FileSpec, plan: ColumnPlan, chunk: RawChunk,
                  values: dict[str, pd.Series], kept: np.ndarray,
                  file: str) -> list[dict[str, Any]] | pd.DataFrame:
    """The kept rows as a DataFrame (bulk daily facts) or dict records, with ``_where``."""
    if spec.as_frame:
        frame = pd.DataFrame({
            f.name: frame_column(f, values.get(f.name), kept) for f in spec.fields
        })
        lines = pc.cast(pa.array(chunk.lines[kept]), pa.string())
        frame["_where"] = pc.binary_join_element_wise(f"{file}:", lines, "").to_pandas()
        return frame
    where = [f"{file}:{line}" for line in chunk.lines[kept]]
    present = [f for f in spec.fields if f.name in values]
    keys = [f.name for f in present]
    columns = [python_values(f, values[f.name], kept) for f in present]
    if plan.custom:
        keys.append("custom")
        columns.append(_custom_dicts(plan, chunk, kept))
    keys.append("_where")
    columns.append(np.asarray(where, dtype=object))
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]


def _custom_dicts(plan: ColumnPlan, chunk: RawChunk, rows: np.ndarray) -> np.ndarray:
    """``custom.<name>`` cells of each kept row as one dict (empty cells left out)."""
    cols = {k: chunk.columns[pos].str.strip().to_numpy(dtype=object)[rows]
            for k, pos in plan.custom.items()}
    out = np.empty(len(rows), dtype=object)
    for j in range(len(rows)):
        out[j] = {k: v[j] for k, v in cols.items() if v[j]}
    return out


def _cross_checks(spec: FileSpec, values: dict[str, pd.Series], usable: dict[str, np.ndarray],
                  flag: Flag) -> None:
    """Rules that involve two columns of the same row."""
    if spec.entity == "surveys" and "kind" in values and "score" in values:
        kind = values["kind"].to_numpy(dtype=object)
        score = values["score"].to_numpy(dtype=np.float64)
        both = usable["kind"] & usable["score"]
        for k, (lo, hi) in SCORE_RANGES.items():
            out = both & (kind == k) & ((score < lo) | (score > hi))
            flag(out, _score_outside(score, k, lo, hi))
    if spec.entity == "integrations" and "runs" in values and "failures" in values:
        runs = values["runs"].to_numpy(dtype=np.float64)
        fails = values["failures"].to_numpy(dtype=np.float64)
        over = usable["runs"] & usable["failures"] & (fails > runs)
        flag(over, lambda i: f"failures ({fails[i]:g}) exceed runs ({runs[i]:g})")


def _constant(reason: str) -> Callable[[int], str]:
    return lambda _row: reason


def _about_cell(message: Callable[[str], str], raw: pd.Series) -> Callable[[int], str]:
    """The reason for row ``i``, worded with its cell of ``raw``."""
    return lambda i: message(raw.iloc[i])


def _score_outside(score: np.ndarray, kind: str, lo: int, hi: int) -> Callable[[int], str]:
    return lambda i: f"score: {score[i]:g} is outside {lo}-{hi} for {kind}"


def empty_records(spec: FileSpec) -> list[dict[str, Any]] | pd.DataFrame:
    """A batch's records when no row of the file is usable (an empty frame or list)."""
    if spec.as_frame:
        return pd.DataFrame({f.name: [] for f in spec.fields} | {"_where": []})
    return []
