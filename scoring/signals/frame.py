"""The per-account signal frame: its columns, their defaults, and how it is put together."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pulse.kernel.config import ScoringConfig
from scoring.signals.windows import Windows, WorkspaceMeta

COUNT_COLUMNS: tuple[str, ...] = (
    "active_users",
    "user_days",
    "features_used",
    "weighted_features_used",
    "core_features_used",
    "active_users_prev",
    "weighted_events",
    "weighted_events_prev",
    "core_events",
    "departments_active",
    "departments_active_prev",
    "stakeholders_active",
    "stakeholders_active_prev",
    "contacts",
    "main_contacts",
    "main_deactivated",
    "owner_contacts",
    "power_users",
    "power_users_active",
    "power_users_deactivated",
    "departments",
    "integration_runs",
    "integration_failures",
    "failing_integrations",
    "integration_runs_7d",
    "integration_failures_7d",
    "tickets_90d",
    "open_urgent_high",
    "new_urgent_high",
    "bad_satisfaction_90d",
    "good_satisfaction_90d",
    "negative_sentiment_90d",
    "negative_sentiment_flag",
    "nps_responses",
    "csat_responses",
    "invoices_on_file",
    "overdue_invoices",
    "overdue_amount",
)
"""Figures that are genuinely zero when the account has no matching rows."""

DATE_COLUMNS: tuple[str, ...] = (
    "contract_start",
    "renewal_date",
    "churned_on",
    "main_last_day",
    "owner_last_day",
    "main_created_on",
    "owner_created_on",
    "main_last_seen_at",
    "owner_last_seen_at",
    "power_user_deactivated_at",
    "last_active_day",
    "first_core_day",
    "nps_latest_at",
    "oldest_overdue_due_on",
    "prev1_as_of",
    "prev2_as_of",
    "csm_until",
)
"""Dates and timestamps, kept as ``datetime64`` (NaT when unknown)."""

FLOAT_COLUMNS: tuple[str, ...] = (
    "arr",
    "licensed_seats",
    "nps_latest",
    "csat_avg",
    "prev1_score",
    "prev2_score",
    "csm_score",
)
"""Figures that are unknown (NaN), not zero, when missing."""

SUMMED_FLOAT_COLUMNS: tuple[str, ...] = (
    "weighted_events",
    "weighted_events_prev",
    "weighted_features_used",
    "overdue_amount",
    "csat_avg",
)
"""Sums (and an average) of floats that the database adds in an order its plan decides:
PostgreSQL may give ``x`` or ``x`` plus one last bit for the same rows, and a figure such
as 4.05 then shows 4.0 in one run and 4.1 in the next."""
SUM_DECIMALS = 6
"""Decimals those sums keep: far below what any figure shows (two at most), far above
the last-bit noise of adding up to millions of values (about 1e-9 at 1e7), so the same
rows give the same figure on every engine and plan."""

TEXT_COLUMNS: tuple[str, ...] = (
    "account_name",
    "lifecycle",
    "segment",
    "main_contact_name",
    "owner_contact_name",
    "power_user_deactivated_name",
    "failing_integration_name",
    "csm_kind",
    "csm_sentiment",
    "csm_reason",
    "csm_author",
)
"""Words, None when missing."""

DEFAULT_LIFECYCLE = "paid"
"""An account without a lifecycle on file is a paying customer."""


@dataclass
class Signals:
    """Per-account raw figures (index ``account_id``) plus the workspace facts."""

    frame: pd.DataFrame
    meta: WorkspaceMeta
    timings: dict[str, float] = field(default_factory=dict)


def assemble_frame(accounts: pd.DataFrame, parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Left-join every per-account part onto the accounts and normalise dtypes."""
    frame = accounts.set_index("account_id")
    frame.index = frame.index.astype("int64")
    for part in parts:
        if part.empty:
            continue
        part = part.set_index("account_id")
        part.index = part.index.astype("int64")
        frame = frame.join(part, how="left")
    return normalise_frame(frame)


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Give every expected column the right dtype and default, whatever its origin.

    Missing counts become 0 (no rows = nothing happened), missing values stay NaN/NaT
    (unknown), so later stages can tell "zero" from "no data". Summed floats keep
    :data:`SUM_DECIMALS` decimals, so their last bit does not depend on the query plan.
    """
    frame = frame.copy()
    for col in COUNT_COLUMNS:
        if col not in frame.columns:
            frame[col] = 0.0
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64").fillna(0.0)
    for col in FLOAT_COLUMNS:
        if col not in frame.columns:
            frame[col] = np.nan
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in DATE_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.NaT
        frame[col] = pd.to_datetime(frame[col], errors="coerce").astype("datetime64[us]")
    for col in SUMMED_FLOAT_COLUMNS:
        frame[col] = frame[col].round(SUM_DECIMALS)
    for col in TEXT_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    if "owner_id" not in frame.columns:
        frame["owner_id"] = np.nan
    frame["lifecycle"] = frame["lifecycle"].fillna(DEFAULT_LIFECYCLE)
    frame.index.name = "account_id"
    return frame


def make_signals(
    records: Iterable[Mapping[str, Any]],
    as_of: date,
    cfg: ScoringConfig,
    *,
    has_usage: bool = True,
    usage_first_day: date | None = None,
    catalogue: Iterable[str] | None = None,
    has_tickets: bool = True,
    has_surveys: bool = True,
    has_integrations: bool = True,
) -> Signals:
    """Build :class:`Signals` from hand-written per-account records (tests, what-ifs).

    Records hold any of the signal columns plus ``account_id``; everything else takes the
    same defaults as accounts without rows in the database.
    """
    windows = Windows.build(as_of, cfg)
    frame = pd.DataFrame.from_records(list(records))
    if "account_id" not in frame.columns:
        frame["account_id"] = range(1, len(frame) + 1)
    frame = normalise_frame(frame.set_index("account_id"))
    if catalogue is None:
        catalogue = ("login", "search", *cfg.core_features)
    meta = WorkspaceMeta(
        windows=windows,
        has_usage=has_usage,
        usage_first_day=usage_first_day if usage_first_day is not None else windows.prev_start,
        catalogue=tuple(catalogue),
        has_tickets=has_tickets,
        has_surveys=has_surveys,
        has_integrations=has_integrations,
    )
    return Signals(frame=frame, meta=meta)
