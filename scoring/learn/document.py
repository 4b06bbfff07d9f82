"""A learned model as a readable document (the YAML file ``pulse tune --write`` stores).

Everything a reader needs to check the model by hand is in it: the training window,
the number of churns, the held-out AUC of the scorecard, of the reference models and of
the rules score, the at-risk threshold with its held-out precision and recall, and per
input its bins with their points. Each bin also keeps its exact log-odds contribution
(``log_odds``), from which :func:`scorecard_from_document` rebuilds the scorecard; the
``points`` next to it are those log-odds on the 0-100 scale, rounded for reading.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pulse.kernel.config import LearnConfig
from scoring.learn.fit import SCORECARD, LearnResult
from scoring.learn.scorecard import InputBins, Scorecard, ScorecardError

FORMAT_VERSION = 1
KIND = "points scorecard"
POINTS_DECIMALS = 1


def _r(value: float, digits: int = 4) -> float:
    return round(float(value), digits)


def _bins(model: Scorecard, item: InputBins) -> dict[str, Any]:
    points, missing = model.bin_points(item)
    bins: list[dict[str, Any]] = []
    for k, (label, p, risk) in enumerate(zip(item.labels(), points, item.risk, strict=True)):
        entry: dict[str, Any] = {"bin": label, "points": round(p, POINTS_DECIMALS)}
        if item.categorical:
            entry["categories"] = list(item.groups[k])
        else:
            entry["from"] = float(item.splits[k - 1]) if k > 0 else None
            entry["to"] = float(item.splits[k]) if k < len(item.splits) else None
        entry["log_odds"] = float(risk)
        bins.append(entry)
    return {
        "name": item.name,
        "type": "categorical" if item.categorical else "numeric",
        "direction": item.direction(),
        "most_points": round(model.max_points(item), POINTS_DECIMALS),
        "bins": bins,
        "missing": {"points": round(missing, POINTS_DECIMALS), "log_odds": item.missing_risk,
                    "share_in_training": round(item.missing_share, 4)},
    }


def model_document(
    result: LearnResult, horizon: str, learned_on: date, fields: LearnConfig
) -> dict[str, Any]:
    """The file's content (plain types only, in reading order). ``fields`` are the account
    fields learned from, kept so the model reads the same ones whatever pulse.yml says
    later."""
    model = result.model
    t = result.threshold
    inputs = sorted(model.inputs, key=lambda i: -model.max_points(i))
    return {
        "kind": KIND,
        "version": FORMAT_VERSION,
        "learned_on": learned_on.isoformat(),
        "training": {
            "as_of_from": result.first_as_of.isoformat(),
            "as_of_to": result.last_as_of.isoformat(),
            "horizon": horizon,
            "account_dates": result.observations,
            "churns": result.churners,
            "churned_accounts": result.churned_accounts,
            "churn_dates": [d.isoformat() if d else None
                            for d in (result.first_churn, result.last_churn)],
            "validation": result.folds.words,
            "account_fields": {"categorical": list(fields.categorical),
                               "numeric": list(fields.numeric)},
        },
        "held_out_auc": {c.label: _r(c.mean_auc) for c in result.comparisons},
        "at_risk": {
            "below_health": _r(t.health, 1),
            "predicted_risk_above": _r(t.risk),
            "precision": _r(t.precision, 3),
            "recall": _r(t.recall, 3),
            "share_of_accounts": _r(t.at_risk_share, 3),
        },
        "health": {
            "meaning": "sum of the inputs' points, 0-100; churn log-odds = "
            "risk_at_zero - risk_per_point * health",
            "risk_at_zero": model.risk_at_zero,
            "risk_per_point": model.risk_per_point,
        },
        "intercept": model.intercept,
        "inputs": [
            _bins(model, i) | {"points_across_folds": [
                round(v, POINTS_DECIMALS) for v in result.stability.get(i.name, (0.0, 0.0))]}
            for i in inputs
        ],
    }


def _input_from(entry: dict[str, Any]) -> InputBins:
    bins = entry["bins"]
    risk = tuple(float(b["log_odds"]) for b in bins)
    missing = float(entry["missing"]["log_odds"])
    share = float(entry["missing"].get("share_in_training", 0.0))
    if entry["type"] == "categorical":
        groups = tuple(tuple(str(c) for c in b["categories"]) for b in bins)
        return InputBins(entry["name"], True, groups=groups, risk=risk, missing_risk=missing,
                         missing_share=share)
    splits = tuple(float(b["to"]) for b in bins[:-1])
    return InputBins(entry["name"], False, splits=splits, risk=risk, missing_risk=missing,
                     missing_share=share)


def scorecard_from_document(doc: Any) -> Scorecard:
    """The scorecard a document describes; :class:`ScorecardError` if it is not one."""
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise ScorecardError(f"not a learned model (kind: {KIND!r} expected)")
    if doc.get("version") != FORMAT_VERSION:
        raise ScorecardError(f"model format version {doc.get('version')!r} is not "
                             f"{FORMAT_VERSION}: run pulse tune --write again")
    try:
        inputs = tuple(_input_from(e) for e in doc["inputs"])
        return Scorecard(inputs=inputs, intercept=float(doc["intercept"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ScorecardError(f"the model's inputs cannot be read: {exc}") from None


def fields_from_document(doc: dict[str, Any]) -> LearnConfig:
    """The account fields the model was learned from."""
    fields = doc.get("training", {}).get("account_fields") or {}
    return LearnConfig(categorical=list(fields.get("categorical", [])),
                       numeric=list(fields.get("numeric", [])))


def held_out(doc: dict[str, Any]) -> float | None:
    value = doc.get("held_out_auc", {}).get(SCORECARD)
    return None if value is None else float(value)
