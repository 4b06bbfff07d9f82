"""Reading import files: CSV text (checked to be UTF-8 text first, plain or gzip-compressed)
and Parquet, in chunks of rows as text columns with their line (or row) numbers."""

from __future__ import annotations

import codecs
import csv
import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connectors.files.specs import Kind

MAX_LINE_CHARS = 1_048_576
"""The longest line of a CSV file, in characters (1 Mi), and the longest row spread over
several lines by quoted line breaks: a longer one rejects the file, found while
streaming, so a file of one huge line (or row) is never held in memory."""
MAX_FIELD_CHARS = 131_072
"""The longest value of a CSV cell, in characters (128 Ki, the ``csv`` module's default
limit, which the reader sets): it also bounds a quoted value spanning many lines, and a
quote that is never closed."""
GZIP_SUFFIX = ".gz"
"""A CSV file compressed with gzip (``usage.csv.gz``) is read as it is decompressed."""

_MAGIC = {
    b"PK\x03\x04": "a ZIP archive or Excel .xlsx workbook",
    b"\xd0\xcf\x11\xe0": "an Excel .xls workbook",
    b"PAR1": "a Parquet file",
    b"\xff\xfe": "UTF-16 text",
    b"\xfe\xff": "UTF-16 text",
    b"%PDF": "a PDF document",
}


class FileError(Exception):
    """The whole file is unusable; ``reason`` is worded for the person who made it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class RawChunk:
    """Up to ``chunk_rows`` rows as text, by column position, with their line numbers."""

    columns: dict[int, pd.Series]
    lines: np.ndarray
    row_errors: dict[int, str] = field(default_factory=dict)
    typed: dict[int, tuple[pd.Series, np.ndarray]] = field(default_factory=dict)
    """Columns a Parquet file already holds in the field's type, with their null mask:
    float64 for numbers, datetime64 for dates, so they skip the text round trip."""

    def __len__(self) -> int:
        return len(self.lines)


class CsvSource:
    """A UTF-8 CSV file, read with exact physical line numbers (quoted newlines included)."""

    unit = "line"

    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path = path
        self.chunk_rows = chunk_rows
        _check_text(path)
        with _open_text(path) as fh:
            lines = _bounded_lines(fh, [0])
            first = next(lines, "")
            self.delimiter = _sniff_delimiter(first)
        csv.field_size_limit(MAX_FIELD_CHARS)
        with _open_text(path) as fh:
            reader = csv.reader(_bounded_lines(fh, [0]), delimiter=self.delimiter, strict=True)
            try:
                header = next(reader, None)
            except csv.Error as exc:
                raise FileError(f"malformed CSV header: {_csv_problem(exc)}") from None
        if not header or not any(h.strip() for h in header):
            raise FileError("file is empty: the first line must name the columns")
        self.header = header

    def chunks(self, wanted: dict[int, Kind]) -> Iterator[RawChunk]:
        width = len(self.header)
        csv.field_size_limit(MAX_FIELD_CHARS)
        with _open_text(self.path) as fh:
            row_chars = [0]  # of the row being read: the reader resets it after each row
            reader = csv.reader(_bounded_lines(fh, row_chars), delimiter=self.delimiter,
                                strict=True)
            next(reader)
            row_chars[0] = 0
            rows: list[list[str]] = []
            lines: list[int] = []
            errors: dict[int, str] = {}
            end = reader.line_num  # last physical line consumed so far
            try:
                for row in reader:  # the hot loop of big usage files: keep it lean
                    start, end = end + 1, reader.line_num
                    row_chars[0] = 0
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
                raise FileError(f"malformed CSV at line {end + 1}: {_csv_problem(exc)}") from None
            if rows:
                yield self._chunk(rows, lines, errors, wanted)

    @staticmethod
    def _chunk(rows: list[list[str]], lines: list[int], errors: dict[int, str],
               wanted: dict[int, Kind]) -> RawChunk:
        cols = {pos: pd.Series(list(map(itemgetter(pos), rows)), dtype="str") for pos in wanted}
        return RawChunk(cols, np.asarray(lines, dtype=np.int64), errors)


class ParquetSource:
    """A Parquet file; typed columns are rendered as text so one validator serves both."""

    unit = "row"

    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path = path
        self.chunk_rows = chunk_rows
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise FileError(f"not a readable Parquet file: {exc}") from None
        self.header = list(self.file.schema_arrow.names)

    def chunks(self, wanted: dict[int, Kind]) -> Iterator[RawChunk]:
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
                yield RawChunk(cols, np.arange(row, row + n, dtype=np.int64), typed=typed)
                row += n
        except (pa.ArrowException, OSError) as exc:
            raise FileError(f"unreadable Parquet data near row {row}: {exc}") from None


def _arrow_text(arr: pa.Array, kind: Kind, name: str) -> pd.Series:
    """Render a typed Parquet column as the text a CSV would hold (nulls as empty)."""
    try:
        if kind == "date" and pa.types.is_timestamp(arr.type):
            arr = pc.cast(arr, pa.date32(), safe=False)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = pc.cast(arr, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        raise FileError(f"column {name} has unsupported Parquet type {arr.type}") from None
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


def _open_text(path: Path) -> TextIO:
    """The file as UTF-8 text (a byte-order mark dropped), decompressed if gzipped."""
    if path.name.lower().endswith(GZIP_SUFFIX):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _bounded_lines(fh: TextIO, row_chars: list[int]) -> Iterator[str]:
    """The physical lines of ``fh``, each read with at most ``MAX_LINE_CHARS`` (and its
    line break) in memory; a longer line, or a row spread over lines that grows longer
    (``row_chars[0]``, which the caller zeroes after each row), stops the file with the
    line's number."""
    number = 0
    while line := fh.readline(MAX_LINE_CHARS + 2):
        number += 1
        if row_chars[0] + len(line) > MAX_LINE_CHARS:  # cheap test first: rarely true
            if len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
                raise FileError(f"line {number} is longer than {MAX_LINE_CHARS:,} characters "
                                "(the most a line may hold); is it really a CSV file?")
            if row_chars[0] + len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
                raise FileError(f"line {number}: a row spread over several lines by quoted "
                                f"line breaks is longer than {MAX_LINE_CHARS:,} characters "
                                "(the most a row may hold); is a quote left open?")
        row_chars[0] += len(line)
        yield line


def _csv_problem(exc: csv.Error) -> str:
    """The ``csv`` module's error, in the import format's words where it has them."""
    if "field larger than field limit" in str(exc):
        return f"a value is longer than {MAX_FIELD_CHARS:,} characters (the most a value may hold)"
    return str(exc)


def _check_text(path: Path) -> None:
    """Reject binary or non-UTF-8 files (and damaged gzip files) whole, before any row of
    them is handed out."""
    try:
        with _open_binary(path) as fh:
            _check_bytes(fh)
    except (OSError, EOFError, zlib.error) as exc:
        if not path.name.lower().endswith(GZIP_SUFFIX):
            raise
        raise FileError(f"not a readable gzip file: {exc}") from None


def _open_binary(path: Path) -> IO[bytes] | gzip.GzipFile:
    if path.name.lower().endswith(GZIP_SUFFIX):
        return gzip.open(path, "rb")
    return path.open("rb")


def _check_bytes(fh: IO[bytes] | gzip.GzipFile) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    line = 1
    first = True
    while block := fh.read(1 << 20):
        if first:
            first = False
            for magic, what in _MAGIC.items():
                if block.startswith(magic):
                    raise FileError(f"not a CSV text file: it looks like {what}; "
                                     "export it as 'CSV UTF-8' (comma delimited)")
        if b"\x00" in block:
            at = line + block[: block.index(b"\x00")].count(b"\n")
            raise FileError(f"not a CSV text file: binary data (NUL byte) on line {at}")
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            at = line + exc.object[: exc.start].count(b"\n")
            raise FileError(
                f"not valid UTF-8 text on line {at} ({exc.reason}, byte "
                f"0x{exc.object[exc.start]:02x}); save the file as 'CSV UTF-8'"
            ) from None
        line += block.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        reason = f"not valid UTF-8 text at the end of the file ({exc.reason})"
        raise FileError(reason) from None


def _sniff_delimiter(first_line: str) -> str:
    """Comma unless the header is clearly separated by semicolons or tabs (Excel locales)."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","
