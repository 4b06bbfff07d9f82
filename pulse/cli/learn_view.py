"""Terminal renderings of a learned model: what `pulse tune` learned, and `--show`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from pulse.cli.escape import term
from scoring.learn.fit import CURRENT, SCORECARD, LearnResult

TOP_INPUTS = 15
"""Inputs listed after learning (the file holds all of them; --show prints all)."""


def comparison_table(result: LearnResult) -> Table:
    table = Table(title="Held-out AUC on the same folds (higher ranks churners better)")
    table.add_column("model")
    table.add_column("mean AUC", justify="right")
    table.add_column("worst fold", justify="right")
    table.add_column("per fold", justify="left")
    for c in result.comparisons:
        role = {SCORECARD: " (learned, written)", CURRENT: " (the rules score now)"}
        table.add_row(
            c.label + role.get(c.label, " (reference)"),
            f"{c.mean_auc:.3f}",
            f"{min(c.fold_auc):.3f}",
            " ".join(f"{a:.3f}" for a in c.fold_auc),
        )
    return table


def inputs_table(result: LearnResult, limit: int | None = TOP_INPUTS) -> Table:
    model = result.model
    items = sorted(model.inputs, key=lambda i: -model.max_points(i))
    shown = items if limit is None else items[:limit]
    table = Table(title=f"Inputs by most points ({len(shown)} of {len(items)})")
    table.add_column("input")
    table.add_column("direction")
    table.add_column("most points", justify="right")
    table.add_column("across folds", justify="right")
    table.add_column("bins: points")
    for item in shown:
        points, missing = model.bin_points(item)
        bins = "; ".join(f"{label}: {p:.0f}" for label, p in zip(item.labels(), points,
                                                                 strict=True))
        low, high = result.stability.get(item.name, (0.0, 0.0))
        if item.missing_share > 0:
            bins += f"; missing: {missing:.0f}"
        table.add_row(term(item.name), item.direction(), f"{model.max_points(item):.1f}",
                      f"{low:.0f}-{high:.0f}", bins)
    return table


def print_learned(console: Console, result: LearnResult, horizon_words: str) -> None:
    """Training window, the comparison, the inputs, and the at-risk threshold."""
    first_churn = f", churn dates {result.first_churn} to {result.last_churn}" if (
        result.first_churn) else ""
    console.print(
        f"Learned from {result.churners:,} churns within {horizon_words} among "
        f"{result.observations:,} account-dates (as of {result.first_as_of} to "
        f"{result.last_as_of}{first_churn}); validation: {result.folds.words}."
    )
    console.print(comparison_table(result))
    learned = result.comparison(SCORECARD).mean_auc
    now = result.comparison(CURRENT).mean_auc
    console.print(f"Points scorecard: held-out AUC {learned:.3f} vs {now:.3f} for the rules "
                  f"score ({learned - now:+.3f}).")
    console.print(inputs_table(result))
    console.print(f"{result.inputs_seen} inputs varied; {len(result.model.inputs)} moved the "
                  "risk and got points (the rest get none).")
    t = result.threshold
    console.print(
        f"At risk below health {t.health:.1f} (predicted churn risk above {t.risk:.0%}): "
        f"held-out precision {t.precision:.0%}, recall {t.recall:.0%}, "
        f"{t.at_risk_share:.0%} of accounts at risk."
    )
    if t.at_risk_share == 0:
        console.print("[yellow]No held-out account would be at risk under this threshold.[/]")


def print_document(console: Console, doc: dict[str, Any], path: str) -> None:
    """`pulse tune --show`: the stored model, read back from its file."""
    training = doc["training"]
    console.print(
        f"Model in {path}, learned on {doc['learned_on']} from {training['churns']:,} churns "
        f"within {training['horizon']} (as of {training['as_of_from']} to "
        f"{training['as_of_to']}); validation: {training['validation']}."
    )
    auc = Table(title="Held-out AUC")
    auc.add_column("model")
    auc.add_column("AUC", justify="right")
    for label, value in doc["held_out_auc"].items():
        auc.add_row(label, f"{value:.3f}")
    console.print(auc)
    risk = doc["at_risk"]
    console.print(
        f"At risk below health {risk['below_health']} (risk above "
        f"{risk['predicted_risk_above']:.0%}): precision {risk['precision']:.0%}, recall "
        f"{risk['recall']:.0%}."
    )
    table = Table(title="Points per input (an account's points add up to its health)")
    table.add_column("input")
    table.add_column("direction")
    table.add_column("bin")
    table.add_column("points", justify="right")
    for entry in doc["inputs"]:
        first = True
        missing = entry["missing"]
        extra = [{"bin": "missing", **missing}] if missing.get("share_in_training") else []
        for b in [*entry["bins"], *extra]:
            table.add_row(term(entry["name"]) if first else "",
                          term(entry["direction"]) if first else "", term(b["bin"]),
                          f"{b['points']:.1f}")
            first = False
    console.print(table)
