"""Health components: raw signals -> normalised values in [0, 1] -> points -> score.

Every component is a pure, vectorised function of the per-account signal frame. Each
returns a value in ``[0, 1]`` or ``NaN`` when the account (or the workspace) has no data
for it, the raw figures behind the value, and a one-line human ``detail``. Curves are
deliberately simple (ramps and half-saturation) so that a CSM can be told exactly why a
number is what it is: "half marks at 60 value-weighted actions per active user a month".

Missing data is never a silent zero: :func:`combine` leaves components without data out
and renormalises the weights of the rest, and the detail text says what is missing.

Parts: :mod:`~scoring.components.base` (keys, labels, the result type),
:mod:`~scoring.components.curves`, the components measured from usage
(:mod:`~scoring.components.usage`) and from the relationship
(:mod:`~scoring.components.relationship`), :mod:`~scoring.components.combine` (points,
score, tier) and :mod:`~scoring.components.entries` (what a snapshot stores).
"""

from __future__ import annotations

from collections.abc import Callable

from pulse.kernel.config import ScoringConfig
from scoring.components.base import (
    COMPONENT_KEYS,
    COMPONENT_LABELS,
    DATA_COMPONENT_KEYS,
    OPTIONAL_COMPONENTS,
    ComponentResult,
    as_number,
)
from scoring.components.combine import (
    Combined,
    apply_score_overrides,
    assign_tier,
    combine,
    pinned_scores,
    portfolio_thresholds,
    round_points,
)
from scoring.components.curves import seat_curve
from scoring.components.entries import component_entries
from scoring.components.relationship import (
    SENTIMENT_VALUES,
    contract_component,
    csm_component,
    engagement_component,
)
from scoring.components.usage import (
    breadth_component,
    seats_component,
    trend_component,
    usage_baselines,
    usage_component,
)
from scoring.signals import Signals

COMPONENT_FUNCTIONS: dict[str, Callable[[Signals, ScoringConfig], ComponentResult]] = {
    "usage": usage_component,
    "breadth": breadth_component,
    "seats": seats_component,
    "engagement": engagement_component,
    "contract": contract_component,
    "trend": trend_component,
    "csm": csm_component,
}


def compute_components(signals: Signals, cfg: ScoringConfig) -> dict[str, ComponentResult]:
    """Every component for every account, keyed like the configured weights."""
    return {key: fn(signals, cfg) for key, fn in COMPONENT_FUNCTIONS.items()}


__all__ = [
    "COMPONENT_FUNCTIONS",
    "COMPONENT_KEYS",
    "COMPONENT_LABELS",
    "DATA_COMPONENT_KEYS",
    "OPTIONAL_COMPONENTS",
    "SENTIMENT_VALUES",
    "Combined",
    "ComponentResult",
    "apply_score_overrides",
    "as_number",
    "assign_tier",
    "combine",
    "component_entries",
    "compute_components",
    "pinned_scores",
    "portfolio_thresholds",
    "round_points",
    "seat_curve",
    "usage_baselines",
]
