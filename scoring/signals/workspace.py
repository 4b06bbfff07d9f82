"""Workspace facts of a run: which sources are connected, how far back usage goes, and
the feature catalogue; read per date, or for many dates from one usage calendar. The
usage facts are asked of the engine holding the usage (:mod:`storage.usage_engine`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.kernel.config import UsageEngineConfig
from scoring.signals.windows import Windows, WorkspaceMeta
from storage.models import DELETED_TICKET_STATUS, IntegrationDaily, SurveyResponse, Ticket
from storage.tuning import AnySelect
from storage.usage_engine import UsageEngine, usage_engine
from storage.usage_sql import unindexed


@dataclass(frozen=True)
class UsageCalendar:
    """The (day, feature) pairs with activity over a range of days, read in one pass.

    The workspace facts of a run (first usage day and feature catalogue of its two
    windows) each cost a scan of the whole usage table on SQLite, which has no index
    leading with ``day``. A backtest scoring many past dates reads this once for its whole
    range (:func:`usage_calendar`) and hands it to :func:`~scoring.signals.load_signals`,
    which then answers those questions from it: the same filter (``events > 0``, both
    windows), so the same facts as :func:`workspace_meta` queries.
    """

    start: date
    end: date
    days: np.ndarray
    """``datetime64[D]``, one entry per (day, feature) pair."""
    features: np.ndarray

    def covers(self, first: date, last: date) -> bool:
        return self.start <= first and last <= self.end

    @property
    def last_day(self) -> date | None:
        """The latest day with activity in the range (None if none)."""
        return self.days.max().astype(date) if len(self.days) else None

    def first_day_and_catalogue(
        self, first: date, last: date
    ) -> tuple[date | None, tuple[str, ...]]:
        """First active day and sorted distinct features between the two dates."""
        inside = (self.days >= np.datetime64(first, "D")) & (
            self.days <= np.datetime64(last, "D")
        )
        if not inside.any():
            return None, ()
        day = self.days[inside].min().astype(date)
        return day, tuple(sorted(set(self.features[inside].tolist())))


def usage_calendar(
    session: Session, start: date, end: date | None = None, engine: UsageEngine | None = None
) -> UsageCalendar:
    """Every (day, feature) with activity from ``start`` (to ``end``): one grouped scan
    of the usage where it lives (``engine``; Pulse's ``usage_daily`` by default)."""
    engine = engine or usage_engine_default()
    usage = engine.usage
    stmt = (
        select(usage.day, usage.feature)
        .select_from(usage.source)
        .where(usage.day >= start, usage.events > 0)
    )
    if end is not None:
        stmt = stmt.where(usage.day <= end)
    rows = engine.rows(session, stmt.group_by(usage.day, usage.feature))
    days = pd.to_datetime(pd.Series([r[0] for r in rows], dtype=object)).to_numpy(
        dtype="datetime64[D]"
    )
    features = np.array([r[1] for r in rows], dtype=object)
    return UsageCalendar(start=start, end=end or date.max, days=days, features=features)


def usage_engine_default() -> UsageEngine:
    """Pulse's own ``usage_daily`` (the engine of a default configuration)."""
    return usage_engine(UsageEngineConfig())


def _first_day_and_catalogue(
    session: Session, windows: Windows, engine: UsageEngine
) -> tuple[date | None, tuple[str, ...]]:
    """First active usage day and sorted feature catalogue of both windows, queried in
    one grouped scan (each feature's first day): the earliest day and the catalogue as
    two statements read the windows twice."""
    usage = engine.usage
    day = unindexed(usage.day)
    stmt = (
        select(usage.feature, func.min(usage.day))
        .select_from(usage.source)
        .where(day >= windows.prev_start, day <= windows.as_of, usage.events > 0)
        .group_by(usage.feature)
    )
    rows = engine.rows(session, stmt)
    if not rows:
        return None, ()
    first_day = min(r[1] for r in rows)
    catalogue = tuple(sorted(r[0] for r in rows))
    if isinstance(first_day, str):  # defensive: some drivers hand back ISO strings
        first_day = date.fromisoformat(first_day)
    if isinstance(first_day, datetime):  # a file whose day column holds timestamps
        first_day = first_day.date()
    return first_day, catalogue


def workspace_meta(
    session: Session,
    windows: Windows,
    calendar: UsageCalendar | None = None,
    engine: UsageEngine | None = None,
) -> WorkspaceMeta:
    """Workspace facts: is usage connected, how far back it goes, the feature catalogue
    (asked of ``engine``, Pulse's ``usage_daily`` by default), and whether tickets,
    surveys and integrations are connected at all."""
    if calendar is not None and calendar.covers(windows.prev_start, windows.as_of):
        first_day, catalogue = calendar.first_day_and_catalogue(windows.prev_start, windows.as_of)
    else:
        first_day, catalogue = _first_day_and_catalogue(
            session, windows, engine or usage_engine_default()
        )

    def exists(stmt: AnySelect) -> bool:
        return session.execute(stmt.limit(1)).first() is not None

    return WorkspaceMeta(
        windows=windows,
        has_usage=first_day is not None,
        usage_first_day=first_day,
        catalogue=catalogue,
        has_tickets=exists(select(Ticket.id).where(
            Ticket.created_at < windows.end_dt, Ticket.status != DELETED_TICKET_STATUS)),
        has_surveys=exists(
            select(SurveyResponse.id).where(SurveyResponse.responded_at < windows.end_dt)
        ),
        has_integrations=exists(
            select(IntegrationDaily.id).where(IntegrationDaily.day <= windows.as_of)
        ),
    )
