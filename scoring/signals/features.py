"""What a feature is worth: value weights of the product's features."""

from __future__ import annotations

from pulse.kernel.config import ScoringConfig

CORE_FEATURE_WEIGHT = 3.0
"""A core feature's default value weight: one core action counts as three minor ones."""
DEFAULT_FEATURE_WEIGHT = 1.0
"""The value weight of a feature that is neither core nor given a weight."""


def feature_weights(cfg: ScoringConfig) -> dict[str, float]:
    """Value weight per feature: core features 3, explicit ``feature_weights`` override.

    An explicit entry wins over the core default so a workspace can say "api is core but
    worth 5" without editing two lists. Features not listed weigh 1.
    """
    weights = {f: CORE_FEATURE_WEIGHT for f in cfg.core_features}
    weights.update({f: float(w) for f, w in cfg.feature_weights.items()})
    return weights


def feature_weight(feature: str, cfg: ScoringConfig) -> float:
    """One feature's value weight (what the SQL aggregation gives each usage row)."""
    return feature_weights(cfg).get(feature, DEFAULT_FEATURE_WEIGHT)
