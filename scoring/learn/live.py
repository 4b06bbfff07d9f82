"""The learned model as the live score: its inputs on a date, its points, health and tiers.

Once ``pulse tune --write`` stored a model (:mod:`scoring.learn.document`), the scorer
(:func:`scoring.engine.score_signals`) gives every account the model's health instead
of the rules score. The file is read by the service layer
(:func:`pulse.services.model_file.live_model`) and handed down as a
:class:`LearnedModel`; nothing here reads files.

Inputs are built exactly as for learning (:mod:`scoring.learn.inputs`): the signal
inputs of the date's signal frame, the rules components' values and flags, and the
account fields the model was learned from (:func:`account_attributes`, the accounts
table's current values).

Tiers of a learned model (:meth:`LearnedModel.tiers`): **at risk** below the health
whose predicted risk is the threshold stored in the model (chosen on held-out data,
with its precision and recall); **healthy** from the health whose predicted risk is the
training data's own churn rate (an account no riskier than the average one); **fine** in
between.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import LearnConfig
from scoring.components import COMPONENT_KEYS, round_points
from scoring.learn.document import fields_from_document, held_out, scorecard_from_document
from scoring.learn.entries import LEARNED_KEY_PREFIX, MODEL_KEY
from scoring.learn.inputs import (
    account_field_inputs,
    panel_inputs,
    signal_inputs,
    tenure_days,
)
from scoring.learn.scorecard import Scorecard, ScorecardError
from scoring.panel import flag_matrix
from storage.models import LINKED_ONLY_SOURCES, Account

INPUT_PREFIX = "in_"
"""Panel columns holding a signal input (``in_active_users``...)."""
TENURE_COLUMN = "tenure_days"
ATTRIBUTE_COLUMNS: tuple[str, ...] = (
    "segment", "region", "tier", "industry", "arr", "mrr", "licensed_seats", "custom",
)


def account_attributes(session: Session, only: Collection[int] | None = None) -> pd.DataFrame:
    """Account fields a learned model may read, indexed by account id (current values);
    of the accounts of ``only`` when given."""
    stmt = select(Account.id, *(getattr(Account, c) for c in ATTRIBUTE_COLUMNS)).where(
        Account.source.not_in(LINKED_ONLY_SOURCES)
    )
    if only is not None:
        stmt = stmt.where(Account.id.in_(sorted({int(a) for a in only})))
    rows = session.execute(stmt).all()
    frame = pd.DataFrame(rows, columns=["account_id", *ATTRIBUTE_COLUMNS])
    frame["custom"] = frame["custom"].map(lambda d: d if isinstance(d, dict) else {})
    return frame.set_index("account_id")


def with_learning_inputs(rows: pd.DataFrame, frame: pd.DataFrame, day: date) -> pd.DataFrame:
    """``rows`` (one date's panel rows, in ``frame``'s order) with the signal inputs."""
    inputs = signal_inputs(frame, day).add_prefix(INPUT_PREFIX).reset_index(drop=True)
    inputs[TENURE_COLUMN] = tenure_days(frame, day)
    return pd.concat([rows.reset_index(drop=True), inputs], axis=1)


def input_frame(
    panel: pd.DataFrame, attributes: pd.DataFrame, learn: LearnConfig
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Every model input of panel rows (built ``with_inputs``), and the categorical ones."""
    signals = panel[[c for c in panel.columns if c.startswith(INPUT_PREFIX)]]
    signals = signals.rename(columns=lambda c: c[len(INPUT_PREFIX) :])
    accounts = attributes.reindex(panel["account_id"].to_numpy())
    accounts.index = panel.index
    fields, categorical = account_field_inputs(accounts, learn, panel[TENURE_COLUMN])
    return pd.concat([signals, panel_inputs(panel), fields], axis=1), categorical


@dataclass(frozen=True)
class LearnedModel:
    """A stored model ready to score: the scorecard, its fields, thresholds and origin."""

    scorecard: Scorecard
    fields: LearnConfig
    at_risk_below: float
    """Health under which an account is at risk (predicted risk above the threshold)."""
    healthy_from: float
    """Health from which an account is healthy (predicted risk at most the base rate)."""
    provenance: str
    """"learned from N churns between DATE and DATE, held-out AUC X"."""
    risk_threshold: float

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> LearnedModel:
        """The model a document describes; :class:`ScorecardError` when it is not one."""
        card = scorecard_from_document(doc)
        try:
            training, at_risk = doc["training"], doc["at_risk"]
            below = float(at_risk["below_health"])
            threshold = float(at_risk["predicted_risk_above"])
            rate = float(training["churns"]) / float(training["account_dates"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise ScorecardError(f"the model's at-risk threshold cannot be read: {exc}") from None
        healthy = card.health_at_risk(rate) if 0.0 < rate < 1.0 else below
        return cls(
            scorecard=card,
            fields=fields_from_document(doc),
            at_risk_below=below,
            healthy_from=float(np.clip(max(healthy, below), 0.0, 100.0)),
            provenance=provenance(doc),
            risk_threshold=threshold,
        )

    def tiers(self, health: pd.Series) -> pd.Series:
        out = np.select(
            [health.isna(), health >= self.healthy_from, health >= self.at_risk_below],
            ["no_data", "healthy", "fine"],
            default="at_risk",
        )
        return pd.Series(out, index=health.index, dtype=object)


def provenance(doc: dict[str, Any]) -> str:
    """How a stored model was learned, in one phrase for the card and ``pulse explain``."""
    training = doc.get("training", {})
    first, last = (training.get("churn_dates") or [None, None])[:2]
    auc = held_out(doc)
    judged = f", held-out AUC {auc:.2f}" if auc is not None else ""
    return f"learned from {training.get('churns', '?')} churns between {first} and {last}{judged}"


@dataclass(frozen=True)
class LearnedScore:
    """A model applied to one date's accounts (index: account id)."""

    points: pd.DataFrame
    """Each input's points, rounded to tenths; rows add up to ``health`` exactly."""
    bins: pd.DataFrame
    values: pd.DataFrame
    health: pd.Series
    tier: pd.Series
    most: dict[str, float]


def apply_model(
    model: LearnedModel,
    frame: pd.DataFrame,
    values: pd.DataFrame,
    flags: pd.DataFrame,
    as_of: date,
    attributes: pd.DataFrame,
) -> LearnedScore:
    """Score the accounts of a signal ``frame`` with ``model``.

    ``values`` are the rules components' values and ``flags`` the long-form flags of the
    same accounts (both inputs of the model, as in learning).
    """
    rows = pd.DataFrame({"account_id": frame.index.to_numpy(dtype="int64")})
    for key in COMPONENT_KEYS:
        if key in values.columns:
            rows[f"value_{key}"] = values[key].to_numpy(dtype="float64")
    matrix = flag_matrix(flags, frame.index)
    rows = pd.concat([rows, matrix], axis=1)
    rows = with_learning_inputs(rows, frame, as_of)
    inputs, _ = input_frame(rows, attributes, model.fields)
    inputs.index = frame.index
    card = model.scorecard
    raw = card.points(inputs)
    points = pd.DataFrame(round_points(raw.to_numpy(dtype="float64")), index=frame.index,
                          columns=raw.columns)
    health = points.sum(axis=1).round(1)
    used = [i.name for i in card.inputs]
    return LearnedScore(
        points=points,
        bins=card.bins(inputs),
        values=inputs.reindex(columns=used),
        health=health,
        tier=model.tiers(health),
        most={i.name: card.max_points(i) for i in card.inputs},
    )


def learned_entries(score: LearnedScore) -> list[list[dict[str, Any]]]:
    """Per account, one stored component entry per input, most points first."""
    names = list(score.points.columns)
    out: list[list[dict[str, Any]]] = []
    points = score.points.to_numpy(dtype="float64")
    bins = score.bins.reindex(columns=names).to_numpy(dtype=object)
    values = score.values.reindex(columns=names).to_numpy(dtype=object)
    for p_row, b_row, v_row in zip(points, bins, values, strict=True):
        row = []
        for name, p, b, v in zip(names, p_row.tolist(), b_row, v_row, strict=True):
            # rounding that makes the points add up may lift one input a tenth past
            # its rounded most
            most = max(round(score.most[name], 1), p)
            row.append({
                "key": LEARNED_KEY_PREFIX + name,
                "label": name,
                "kind": "learned",
                "weight": most,
                "effective_weight": None,
                "value": _json_value(v),
                "points": p,
                "has_data": True,
                "raw": {"bin": str(b), "most_points": most},
                "detail": f"{b}: {p:.1f} of {most:.1f} points",
            })
        row.sort(key=lambda e: -e["points"])
        out.append(row)
    return out


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else round(float(value), 3)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return str(value)


def rules_entries_for_reference(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules components kept beside a learned score: their figures stay readable
    (peer notes, playbook milestones read them), but they count no points."""
    return [
        e | {"points": 0.0, "rules_points": e.get("points"), "counted": False}
        for e in entries
    ]


def model_entry(model: LearnedModel) -> dict[str, Any]:
    """The entry naming the model (it counts no points): the card and ``pulse explain``
    say from it how the score was learned, whatever model is in force later."""
    return {
        "key": MODEL_KEY,
        "label": "Learned model",
        "kind": "model",
        "points": 0.0,
        "counted": False,
        "has_data": True,
        "raw": {"at_risk_below": round(model.at_risk_below, 1),
                "healthy_from": round(model.healthy_from, 1),
                "risk_threshold": round(model.risk_threshold, 4)},
        "detail": model.provenance,
    }
