"""Portfolio metrics (retention, churn, at-risk ARR, adoption, ...) as pure functions.

Each function takes DataFrames (no database) and returns one row per group: the first
row, labelled :data:`TOTAL`, covers every account; with ``by`` (one of
:data:`BREAKDOWNS`) one row per value of that account attribute follows. Counts and
amounts of the group rows add up to the total row; rates are recomputed from each row's
own counts and amounts, never averaged. Every definition, with its formula and edge
cases, is in docs/metrics.md; the service (``pulse.services.metrics``) loads the frames.

Frames, by column:

* ``accounts``: account_id, segment, region, tier (commercial: smb / mid-market /
  enterprise), csm (owner name), health (tier on the end date, see :func:`with_health`),
  lifecycle, contract_start, renewal_date;
* ``ledger``: account_id, effective_on, arr: the ARR ledger (``storage.models.ArrChange``);
* ``snapshots``: account_id, as_of, tier, renewal_risk (score snapshots);
* ``alerts``: alert_id, account_id, acknowledged_on (date);
* ``opportunities``: account_id, kind, stage, amount, close_date, is_closed.

A period is a first and last day, both included: start-of-period figures are taken at
the close of the day before the first day (:attr:`Period.opening`), end-of-period figures
at the close of the last day, so a change effective on the first day belongs to the
period.

Parts: :mod:`~scoring.metrics.base` (breakdowns, periods, shared helpers),
:mod:`~scoring.metrics.revenue`, :mod:`~scoring.metrics.health`,
:mod:`~scoring.metrics.product` and :mod:`~scoring.metrics.commercial`.
"""

from scoring.metrics.base import (
    BREAKDOWNS,
    EPSILON,
    HEALTH_RANK,
    NO_VALUE,
    RENEWAL_RISKS,
    TOTAL,
    UNSCORED,
    Period,
    arr_on,
    snapshot_on,
    with_health,
)
from scoring.metrics.commercial import (
    Forecast,
    expansion_forecast,
    renewal_pipeline,
    stage_probability,
)
from scoring.metrics.health import at_risk_arr, health_distribution
from scoring.metrics.product import adoption, improvement_rate, time_to_value
from scoring.metrics.revenue import BRIDGE_SUMS, account_bridge, revenue_bridge

__all__ = [
    "BREAKDOWNS",
    "BRIDGE_SUMS",
    "EPSILON",
    "HEALTH_RANK",
    "NO_VALUE",
    "RENEWAL_RISKS",
    "TOTAL",
    "UNSCORED",
    "Forecast",
    "Period",
    "account_bridge",
    "adoption",
    "arr_on",
    "at_risk_arr",
    "expansion_forecast",
    "health_distribution",
    "improvement_rate",
    "renewal_pipeline",
    "revenue_bridge",
    "snapshot_on",
    "stage_probability",
    "time_to_value",
    "with_health",
]
