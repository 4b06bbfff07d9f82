"""Health tiers: their names, the words people read, and their order of concern.

The one owner of this vocabulary: the scorer assigns these names
(``scoring.components.assign_tier``), Slack cards, the terminal and CRM fields show
:data:`TIER_LABELS`, and alerts compare :data:`TIER_RANK`.
"""

from __future__ import annotations

HEALTH_TIERS = ("healthy", "fine", "at_risk")
"""Every tier, best first."""

TIER_LABELS = {"healthy": "Healthy", "fine": "Fine", "at_risk": "At risk"}
"""How a tier is written wherever a person reads it (Slack, terminal, CRM picklists)."""

TIER_RANK = {"healthy": 0, "fine": 1, "at_risk": 2}
"""Higher is worse: a move to a higher rank is a drop in health."""


def tier_label(tier: str | None, missing: str = "unscored") -> str:
    """The label of ``tier``; an unknown name as it is; ``missing`` when there is none."""
    return TIER_LABELS.get(tier or "", str(tier or missing))
