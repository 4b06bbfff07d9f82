"""The ``files`` source: import Pulse's entities from a directory of CSV or Parquet files.

This is how a team without a supported CRM/billing integration gets data in: one file per
entity (``accounts.csv``, ``usage.parquet``, ...), column names equal to the record keys of
:mod:`connectors.base`. The column format is documented in ``docs/import-format.md``.

Validation happens here, per row, because a person edits these files by hand: a bad value
rejects its row (with ``file:line`` and the reason) and every other row still loads; a file
that cannot be read, or lacks a required column, is rejected whole. References between
records are *not* checked here (the account may already be stored from an earlier drop);
every record carries ``_where`` ("contacts.csv:14") so the loader can name the line when a
reference turns out to be unknown.
"""

from __future__ import annotations

import codecs
import csv
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connectors.base import Connector, register
from pulse.kernel.config import FilesSourceConfig, PulseConfig
from pulse.kernel.records import ENTITY_ORDER, Batch, Entity, Rejection
from storage import models as m

log = logging.getLogger("pulse.connectors.files")

CHUNK_ROWS = 500_000
"""Rows per Batch: big usage files stream through in slices so memory stays flat."""
MAX_LISTED_REJECTIONS = 1_000
"""Row rejections listed per file; beyond this one summary line carries the count, so a file
with a systematic error (say every date in the wrong format) cannot flood the sync report."""
INT_MAX = 2**31 - 1  # storage Integer columns are 32-bit on PostgreSQL
SUFFIXES = (".csv", ".parquet")
CUSTOM_PREFIX = "custom."

Kind = Literal["str", "email", "int", "float", "bool", "date", "datetime", "enum", "currency"]

TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
_BOOLS = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive or Excel .xlsx workbook",
    b"\xd0\xcf\x11\xe0": "an Excel .xls workbook",
    b"PAR1": "a Parquet file",
    b"\xff\xfe": "UTF-16 text",
    b"\xfe\xff": "UTF-16 text",
    b"%PDF": "a PDF document",
}


@dataclass(frozen=True)
class FieldSpec:
    """One column of an import file: how it is parsed and what makes a value invalid."""

    name: str
    kind: Kind = "str"
    required: bool = False
    choices: tuple[str, ...] = ()
    default: Any = None  # value of an empty cell (storage's own default for the column)
    max_len: int | None = None
    minimum: float | None = None
    lower: bool = False  # identifiers such as statuses are compared lower-case


@dataclass(frozen=True)
class FileSpec:
    """The columns of one entity's file, its duplicate key and how records are handed over."""

    entity: Entity
    fields: tuple[FieldSpec, ...]
    key: tuple[str, ...]
    as_frame: bool = False  # bulk daily facts go out as DataFrames, the rest as dicts
    custom: bool = False  # accepts ``custom.<name>`` columns into the ``custom`` dict

    @property
    def by_name(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


def _length(model: type[m.Base], column: str) -> int | None:
    """Column width from the model, so an over-long value is rejected here, not by the DB."""
    return getattr(model.__table__.c[column].type, "length", None)  # type: ignore[attr-defined]


def _text(model: type[m.Base], name: str, *, required: bool = False, lower: bool = False,
          column: str | None = None) -> FieldSpec:
    return FieldSpec(name, "str", required=required, lower=lower,
                     max_len=_length(model, column or name))


_EXT = _length(m.Owner, "external_id")


def _ref(name: str, *, required: bool = False) -> FieldSpec:
    return FieldSpec(name, "str", required=required, max_len=_EXT)


def _ext() -> FieldSpec:
    return FieldSpec("external_id", "str", required=True, max_len=_EXT)


def _date(name: str, *, required: bool = False) -> FieldSpec:
    return FieldSpec(name, "date", required=required)


def _dt(name: str, *, required: bool = False) -> FieldSpec:
    return FieldSpec(name, "datetime", required=required)


FILE_SPECS: dict[Entity, FileSpec] = {
    "owners": FileSpec("owners", (
        _ext(),
        _text(m.Owner, "name", required=True),
        FieldSpec("email", "email", max_len=_length(m.Owner, "email")),
        _text(m.Owner, "crm_owner_id"),
        _text(m.Owner, "slack_user_id"),
        _text(m.Owner, "team"),
        FieldSpec("is_manager", "bool", default=False),
        _ref("manager_external_id"),
    ), key=("external_id",)),
    "accounts": FileSpec("accounts", (
        _ext(),
        _text(m.Account, "name", required=True),
        _text(m.Account, "domain", lower=True),
        _text(m.Account, "salesforce_id"),
        _text(m.Account, "hubspot_id"),
        _text(m.Account, "stripe_customer_id"),
        _text(m.Account, "zendesk_org_id"),
        _ref("owner_external_id"),
        _text(m.Account, "tier"),
        _text(m.Account, "segment"),
        _text(m.Account, "region"),
        _text(m.Account, "industry"),
        FieldSpec("arr", "float", minimum=0),
        FieldSpec("mrr", "float", minimum=0),
        FieldSpec("licensed_seats", "int", minimum=0),
        _date("contract_start"),
        _date("renewal_date"),
        FieldSpec("lifecycle", "enum", choices=m.LIFECYCLES, default="paid"),
        _date("churned_on"),
        FieldSpec("do_not_contact", "bool", default=False),
    ), key=("external_id",), custom=True),
    "contacts": FileSpec("contacts", (
        _ext(),
        _ref("account_external_id", required=True),
        FieldSpec("email", "email", required=True, max_len=_length(m.Contact, "email")),
        _text(m.Contact, "name"),
        _text(m.Contact, "department"),
        FieldSpec("role", "enum", choices=m.CONTACT_ROLES, default="member"),
        FieldSpec("is_main_contact", "bool", default=False),
        _date("created_on"),
        _dt("last_seen_at"),
        _dt("deactivated_at"),
    ), key=("external_id",)),
    "usage": FileSpec("usage", (
        _ref("account_external_id", required=True),
        _ref("user_external_id", required=True),
        _text(m.UsageDaily, "feature", required=True),
        _date("day", required=True),
        FieldSpec("events", "int", default=0, minimum=0),
        FieldSpec("minutes", "float", default=0.0, minimum=0),
    ), key=("account_external_id", "user_external_id", "feature", "day"), as_frame=True),
    "integrations": FileSpec("integrations", (
        _ref("account_external_id", required=True),
        _text(m.IntegrationDaily, "integration", required=True),
        _date("day", required=True),
        FieldSpec("runs", "int", default=0, minimum=0),
        FieldSpec("failures", "int", default=0, minimum=0),
    ), key=("account_external_id", "integration", "day"), as_frame=True),
    "subscriptions": FileSpec("subscriptions", (
        _ext(),
        _ref("account_external_id", required=True),
        _text(m.Subscription, "plan"),
        _text(m.Subscription, "status", required=True, lower=True),
        FieldSpec("quantity", "int", minimum=0),
        FieldSpec("mrr", "float", minimum=0),
        _date("started_on"),
        _date("current_period_end"),
        _date("trial_end"),
        _date("canceled_on"),
    ), key=("external_id",)),
    "invoices": FileSpec("invoices", (
        _ext(),
        _ref("account_external_id", required=True),
        _ref("subscription_external_id"),
        FieldSpec("amount", "float", required=True),
        FieldSpec("currency", "currency", default="usd"),
        FieldSpec("status", "enum", required=True, choices=m.INVOICE_STATUSES),
        _date("issued_on"),
        _date("due_on"),
        _date("paid_on"),
    ), key=("external_id",)),
    "tickets": FileSpec("tickets", (
        _ext(),
        _ref("account_external_id", required=True),
        _ref("contact_external_id"),
        _text(m.Ticket, "subject"),
        FieldSpec("priority", "enum", choices=m.TICKET_PRIORITIES, default="normal"),
        FieldSpec("status", "enum", choices=m.TICKET_STATUSES, default="open"),
        _dt("created_at", required=True),
        _dt("solved_at"),
        _text(m.Ticket, "satisfaction", lower=True),
        FieldSpec("sentiment", "enum", choices=m.SENTIMENTS),
    ), key=("external_id",)),
    "surveys": FileSpec("surveys", (
        _ext(),
        _ref("account_external_id", required=True),
        _ref("contact_external_id"),
        FieldSpec("kind", "enum", required=True, choices=m.SURVEY_KINDS),
        FieldSpec("score", "int", required=True),
        FieldSpec("comment", "str"),
        _dt("responded_at", required=True),
    ), key=("external_id",)),
    "opportunities": FileSpec("opportunities", (
        _ext(),
        _ref("account_external_id", required=True),
        _ref("owner_external_id"),
        _text(m.Opportunity, "name"),
        FieldSpec("kind", "enum", choices=m.OPPORTUNITY_KINDS, default="other"),
        _text(m.Opportunity, "stage"),
        FieldSpec("amount", "float", minimum=0),
        _date("close_date"),
        FieldSpec("is_closed", "bool", default=False),
        FieldSpec("is_won", "bool", default=False),
    ), key=("external_id",)),
    "arr_history": FileSpec("arr_history", (
        _ref("account_external_id", required=True),
        _date("effective_on", required=True),
        FieldSpec("arr", "float", required=True, minimum=0),
    ), key=("account_external_id", "effective_on"), as_frame=True),
}
SCORE_RANGES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5)}


class _FileError(Exception):
    """The whole file is unusable; ``reason`` is worded for the person who made it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _show(value: object, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- reading -------------------------------------------------------------------------


@dataclass
class _RawChunk:
    """Up to ``CHUNK_ROWS`` rows as text, by column position, with their line numbers."""

    columns: dict[int, pd.Series]
    lines: np.ndarray
    row_errors: dict[int, str] = field(default_factory=dict)
    typed: dict[int, tuple[pd.Series, np.ndarray]] = field(default_factory=dict)
    """Columns a Parquet file already holds in the field's type, with their null mask:
    float64 for numbers, datetime64 for dates, so they skip the text round trip."""

    def __len__(self) -> int:
        return len(self.lines)


class _CsvSource:
    """A UTF-8 CSV file, read with exact physical line numbers (quoted newlines included)."""

    unit = "line"

    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path = path
        self.chunk_rows = chunk_rows
        _check_text(path)
        with path.open(encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
            self.delimiter = _sniff_delimiter(first)
            fh.seek(0)
            reader = csv.reader(fh, delimiter=self.delimiter, strict=True)
            try:
                header = next(reader, None)
            except csv.Error as exc:
                raise _FileError(f"malformed CSV header: {exc}") from None
        if not header or not any(h.strip() for h in header):
            raise _FileError("file is empty: the first line must name the columns")
        self.header = header

    def chunks(self, wanted: dict[int, Kind]) -> Iterator[_RawChunk]:
        width = len(self.header)
        with self.path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=self.delimiter, strict=True)
            next(reader)
            rows: list[list[str]] = []
            lines: list[int] = []
            errors: dict[int, str] = {}
            end = reader.line_num  # last physical line consumed so far
            try:
                for row in reader:  # the hot loop of big usage files: keep it lean
                    start, end = end + 1, reader.line_num
                    if not (row and (row[0].strip() or "".join(row).strip())):
                        continue  # blank lines and ",,,," rows are layout, not data
                    if len(row) != width:
                        if len(row) > width and any(v.strip() for v in row[width:]):
                            errors[len(rows)] = (
                                f"has {len(row)} values but the header has {width} columns"
                            )
                        row = (row + [""] * width)[:width]
                    rows.append(row)
                    lines.append(start)
                    if len(rows) >= self.chunk_rows:
                        chunk = self._chunk(rows, lines, errors, wanted)
                        rows, lines, errors = [], [], {}  # free the text before handing over
                        yield chunk
            except csv.Error as exc:
                raise _FileError(f"malformed CSV at line {end + 1}: {exc}") from None
            if rows:
                yield self._chunk(rows, lines, errors, wanted)

    @staticmethod
    def _chunk(rows: list[list[str]], lines: list[int], errors: dict[int, str],
               wanted: dict[int, Kind]) -> _RawChunk:
        cols = {pos: pd.Series(list(map(itemgetter(pos), rows)), dtype="str") for pos in wanted}
        return _RawChunk(cols, np.asarray(lines, dtype=np.int64), errors)


class _ParquetSource:
    """A Parquet file; typed columns are rendered as text so one validator serves both."""

    unit = "row"

    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path = path
        self.chunk_rows = chunk_rows
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise _FileError(f"not a readable Parquet file: {exc}") from None
        self.header = list(self.file.schema_arrow.names)

    def chunks(self, wanted: dict[int, Kind]) -> Iterator[_RawChunk]:
        names = [self.header[pos] for pos in wanted]
        row = 1
        try:
            for rb in self.file.iter_batches(batch_size=self.chunk_rows, columns=names):
                cols: dict[int, pd.Series] = {}
                typed: dict[int, tuple[pd.Series, np.ndarray]] = {}
                for i, (pos, kind) in enumerate(wanted.items()):
                    value = _arrow_typed(rb.column(i), kind)
                    if value is not None:
                        typed[pos] = value
                    else:
                        cols[pos] = _arrow_text(rb.column(i), kind, self.header[pos])
                n = rb.num_rows
                yield _RawChunk(cols, np.arange(row, row + n, dtype=np.int64), typed=typed)
                row += n
        except (pa.ArrowException, OSError) as exc:
            raise _FileError(f"unreadable Parquet data near row {row}: {exc}") from None


def _arrow_text(arr: pa.Array, kind: Kind, name: str) -> pd.Series:
    """Render a typed Parquet column as the text a CSV would hold (nulls as empty)."""
    try:
        if kind == "date" and pa.types.is_timestamp(arr.type):
            arr = pc.cast(arr, pa.date32(), safe=False)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = pc.cast(arr, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        raise _FileError(f"column {name} has unsupported Parquet type {arr.type}") from None
    return pc.fill_null(arr, "").to_pandas()


def _arrow_typed(arr: pa.Array, kind: Kind) -> tuple[pd.Series, np.ndarray] | None:
    """A numeric or date Parquet column as (parsed values, null mask), or None to go
    through text. A NaN that is not null stays a value, so it is reported as bad."""
    if kind in ("int", "float") and (pa.types.is_integer(arr.type)
                                     or pa.types.is_floating(arr.type)):
        values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    elif kind == "date" and (pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type)):
        days = pc.cast(arr, pa.date32(), safe=False)  # as the text path renders it
        values = pc.cast(days, pa.timestamp("us")).to_numpy(zero_copy_only=False)
    else:
        return None
    return pd.Series(values), arr.is_null().to_numpy(zero_copy_only=False)


def _check_text(path: Path) -> None:
    """Reject binary or non-UTF-8 files whole, before any row of them is handed out."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    line = 1
    with path.open("rb") as fh:
        head = fh.read(8)
        for magic, what in _MAGIC.items():
            if head.startswith(magic):
                raise _FileError(f"not a CSV text file: it looks like {what}; "
                                 "export it as 'CSV UTF-8' (comma delimited)")
        fh.seek(0)
        while block := fh.read(1 << 20):
            if b"\x00" in block:
                at = line + block[: block.index(b"\x00")].count(b"\n")
                raise _FileError(f"not a CSV text file: binary data (NUL byte) on line {at}")
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                at = line + exc.object[: exc.start].count(b"\n")
                raise _FileError(
                    f"not valid UTF-8 text on line {at} ({exc.reason}, byte "
                    f"0x{exc.object[exc.start]:02x}); save the file as 'CSV UTF-8'"
                ) from None
            line += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            reason = f"not valid UTF-8 text at the end of the file ({exc.reason})"
            raise _FileError(reason) from None


def _sniff_delimiter(first_line: str) -> str:
    """Comma unless the header is clearly separated by semicolons or tabs (Excel locales)."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


# --- header --------------------------------------------------------------------------


@dataclass
class _Plan:
    """Which file column feeds which field; decided once per file from its header."""

    fields: dict[str, int]
    custom: dict[str, int]
    unknown: list[str]


def _plan(spec: FileSpec, header: Sequence[str]) -> _Plan:
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
        raise _FileError(f"duplicate column(s): {', '.join(dict.fromkeys(dupes))}")
    missing = [f for f in spec.required if f not in fields]
    if missing:
        raise _FileError(f"missing required column(s): {', '.join(missing)}")
    return _Plan(fields, custom, unknown)


# --- validation ----------------------------------------------------------------------

Problem = tuple[np.ndarray, Callable[[str], str]]


def _parse(f: FieldSpec, raw: pd.Series, empty: np.ndarray) -> tuple[pd.Series, list[Problem]]:
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
                             lambda v: f"{name}: '{_show(v)}' is not an email address"))
        elif f.kind == "enum":
            ok = values.isin(f.choices) | pd.Series(empty, index=raw.index)
            allowed = ", ".join(f.choices)
            problems.append((~ok.to_numpy(), lambda v: f"{name}: '{_show(v)}' is not one of "
                             f"{allowed}"))
        elif f.kind == "currency":
            ok = values.str.fullmatch(r"[a-z]{3}").fillna(True).astype(bool)
            problems.append((~ok.to_numpy() & ~empty, lambda v: f"{name}: '{_show(v)}' is not "
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
        problems.append((bad, lambda v: f"{name}: '{_show(v)}' is not true/false, 1/0 or "
                         "yes/no"))
    elif f.kind == "date":
        values = pd.to_datetime(present, format="%Y-%m-%d", errors="coerce")
        bad = values.isna().to_numpy() & ~empty
        problems.append((bad, lambda v: f"{name}: '{_show(v)}' is not a date (YYYY-MM-DD)"))
    else:  # datetime
        parsed = pd.to_datetime(present, format="ISO8601", utc=True, errors="coerce")
        values = parsed.dt.tz_convert(None)
        bad = values.isna().to_numpy() & ~empty
        problems.append((bad, lambda v: f"{name}: '{_show(v)}' is not a date-time "
                         "(YYYY-MM-DDTHH:MM:SS, optionally with Z or +HH:MM)"))
    return values, problems


def _parse_typed(f: FieldSpec, values: pd.Series,
                 empty: np.ndarray) -> tuple[pd.Series, list[Problem]]:
    """Checks for a column that arrived typed (see ``_arrow_typed``): no parsing left."""
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
        problems.append((~good & ~empty, lambda v: f"{name}: '{_show(v)}' is not a whole "
                         "number"))
        big = good & (np.abs(arr) > INT_MAX)
        problems.append((big, lambda v: f"{name}: {_show(v)} is too large"))
        good &= ~big
    else:
        good = finite
        problems.append((~good & ~empty, lambda v: f"{name}: '{_show(v)}' is not a number"))
    if f.minimum is not None:
        low = good & (arr < f.minimum)
        problems.append((low, lambda v: f"{name}: {_show(v)} is below {f.minimum:g}"))
        good &= ~low
    return pd.Series(np.where(good, arr, np.nan), index=index), problems


def _python_values(f: FieldSpec, values: pd.Series, rows: np.ndarray) -> np.ndarray:
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


def _frame_column(f: FieldSpec, values: pd.Series | None, rows: np.ndarray) -> Any:
    """The kept rows' values as a typed column for DataFrame batches (defaults filled)."""
    n = len(rows)
    if f.kind == "date" and values is not None:
        return values.iloc[rows].to_numpy("datetime64[us]")  # NaT when empty
    if f.kind in ("date", "datetime", "bool"):
        if values is None:
            return np.full(n, f.default, dtype=object)
        return _python_values(f, values, rows)
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


class _SeenKeys:
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


def _validate(spec: FileSpec, plan: _Plan, chunk: _RawChunk, seen: _SeenKeys, file: str,
              unit: str) -> tuple[list[dict[str, Any]] | pd.DataFrame, list[Rejection]]:
    """Check one chunk; every row is either kept whole or rejected with all its reasons."""
    n = len(chunk)
    reasons: dict[int, list[str]] = {i: [e] for i, e in chunk.row_errors.items()}

    def flag(mask: np.ndarray, message: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask):
            reasons.setdefault(int(i), []).append(message(int(i)))

    values: dict[str, pd.Series] = {}
    usable: dict[str, np.ndarray] = {}  # present and valid, for cross-field and key checks
    for f in spec.fields:
        if f.name not in plan.fields:
            continue
        pos = plan.fields[f.name]
        if pos in chunk.typed:
            raw, empty = chunk.typed[pos]
        else:
            raw = chunk.columns[pos].str.strip()
            empty = (raw == "").to_numpy(bool)
        if f.required:
            flag(empty, lambda _i, name=f.name: f"{name} is empty (required)")
        parsed, problems = _parse_typed(f, raw, empty) if pos in chunk.typed else _parse(
            f, raw, empty)
        for mask, message in problems:
            if mask.any():
                flag(mask, lambda i, message=message, raw=raw: message(raw.iloc[i]))
        values[f.name] = parsed
        usable[f.name] = parsed.notna().to_numpy(bool)

    _cross_checks(spec, values, usable, flag)

    if all(k in values for k in spec.key):
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
                label = f"external_id '{_show(values['external_id'].iloc[i])}'"
            else:
                label = "row for the same " + ", ".join(spec.key)
            reasons.setdefault(i, []).append(f"duplicate {label} (first on {unit} {first[j]})")

    keep = np.ones(n, dtype=bool)
    if reasons:
        keep[list(reasons)] = False
    rejected = [Rejection(f"{file}:{chunk.lines[i]}", "; ".join(reasons[i]))
                for i in sorted(reasons)]
    kept = np.flatnonzero(keep)
    if spec.as_frame:
        frame = pd.DataFrame({
            f.name: _frame_column(f, values.get(f.name), kept) for f in spec.fields
        })
        lines = pc.cast(pa.array(chunk.lines[kept]), pa.string())
        frame["_where"] = pc.binary_join_element_wise(f"{file}:", lines, "").to_pandas()
        return frame, rejected
    where = [f"{file}:{line}" for line in chunk.lines[kept]]
    present = [f for f in spec.fields if f.name in values]
    keys = [f.name for f in present]
    columns = [_python_values(f, values[f.name], kept) for f in present]
    if plan.custom:
        keys.append("custom")
        columns.append(_custom_dicts(plan, chunk, kept))
    keys.append("_where")
    columns.append(np.asarray(where, dtype=object))
    records = [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
    return records, rejected


def _custom_dicts(plan: _Plan, chunk: _RawChunk, rows: np.ndarray) -> np.ndarray:
    """``custom.<name>`` cells of each kept row as one dict (empty cells left out)."""
    cols = {k: chunk.columns[pos].str.strip().to_numpy(dtype=object)[rows]
            for k, pos in plan.custom.items()}
    out = np.empty(len(rows), dtype=object)
    for j in range(len(rows)):
        out[j] = {k: v[j] for k, v in cols.items() if v[j]}
    return out


def _cross_checks(spec: FileSpec, values: dict[str, pd.Series], usable: dict[str, np.ndarray],
                  flag: Callable[[np.ndarray, Callable[[int], str]], None]) -> None:
    """Rules that involve two columns of the same row."""
    if spec.entity == "surveys" and "kind" in values and "score" in values:
        kind = values["kind"].to_numpy(dtype=object)
        score = values["score"].to_numpy(dtype=np.float64)
        both = usable["kind"] & usable["score"]
        for k, (lo, hi) in SCORE_RANGES.items():
            out = both & (kind == k) & ((score < lo) | (score > hi))
            flag(out, lambda i, k=k, lo=lo, hi=hi: f"score: {score[i]:g} is outside {lo}-{hi} "
                 f"for {k}")
    if spec.entity == "integrations" and "runs" in values and "failures" in values:
        runs = values["runs"].to_numpy(dtype=np.float64)
        fails = values["failures"].to_numpy(dtype=np.float64)
        over = usable["runs"] & usable["failures"] & (fails > runs)
        flag(over, lambda i: f"failures ({fails[i]:g}) exceed runs ({runs[i]:g})")


def _empty_records(spec: FileSpec) -> list[dict[str, Any]] | pd.DataFrame:
    if spec.as_frame:
        return pd.DataFrame({f.name: [] for f in spec.fields} | {"_where": []})
    return []


# --- cursor --------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _mtime_us(path: Path) -> int:
    return path.stat().st_mtime_ns // 1_000


def _cursor_text(us: int) -> str:
    return (_EPOCH + timedelta(microseconds=us)).isoformat()


def _cursor_us(cursor: str) -> int:
    at = datetime.fromisoformat(cursor)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // timedelta(microseconds=1)


# --- the connector -------------------------------------------------------------------


@register
class FilesConnector(Connector):
    """Import CSV/Parquet files from a directory; the cursor is the newest file's mtime.

    ``path`` overrides ``sources.files.path``; ``chunk_rows`` is the rows per Batch (tests
    make it tiny to exercise streaming). ``warnings`` holds the last pull's non-fatal notes
    (ignored columns, stray files), which are also logged.
    """

    name = "files"

    def __init__(self, config: PulseConfig, *, path: str | Path | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        super().__init__(config)
        if path is None:
            path = (config.sources.files or FilesSourceConfig()).path
        self.path = Path(path).expanduser()
        self.chunk_rows = max(1, chunk_rows)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("%s", message)

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        """Yield each entity file's rows in dependency order; unchanged files are skipped.

        Only the last batch carries the new cursor, so a run that stops half-way leaves
        the stored cursor alone and the next run re-reads every file it had not finished.
        """
        self.warnings = []
        if not self.path.is_dir():
            raise FileNotFoundError(
                f"files source: directory '{self.path}' not found (sources.files.path)"
            )
        since: int | None = None
        if cursor and not full:
            try:
                since = _cursor_us(cursor)
            except (ValueError, TypeError):
                self._warn(f"ignoring unreadable cursor '{cursor}': reading every file")
        found, clashes = self._discover()
        mtimes = [_mtime_us(p) for p in found.values()]
        mtimes += [_mtime_us(p) for ps in clashes.values() for p in ps]
        new_cursor = _cursor_text(max(mtimes)) if mtimes else None

        pending: Batch | None = None
        for batch in self._batches(found, clashes, since):
            if pending is not None:
                yield pending
            pending = batch
        if pending is not None:
            pending.cursor = new_cursor
            yield pending

    def _discover(self) -> tuple[dict[Entity, Path], dict[Entity, list[Path]]]:
        """Map entity -> file (names matched case-insensitively); warn about strays."""
        by_name = {p.name.lower(): p for p in sorted(self.path.iterdir()) if p.is_file()}
        found: dict[Entity, Path] = {}
        clashes: dict[Entity, list[Path]] = {}
        expected: set[str] = set()
        for entity in ENTITY_ORDER:
            names = [f"{entity}{suffix}" for suffix in SUFFIXES]
            expected.update(names)
            hits = [by_name[n] for n in names if n in by_name]
            if len(hits) > 1:
                clashes[entity] = hits
            elif hits:
                found[entity] = hits[0]
        for name, p in by_name.items():
            if name.endswith(SUFFIXES) and name not in expected:
                self._warn(f"{p.name}: not an import file name, ignored (expected one of "
                           f"{', '.join(f'{e}.csv' for e in ENTITY_ORDER)})")
        return found, clashes

    def _batches(self, found: dict[Entity, Path], clashes: dict[Entity, list[Path]],
                 since: int | None) -> Iterator[Batch]:
        for entity in ENTITY_ORDER:
            if entity in clashes:
                names = " and ".join(p.name for p in clashes[entity])
                yield self._reject_file(entity, ", ".join(p.name for p in clashes[entity]),
                                        f"both {names} present; keep only one")
                continue
            path = found.get(entity)
            if path is None:
                continue
            if since is not None and _mtime_us(path) <= since:
                log.info("%s unchanged since last import, skipped", path.name)
                continue
            yield from self._read_file(entity, path)

    def _reject_file(self, entity: Entity, where: str, reason: str) -> Batch:
        log.warning("%s rejected: %s", where, reason)
        rejection = Rejection(where, reason)
        return Batch(entity, _empty_records(FILE_SPECS[entity]), rejected=[rejection])

    def _read_file(self, entity: Entity, path: Path) -> Iterator[Batch]:
        """Validate one file chunk by chunk; a file unreadable before its first batch
        went out is rejected whole."""
        spec = FILE_SPECS[entity]
        file = path.name
        try:
            source: _CsvSource | _ParquetSource = (
                _ParquetSource(path, self.chunk_rows) if file.lower().endswith(".parquet")
                else _CsvSource(path, self.chunk_rows)
            )
            plan = _plan(spec, source.header)
        except _FileError as exc:
            yield self._reject_file(entity, file, exc.reason)
            return
        except OSError as exc:
            yield self._reject_file(entity, file, f"cannot read file: {exc}")
            return
        if plan.unknown:
            self._warn(f"{file}: ignoring unknown column(s): {', '.join(plan.unknown)}")
        by_name = spec.by_name
        wanted: dict[int, Kind] = {pos: by_name[name].kind for name, pos in plan.fields.items()}
        wanted.update({pos: "str" for pos in plan.custom.values()})

        seen = _SeenKeys()
        listed = 0
        unlisted = 0
        pending: Batch | None = None
        sent_any = False
        try:
            for chunk in source.chunks(wanted):
                records, rejected = _validate(spec, plan, chunk, seen, file, source.unit)
                room = max(0, MAX_LISTED_REJECTIONS - listed)
                unlisted += max(0, len(rejected) - room)
                rejected = rejected[:room]
                listed += len(rejected)
                if pending is not None:
                    yield pending
                    sent_any = True
                pending = Batch(entity, records, rejected=rejected, distinct_keys=True)
        except (_FileError, OSError) as exc:
            reason = exc.reason if isinstance(exc, _FileError) else f"cannot read file: {exc}"
            if not sent_any:
                yield self._reject_file(entity, file, f"{reason}; no row of the file was imported")
                return
            log.warning("%s partly imported: %s", file, reason)
            assert pending is not None
            pending.rejected.append(Rejection(file, f"{reason}; rows before it were imported"))
        if pending is None:
            pending = Batch(entity, _empty_records(spec))
        if unlisted:
            pending.rejected.append(Rejection(
                file, f"{unlisted} more rejected row(s) not listed (only the first "
                      f"{MAX_LISTED_REJECTIONS} are)"))
        yield pending
