"""Settings of ``pulse metrics`` and of the manager digest's retention line (key ``metrics``
of ``pulse.yml``; the figures are defined in docs/metrics.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from pulse.kernel.config.base import StrictModel

Probability = Annotated[float, Field(ge=0, le=1)]


class MetricsConfig(StrictModel):
    """Settings of ``pulse metrics`` and the retention line of the manager digest
    (definitions in docs/metrics.md)."""

    period_months: int = Field(
        12, ge=1, le=60,
        description="Default period: this many months up to --to (and the digest's period).",
    )
    stage_probabilities: dict[str, Probability] = Field(
        default_factory=lambda: {
            "Discovery": 0.1, "Proposal": 0.4, "Negotiation": 0.7, "Committed": 0.9
        },
        description="Expansion opportunity stage -> probability of closing (0-1); stage "
        "names are matched ignoring case and surrounding spaces.",
    )
    default_stage_probability: Probability = Field(
        0.1, description="Probability of a stage not listed in stage_probabilities."
    )
    adoption_days: int = Field(
        4, ge=1, le=365,
        description="Adopted: a core feature used on at least this many distinct days ...",
    )
    adoption_window_days: int = Field(30, ge=1, le=365, description="... in this many days.")
    improvement_days: int = Field(
        60, ge=1, le=365,
        description="An acknowledged alert's account counts as improved when it reaches a "
        "higher health tier within this many days.",
    )

    @field_validator("stage_probabilities")
    @classmethod
    def _distinct_stages(cls, value: dict[str, float]) -> dict[str, float]:
        seen: dict[str, str] = {}
        for name in value:
            key = name.strip().lower()
            if not key:
                raise ValueError("a stage name is empty")
            if key in seen:
                raise ValueError(f"stages '{seen[key]}' and '{name}' differ only in case")
            seen[key] = name
        return value

    @model_validator(mode="after")
    def _adoption_fits_window(self) -> MetricsConfig:
        if self.adoption_days > self.adoption_window_days:
            raise ValueError("adoption_days cannot exceed adoption_window_days")
        return self
