"""Daily integration runs and failures of the sample workspace."""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.sample.context import Accounts, Run
from connectors.sample.stories import STORY_ROW
from connectors.sample.usage import FeaturePlan
from connectors.sample.vocabulary import FEATURE_INDEX, INTEGRATIONS

INTEGRATION_SHARE = np.array([0.3, 0.15, 0.25, 0.15, 0.07, 0.04, 0.04])
"""How common each of :data:`INTEGRATIONS` is among the accounts that use integrations."""
FAILING_INTEGRATIONS = np.array([0, 3])
"""The integration-failing story's integrations (salesforce-sync and webhooks)."""
FAILING_RATE = 0.35
"""Its failure rate over the last 30 days (0.02 before; others 0.1% - 1.5%)."""


def integrations(run: Run, acc: Accounts, plan: FeaturePlan) -> pd.DataFrame:
    """Daily runs and failures of 1-3 integrations per account that uses them."""
    rng = run.rng("integrations")
    pair_acc, pair_int = _pairs(run, rng, acc, plan)
    begin = np.maximum(acc.start_d[pair_acc] + 7, 0)
    begin = np.maximum(begin, plan.starts[pair_acc, FEATURE_INDEX["integrations"]])
    length = np.maximum(acc.end_d[pair_acc] - begin, 0)
    cell_pair = np.repeat(np.arange(len(pair_acc)), length)
    offsets = np.arange(len(cell_pair)) - np.repeat(np.cumsum(length) - length, length)
    cell_day = begin[cell_pair] + offsets
    seats = acc.seats[pair_acc].astype(np.float64)
    base = np.select(
        [pair_int <= 1, pair_int == 2, pair_int == 3, pair_int == 4, pair_int == 5],
        [
            np.full(len(pair_acc), 24.0),
            3 + 0.6 * seats,
            10 + 2 * seats,
            5 + 0.3 * seats,
            np.full(len(pair_acc), 4.0),
        ],
        12.0,
    )
    weekend = np.array([x.weekday() >= 5 for x in run.dates])[cell_day]
    human = np.isin(pair_int[cell_pair], [2, 3, 4])
    lam = base[cell_pair] * np.where(weekend & human, 0.2, 1.0)
    runs = rng.poisson(lam)
    rate = rng.uniform(0.001, 0.015, len(pair_acc))[cell_pair]
    failing = pair_acc[cell_pair] == STORY_ROW["integration_failing"]
    rate = np.where(failing, np.where(cell_day > run.ago(30), FAILING_RATE, 0.02), rate)
    failures = rng.binomial(runs, rate)
    keep = runs > 0
    account_ext = np.array(acc.ext, dtype=object)
    return pd.DataFrame(
        {
            "account_external_id": account_ext[pair_acc[cell_pair]][keep],
            "integration": np.array(INTEGRATIONS, dtype=object)[pair_int[cell_pair]][keep],
            "day": np.array(run.dates, dtype=object)[cell_day][keep],
            "runs": runs[keep].astype(np.int64),
            "failures": failures[keep].astype(np.int64),
        }
    )


def _pairs(
    run: Run, rng: np.random.Generator, acc: Accounts, plan: FeaturePlan
) -> tuple[np.ndarray, np.ndarray]:
    """(account row, integration) of every integration in use."""
    uses = np.flatnonzero(plan.weights[:, FEATURE_INDEX["integrations"]] > 0)
    uses = uses[acc.end_d[uses] > np.maximum(acc.start_d[uses], 0) + 7]
    pairs_acc: list[int] = []
    pairs_int: list[int] = []
    for i in uses:
        k = 1 + int(rng.random() < 0.5) + int(rng.random() < 0.2)
        picks = rng.choice(len(INTEGRATIONS), size=k, replace=False, p=INTEGRATION_SHARE)
        if i == STORY_ROW["integration_failing"]:
            picks = FAILING_INTEGRATIONS
        pairs_acc.extend([int(i)] * len(picks))
        pairs_int.extend(int(x) for x in picks)
    return np.array(pairs_acc, dtype=np.int64), np.array(pairs_int, dtype=np.int64)
