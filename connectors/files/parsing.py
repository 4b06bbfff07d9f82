"""Parsing one column of a chunk into typed values, with the problems of its bad cells,
and handing the kept rows' values over as Python objects or DataFrame columns."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from connectors.files.specs import INT_MAX, FieldSpec

TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
_BOOLS = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
DATE_SHAPE = r"\d{4}-\d{2}-\d{2}"
"""What a date cell must look like before it is parsed (``YYYY-MM-DD``): pandas alone
also takes ``2026-6-1``, which the format does not allow."""
DATETIME_SHAPE = (DATE_SHAPE + r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?"
                  r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?")
"""A date-time cell: ``YYYY-MM-DD``, optionally ``THH:MM[:SS[.fraction]]`` (or a space for
``T``) and ``Z`` or an offset; pandas' ISO 8601 parser alone also takes ``2026-6-1``,
``20260601T010203`` and a month alone (``2026-06``)."""


def show_value(value: object, limit: int = 40) -> str:
    """``value`` as text, cut to ``limit`` characters for a rejection reason."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


Problem = tuple[np.ndarray, Callable[[str], str]]


def parse_column(
    f: FieldSpec, raw: pd.Series, empty: np.ndarray
) -> tuple[pd.Series, list[Problem]]:
    """Parse one stripped text column: typed values (NA when empty or bad) and problems."""
    name = f.name
    present = raw.where(~empty)
    problems: list[Problem] = []
    values: pd.Series
    if f.kind in ("str", "email", "enum", "currency"):
        values = present.str.lower() if f.lower or f.kind in ("enum", "currency") else present
        ok = pd.Series(True, index=raw.index)
        if f.kind == "email":
            ok = values.str.match(_EMAIL).fillna(True).astype(bool)
            problems.append((~ok.to_numpy() & ~empty,
                             lambda v: f"{name}: '{show_value(v)}' is not an email address"))
        elif f.kind == "enum":
            ok = values.isin(f.choices) | pd.Series(empty, index=raw.index)
            allowed = ", ".join(f.choices)
            problems.append((~ok.to_numpy(), lambda v: f"{name}: '{show_value(v)}' is not one of "
                             f"{allowed}"))
        elif f.kind == "currency":
            ok = values.str.fullmatch(r"[a-z]{3}").fillna(True).astype(bool)
            problems.append((~ok.to_numpy() & ~empty, lambda v: f"{name}: '{show_value(v)}' is not "
                             "a 3-letter currency code"))
        if f.max_len is not None:
            long = (values.str.len() > f.max_len).fillna(False).to_numpy(bool)
            problems.append((long, lambda v: f"{name} is longer than {f.max_len} characters"))
            ok &= ~long
        values = values.where(ok)
    elif f.kind in ("int", "float"):
        arr = pd.to_numeric(present, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        values, problems = _check_number(f, arr, empty, raw.index)
    elif f.kind == "bool":
        values = present.str.lower().map(_BOOLS)
        bad = values.isna().to_numpy() & ~empty
        problems.append((bad, lambda v: f"{name}: '{show_value(v)}' is not true/false, 1/0 or "
                         "yes/no"))
    elif f.kind == "date":
        shaped = present.where(present.str.fullmatch(DATE_SHAPE).fillna(False).astype(bool))
        values = pd.to_datetime(shaped, format="%Y-%m-%d", errors="coerce")
        bad = values.isna().to_numpy() & ~empty
        problems.append((bad, lambda v: f"{name}: '{show_value(v)}' is not a date (YYYY-MM-DD)"))
    else:  # datetime
        shaped = present.where(present.str.fullmatch(DATETIME_SHAPE).fillna(False).astype(bool))
        parsed = pd.to_datetime(shaped, format="ISO8601", utc=True, errors="coerce")
        values = parsed.dt.tz_convert(None)
        bad = values.isna().to_numpy() & ~empty
        problems.append((bad, lambda v: f"{name}: '{show_value(v)}' is not a date-time "
                         "(YYYY-MM-DDTHH:MM:SS, optionally with Z or +HH:MM)"))
    return values, problems


def parse_typed_column(f: FieldSpec, values: pd.Series,
                       empty: np.ndarray) -> tuple[pd.Series, list[Problem]]:
    """Checks for a column a Parquet file held typed (:attr:`RawChunk.typed
    <connectors.files.sources.RawChunk.typed>`): no parsing left."""
    if f.kind in ("int", "float"):
        return _check_number(f, values.to_numpy(np.float64), empty, values.index)
    return values.where(~empty), []


def _check_number(f: FieldSpec, arr: np.ndarray, empty: np.ndarray,
                  index: pd.Index) -> tuple[pd.Series, list[Problem]]:
    """Whole-number, size and minimum checks on parsed numbers (NaN where not a number)."""
    name = f.name
    problems: list[Problem] = []
    finite = np.isfinite(arr)
    if f.kind == "int":
        good = finite & (arr == np.round(arr))
        problems.append((~good & ~empty, lambda v: f"{name}: '{show_value(v)}' is not a whole "
                         "number"))
        big = good & (np.abs(arr) > INT_MAX)
        problems.append((big, lambda v: f"{name}: {show_value(v)} is too large"))
        good &= ~big
    else:
        good = finite
        problems.append((~good & ~empty, lambda v: f"{name}: '{show_value(v)}' is not a number"))
    if f.minimum is not None:
        low = good & (arr < f.minimum)
        problems.append((low, lambda v: f"{name}: {show_value(v)} is below {f.minimum:g}"))
        good &= ~low
    return pd.Series(np.where(good, arr, np.nan), index=index), problems


def python_values(f: FieldSpec, values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The kept rows' values as plain Python objects (None when empty) for dict records."""
    sub = values.iloc[rows]
    missing = sub.isna().to_numpy()
    out = np.full(len(rows), f.default, dtype=object)
    have = ~missing
    if not have.any():
        return out
    if f.kind == "int":
        out[have] = sub.to_numpy()[have].astype(np.int64).astype(object)
    elif f.kind == "float":
        out[have] = sub.to_numpy()[have].astype(object)
    elif f.kind == "date":
        out[have] = np.asarray(sub.dt.date, dtype=object)[have]
    elif f.kind == "datetime":
        out[have] = np.asarray(sub.dt.to_pydatetime(), dtype=object)[have]
    else:
        out[have] = sub.to_numpy(dtype=object)[have]
    return out


def frame_column(f: FieldSpec, values: pd.Series | None, rows: np.ndarray) -> Any:
    """The kept rows' values as a typed column for DataFrame batches (defaults filled)."""
    n = len(rows)
    if f.kind == "date" and values is not None:
        return values.iloc[rows].to_numpy("datetime64[us]")  # NaT when empty
    if f.kind in ("date", "datetime", "bool"):
        if values is None:
            return np.full(n, f.default, dtype=object)
        return python_values(f, values, rows)
    if f.kind in ("int", "float"):
        if values is None:
            sub = pd.Series(np.full(n, np.nan))
        else:
            sub = values.iloc[rows].reset_index(drop=True)
        if f.default is not None:
            sub = sub.fillna(f.default)
            return sub.to_numpy(np.int64 if f.kind == "int" else np.float64)
        return sub.astype("Int64" if f.kind == "int" else "float64").array
    if values is None:
        return pd.array(np.full(n, f.default, dtype=object), dtype="str")
    sub = values.iloc[rows].reset_index(drop=True)
    if f.default is not None:
        sub = sub.fillna(f.default)
    return sub.astype("str").array
