"""Per-account raw signals as of a date, aggregated inside the database.

Why it is built this way:

* **Aggregation happens in SQL** (SQLAlchemy Core ``select ... GROUP BY``), so pandas
  only ever receives one row of figures per account and query, never raw usage rows.
  Usage is read in ONE pass (:mod:`scoring.signals.activity`): per user first, then
  rolled up per account together with the contacts, because that pass dominates the cost
  of a run.
* **Nothing dated after ``as_of`` is read.** Every query is bounded above by ``as_of``
  (dates) or by ``as_of + 1 day, 00:00`` (timestamps), and "current state" columns that
  could leak the future are reinterpreted: an invoice paid after ``as_of`` counts as unpaid,
  a ticket solved after ``as_of`` counts as open, ``last_seen_at`` after ``as_of`` is ignored.
  A backtest that recomputes a past score therefore sees what a CSM would have seen.
* **Same figures on every engine.** Dates are compared with bound ``date`` /
  ``datetime`` parameters and day differences are computed in pandas. The dialect
  branches are for speed only, compute the same numbers (the DB tests pin exact figures
  on SQLite and PostgreSQL, and compare DuckDB and a warehouse with them) and live with
  storage: :mod:`storage.usage_sql` phrases the usage aggregation for each database
  (bitmasks, the feature table, scans instead of index walks), :mod:`storage.tuning`
  runs it (server settings, parallel connections).
* **Usage is aggregated where it lives** (``scoring.usage``): Pulse's ``usage_daily``,
  DuckDB over Parquet/CSV files or a ``.duckdb`` file, or a warehouse by URL
  (:mod:`storage.usage_engine`); :mod:`~scoring.signals.remote` takes the outside routes.

Parts: :mod:`~scoring.signals.windows` (the dates of a run, the lookbacks),
:mod:`~scoring.signals.features` (feature value weights),
:mod:`~scoring.signals.accounts` (who is scored), :mod:`~scoring.signals.workspace`
(which sources are connected, the feature catalogue), :mod:`~scoring.signals.activity`
and :mod:`~scoring.signals.sources` (the queries), :mod:`~scoring.signals.frame` (the
frame's columns and defaults) and :mod:`~scoring.signals.load`.

The public entry point is :func:`load_signals`; :func:`make_signals` builds the same
structure from hand-written records for pure tests and what-if analysis. Scoring many
dates in a row (the backtest) reads the usage calendar once (:func:`usage_calendar`),
the accounts once (:func:`account_roster`) and the contacts an outside usage engine is
handed once (:func:`engine_contacts`) and hands them to each call.
"""

from scoring.signals.accounts import AccountRoster, account_roster
from scoring.signals.features import DEFAULT_FEATURE_WEIGHT, feature_weight, feature_weights
from scoring.signals.frame import Signals, make_signals
from scoring.signals.load import engine_contacts, load_signals
from scoring.signals.windows import (
    INTEGRATION_RECENT_DAYS,
    ONBOARDING_MAX_AGE_DAYS,
    PREVIOUS_WINDOW_SLACK_DAYS,
    SNAPSHOT_LOOKBACK_DAYS,
    TICKET_LOOKBACK_DAYS,
    Windows,
    WorkspaceMeta,
)
from scoring.signals.workspace import (
    UsageCalendar,
    usage_calendar,
    usage_engine_default,
    workspace_meta,
)

__all__ = [
    "DEFAULT_FEATURE_WEIGHT",
    "INTEGRATION_RECENT_DAYS",
    "ONBOARDING_MAX_AGE_DAYS",
    "PREVIOUS_WINDOW_SLACK_DAYS",
    "SNAPSHOT_LOOKBACK_DAYS",
    "TICKET_LOOKBACK_DAYS",
    "AccountRoster",
    "Signals",
    "UsageCalendar",
    "Windows",
    "WorkspaceMeta",
    "account_roster",
    "engine_contacts",
    "feature_weight",
    "feature_weights",
    "load_signals",
    "make_signals",
    "usage_calendar",
    "usage_engine_default",
    "workspace_meta",
]
