"""Workspace-relative figures of a scoring run, stored for live rescoring.

A score is relative to the workspace: usage is measured against workspace medians
(:func:`scoring.components.usage.usage_baselines`), peer percentiles rank an account
within its segment and seat band (:mod:`scoring.peers`), tiers in ``shares`` mode are cut
at the portfolio's quantiles (:func:`scoring.components.portfolio_thresholds`), and the
workspace facts (which sources are connected, the feature catalogue:
:class:`~scoring.signals.WorkspaceMeta`) decide what counts as "no data". A full run
derives all of these from every account (:class:`WorkspaceFigures`); the daily run stores
them (:func:`save_figures`) and live rescoring reads them back (:func:`cached_figures`) to
score only the accounts a batch of events touched, in time proportional to that batch.
Given the same figures, an account's score, tier and components do not depend on which
other accounts are scored with it (a test compares both ways on the sample workspace).

Figures are usable for the date they were derived for, with the scoring settings they were
derived with (:func:`fingerprint`), for ``live.figures_max_age_hours``; otherwise live
rescoring scores the whole workspace once and stores fresh ones.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pulse.kernel.config import ScoringConfig
from pulse.kernel.config.scoring import TierThresholds
from scoring.signals import Windows, WorkspaceMeta
from storage.models import ScoringFigures

FIGURES_FORMAT = 1
"""Version of the stored layout; figures stored under another are not read."""

PeerTable = dict[str, dict[str, np.ndarray]]
"""Per usage component key, each peer group's sorted values (:func:`scoring.peers.peer_values`)."""


@dataclass(frozen=True)
class WorkspaceFigures:
    """Everything a scoring run derives from the whole workspace, for one date."""

    meta: WorkspaceMeta
    """The workspace facts, with :attr:`~WorkspaceMeta.usage_baselines` set."""
    peers: PeerTable
    thresholds: TierThresholds
    """The tier cut-offs the run applied (``thresholds`` mode, shares resolved)."""


def fingerprint(cfg: ScoringConfig) -> str:
    """A digest of the scoring settings (figures derived under others are not reused)."""
    text = f"{FIGURES_FORMAT}:{cfg.model_dump_json()}"
    return hashlib.sha256(text.encode()).hexdigest()


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None  # JSON has no infinity: None stands for it


def _document(figures: WorkspaceFigures) -> tuple[dict[str, Any], bytes]:
    meta, cut = figures.meta, figures.thresholds
    located: dict[str, list[list[Any]]] = {}
    chunks: list[bytes] = []
    offset = 0
    for key, groups in figures.peers.items():
        located[key] = []
        for group, values in groups.items():
            located[key].append([group, offset, len(values)])
            chunks.append(np.ascontiguousarray(values, dtype="<f8").tobytes())
            offset += len(values)
    doc = {
        "usage_first_day": meta.usage_first_day.isoformat() if meta.usage_first_day else None,
        "catalogue": list(meta.catalogue),
        "has": [meta.has_usage, meta.has_tickets, meta.has_surveys, meta.has_integrations],
        "usage_baselines": list(meta.usage_baselines or ()),
        "thresholds": {
            "healthy": _finite(cut.healthy), "at_risk": _finite(cut.at_risk),
            "at_risk_share": cut.at_risk_share, "healthy_share": cut.healthy_share,
        },
        "peers": located,
    }
    return doc, b"".join(chunks)


def _from_document(doc: dict[str, Any], blob: bytes, as_of: date,
                   cfg: ScoringConfig) -> WorkspaceFigures:
    values = np.frombuffer(blob, dtype="<f8")
    peers = {
        key: {group: values[start:start + n].copy() for group, start, n in groups}
        for key, groups in doc["peers"].items()
    }
    first = doc["usage_first_day"]
    has_usage, has_tickets, has_surveys, has_integrations = doc["has"]
    freq, depth = doc["usage_baselines"]
    meta = WorkspaceMeta(
        windows=Windows.build(as_of, cfg), has_usage=has_usage,
        usage_first_day=date.fromisoformat(first) if first else None,
        catalogue=tuple(doc["catalogue"]), has_tickets=has_tickets, has_surveys=has_surveys,
        has_integrations=has_integrations, usage_baselines=(float(freq), float(depth)),
    )
    cut = doc["thresholds"]

    def bound(x: float | None) -> float:
        return math.inf if x is None else float(x)

    thresholds = TierThresholds.model_construct(  # as portfolio_thresholds builds them
        mode="thresholds", healthy=bound(cut["healthy"]), at_risk=bound(cut["at_risk"]),
        at_risk_share=cut["at_risk_share"], healthy_share=cut["healthy_share"],
    )
    return WorkspaceFigures(meta=meta, peers=peers, thresholds=thresholds)


def save_figures(
    session: Session, cfg: ScoringConfig, figures: WorkspaceFigures, computed_at: datetime
) -> bool:
    """Store ``figures`` as those of their date, replacing that date's and dropping older
    dates' (in the caller's transaction, under a savepoint). False when another process
    stored the same date's at the same moment (theirs stand)."""
    as_of = figures.meta.windows.as_of
    doc, blob = _document(figures)
    table = ScoringFigures
    try:
        with session.begin_nested():
            session.execute(delete(table).where(table.as_of == as_of))
            session.add(table(as_of=as_of, computed_at=computed_at, fingerprint=fingerprint(cfg),
                              figures=doc, peer_values=blob))
            session.flush()
            newest = select(func.max(table.as_of)).scalar_subquery()
            session.execute(delete(table).where(table.as_of < newest))
    except IntegrityError:
        return False
    return True


def cached_figures(
    session: Session, cfg: ScoringConfig, as_of: date, now: datetime, max_age_hours: float
) -> tuple[WorkspaceFigures | None, str]:
    """The stored figures of ``as_of`` if usable, else None and why not."""
    row = session.get(ScoringFigures, as_of)
    if row is None:
        return None, f"no workspace figures stored for {as_of}"
    age = (now - row.computed_at).total_seconds() / 3600.0
    if age > max_age_hours:
        return None, (f"the workspace figures of {as_of} are {age:.0f} h old "
                      f"(limit live.figures_max_age_hours = {max_age_hours:g})")
    if row.fingerprint != fingerprint(cfg):
        return None, f"the scoring settings changed since the workspace figures of {as_of}"
    figures = _from_document(row.figures, row.peer_values, as_of, cfg)
    return figures, f"workspace figures of {as_of} computed at {row.computed_at:%Y-%m-%d %H:%M}"

