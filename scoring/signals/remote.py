"""The usage figures per account from an engine outside Pulse's database.

The statements are :mod:`scoring.signals.activity`'s, built for the engine's dialect;
only the route differs (:mod:`storage.usage_engine`):

* **DuckDB** (a ``.duckdb`` file, Parquet or CSV files read in place) is handed the
  contacts of the usage's source (:func:`~scoring.signals.activity.people_stmt`, one
  narrow frame read from Pulse's database) and computes the whole per-account roll-up:
  one row per account comes back.
* **A warehouse** cannot be handed Pulse's contacts, so it computes the per-user figures
  (:func:`~scoring.signals.activity.per_user_stmt`: one row per active user, never a raw
  usage row) and a local in-memory DuckDB rolls them up with the contacts.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from pulse.kernel.config import ScoringConfig
from scoring.signals.activity import (
    PEOPLE_TABLE,
    UsagePlan,
    engine_people,
    per_user_stmt,
    per_user_table,
    usage_rollup_stmt,
)
from storage.usage_engine import UsageEngine, local_duckdb

PER_USER_TABLE = "pulse_per_user"
"""The name of a warehouse's per-user rows in the local DuckDB that rolls them up."""
_TEXT_OR_DATE = ("user_id", "last_day", "first_core_day")


def _numbers(per_user: pd.DataFrame) -> pd.DataFrame:
    """Drivers hand sums back as ``Decimal`` (Snowflake's NUMBER): figures become floats,
    feature and day masks exact integers (a float holds only 53 of a mask's 60 bits)."""
    out = per_user.copy()
    for col in out.columns:
        if col in _TEXT_OR_DATE:
            continue
        if col.startswith(("fnow_", "dmask_")):
            out[col] = out[col].map(lambda v: None if pd.isna(v) else int(v)).astype("Int64")
        else:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out


def remote_activity(
    engine: UsageEngine, plan: UsagePlan, cfg: ScoringConfig, people: pa.Table
) -> pd.DataFrame:
    """Usage figures per account (the columns of
    :func:`~scoring.signals.activity.usage_rollup_stmt`) from ``engine``; ``people`` is
    the Arrow table of :func:`~scoring.signals.activity.people_stmt`."""
    who = engine_people()
    if engine.kind == "duckdb":
        return engine.frame(None, usage_rollup_stmt(plan, cfg, who), {PEOPLE_TABLE: people})
    per_user = _numbers(engine.frame(None, per_user_stmt(plan)))
    if per_user.empty:  # DuckDB cannot type an empty frame's object columns
        per_user = per_user.astype({"user_id": "string"})
    local = local_duckdb()
    try:
        rollup = usage_rollup_stmt(plan, cfg, who, per_user_table(plan, PER_USER_TABLE))
        return local.frame(None, rollup, {PEOPLE_TABLE: people, PER_USER_TABLE: per_user})
    finally:
        assert local.engine is not None
        local.engine.dispose()
