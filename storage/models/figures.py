"""The workspace-relative figures of the latest scoring run, kept for live rescoring."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class ScoringFigures(Base):
    """What a scoring run derived from the whole workspace (usage baselines, peer groups'
    values, tier cut-offs, the workspace facts), so live rescoring can score a few
    accounts exactly as that run would have (``scoring.figures``).

    One row per scored date, and only the latest date's is kept: each run replaces its
    own and removes older ones (a few MB at 100,000 accounts). ``fingerprint`` names the
    scoring settings the figures were derived with; ``peer_values`` holds the peer groups'
    sorted values as float64 bytes, located by ``figures``.
    """

    __tablename__ = "scoring_figures"

    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime)
    fingerprint: Mapped[str] = mapped_column(String(64))
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    peer_values: Mapped[bytes] = mapped_column(LargeBinary)
