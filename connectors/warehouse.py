"""The ``warehouse`` source: daily product usage from a SQL query on any SQLAlchemy URL.

Product usage usually lives in the customer's warehouse (Snowflake, BigQuery, Redshift,
PostgreSQL ...) as one row per account x user x feature x day. This connector runs
``sources.warehouse.query`` against the URL held by the environment variable named by
``sources.warehouse.url_env`` (a URL may hold a password, so it never sits in pulse.yml),
binding ``:since`` to the cursor date (1970-01-01 on a first or ``--full`` run), and streams
the result in chunks of :data:`CHUNK_ROWS` rows as ``usage`` DataFrames.

The rows name accounts and users by the external ids of ``account_source`` (by default
``salesforce``: the Salesforce Account id and the contact's id there), so every batch carries
``ref_source=account_source`` and storage resolves the references against that source's
accounts and contacts; the usage rows themselves are stored with source ``warehouse``.

The cursor is the latest ``day`` loaded. The next run asks for ``day >= cursor``: the last
day is read again because a warehouse often fills "today" during the day; the loader's
upsert on (account, user, feature, day) makes the re-read rows unchanged or updated, never
duplicated. The cursor only moves with the last batch of a run, so a run that fails half-way
(rows are not assumed to come in day order) re-reads everything from the old cursor.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import CursorResult, create_engine, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from connectors.base import MAX_LISTED_REJECTIONS, Connector, register
from pulse.kernel.config import PulseConfig, WarehouseSourceConfig
from pulse.kernel.records import Batch, Rejection

log = logging.getLogger("pulse.connectors.warehouse")

CHUNK_ROWS = 200_000
"""Rows fetched (server-side cursor) and handed to storage per Batch."""
EPOCH = date(1970, 1, 1)
COLUMNS = ("account_external_id", "user_external_id", "feature", "day", "events", "minutes")
REQUIRED = ("account_external_id", "user_external_id", "feature", "day")
_SINCE = re.compile(r"(?<!:):since\b")


class WarehouseError(RuntimeError):
    """A problem with the warehouse setup or query, worded for the person configuring it."""


def _since(cursor: str | None, full: bool) -> date:
    if full or not cursor:
        return EPOCH
    try:
        return date.fromisoformat(cursor)
    except ValueError:
        log.warning("ignoring unreadable warehouse cursor '%s': reading everything", cursor)
        return EPOCH


@register
class WarehouseConnector(Connector):
    """Stream usage rows from ``sources.warehouse.query``; the cursor is the last day loaded.

    ``url`` overrides the environment variable and ``chunk_rows`` the rows per Batch (tests
    make it tiny to exercise streaming).
    """

    name = "warehouse"

    def __init__(self, config: PulseConfig, *, url: str | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        super().__init__(config)
        self.settings = config.sources.warehouse or WarehouseSourceConfig()
        self.url = url
        self.chunk_rows = max(1, chunk_rows)

    def _url(self) -> str:
        if self.url:
            return self.url
        value = os.environ.get(self.settings.url_env, "").strip()
        if not value:
            raise WarehouseError(
                f"warehouse source: environment variable {self.settings.url_env} is not set; "
                "it must hold the SQLAlchemy URL of the warehouse "
                "(the variable's name is sources.warehouse.url_env)"
            )
        return value

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("%s", message)

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        self.warnings = []
        query = self.settings.query
        since = _since(cursor, full)
        if not _SINCE.search(query):
            self._warn("sources.warehouse.query does not use :since, so every run reads "
                       "all of its rows")
        try:
            engine = create_engine(self._url())
        except (ArgumentError, ImportError) as exc:
            raise WarehouseError(
                f"warehouse source: {self.settings.url_env} is not a usable SQLAlchemy URL: {exc}"
            ) from None
        ref_source = self.settings.account_source
        latest: date | None = None
        pending: Batch | None = None
        try:
            with engine.connect() as conn:
                try:
                    result = conn.execution_options(
                        stream_results=True, yield_per=self.chunk_rows
                    ).execute(text(query), {"since": since})
                except SQLAlchemyError as exc:
                    raise WarehouseError(_query_error(exc)) from None
                for frame, rejected, day_max in self._frames(result):
                    if day_max is not None and (latest is None or day_max > latest):
                        latest = day_max
                    if pending is not None:
                        yield pending
                    pending = Batch("usage", frame, rejected=rejected, ref_source=ref_source)
        finally:
            engine.dispose()
        if pending is not None:
            if latest is not None:
                pending.cursor = latest.isoformat()
            yield pending

    def _frames(
        self, result: CursorResult[Any]
    ) -> Iterator[tuple[pd.DataFrame, list[Rejection], date | None]]:
        """The result's partitions as usage frames, their rejections (the first
        ``MAX_LISTED_REJECTIONS`` listed, then a count per partition) and latest day."""
        names = [str(k).lower() for k in result.keys()]  # noqa: SIM118 (a Result)
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise WarehouseError(
                "sources.warehouse.query must return the columns "
                f"{', '.join(COLUMNS)}; missing: {', '.join(missing)} "
                f"(it returned: {', '.join(names) or 'nothing'})"
            )
        unknown = [n for n in names if n not in COLUMNS]
        if unknown:
            self._warn(f"warehouse query: ignoring unknown column(s): {', '.join(unknown)}")
        row = 1
        listed = 0
        try:
            for part in result.partitions(self.chunk_rows):
                frame, rejected, day_max = _frame(part, names, row)
                row += len(part)
                room = max(0, MAX_LISTED_REJECTIONS - listed)
                extra = len(rejected) - room
                rejected = rejected[:room]
                listed += len(rejected)
                if extra > 0:
                    rejected.append(Rejection(
                        "warehouse", f"{extra} more rejected row(s) not listed"))
                yield frame, rejected, day_max
        except SQLAlchemyError as exc:
            raise WarehouseError(
                f"warehouse query failed while reading near row {row}: {_first_line(exc)}"
            ) from None


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def _query_error(exc: SQLAlchemyError) -> str:
    return (f"warehouse query failed: {_first_line(exc)} "
            "(check sources.warehouse.query and the warehouse it runs on)")


def _frame(
    rows: Sequence[Any], names: list[str], first_row: int
) -> tuple[pd.DataFrame, list[Rejection], date | None]:
    """Rows of one partition as a usage DataFrame; rows with bad values rejected by line."""
    raw = pd.DataFrame.from_records([tuple(r) for r in rows], columns=names)
    n = len(raw)
    where = np.char.add("warehouse row ", np.arange(first_row, first_row + n).astype(str))
    bad = np.zeros(n, dtype=bool)
    reasons = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray, reason: str) -> None:
        new = mask & ~bad
        reasons[new] = reason
        bad[:] |= mask

    out: dict[str, Any] = {}
    for col in ("account_external_id", "user_external_id", "feature"):
        values = raw[col].astype(object)
        empty = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
        flag(empty, f"missing {col}")
        out[col] = values.where(~empty, None).map(lambda v: None if v is None else str(v))
    days = pd.to_datetime(raw["day"], errors="coerce")
    flag(days.isna().to_numpy(), "day: not a date")
    out["day"] = days.dt.date
    for col, default in (("events", 0), ("minutes", 0.0)):
        if col not in raw.columns:
            out[col] = np.full(n, default)
            continue
        values = pd.to_numeric(raw[col], errors="coerce")
        flag((raw[col].notna() & values.isna()).to_numpy(), f"{col}: not a number")
        flag((values < 0).to_numpy(), f"{col}: below 0")
        out[col] = values.fillna(default)
    frame = pd.DataFrame(out)
    frame["_where"] = where
    rejected = [Rejection(str(w), str(r)) for w, r in zip(where[bad], reasons[bad], strict=True)]
    frame = frame[~bad].reset_index(drop=True)
    frame["events"] = frame["events"].astype("int64")
    frame["minutes"] = frame["minutes"].astype(float)
    good_days = days[~bad]
    day_max = good_days.max().date() if len(good_days) else None
    return frame, rejected, day_max
