"""Terminal tables and the JSON document of ``pulse backtest`` and ``pulse tune``.

Kept apart from the commands so the wording of every figure lives in one place and the
JSON that tooling reads has one shape.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from pulse.services.backtest import BacktestRun
from scoring.backtest import BacktestResult, Figures
from scoring.components import COMPONENT_KEYS, COMPONENT_LABELS
from scoring.tune import TuneResult

AT_RISK_SHIFT_WARNING = 0.5
"""Warn when suggested weights change how many observations are at risk by over 50%."""


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _lift(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} days"


def figures_row(label: str, f: Figures) -> list[str]:
    return [
        label,
        f"{f.observations:,}",
        f"{f.churners:,}",
        _pct(f.churn_rate),
        _num(f.auc),
        f"{f.at_risk:,}",
        _pct(f.precision),
        _pct(f.recall),
        _lift(f.bottom_decile_lift),
    ]


def backtest_table(run: BacktestRun) -> Table:
    """One row per as-of date and the pooled row."""
    table = Table(
        title=(
            f"Backtest: scores as of each date vs churn within {run.horizon.words} "
            f"(data until {run.observed_until})"
        ),
        show_edge=False,
    )
    for col, justify in (
        ("As of", "left"),
        ("Accounts", "right"),
        ("Churned", "right"),
        ("Churn rate", "right"),
        ("AUC", "right"),
        ("At risk", "right"),
        ("Precision", "right"),
        ("Recall", "right"),
        ("Bottom-decile lift", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for f in run.result.per_date:
        table.add_row(*figures_row(str(f.as_of), f))
    table.add_section()
    table.add_row(*figures_row("all dates", run.result.pooled), style="bold")
    return table


def lead_sentence(result: BacktestResult, horizon_words: str) -> str:
    lead = result.lead
    if not lead.churned_accounts:
        return "No account churned within the horizon of an evaluated date."
    alerted = (
        f"{lead.alerted:,} of {lead.churned_accounts:,} churned accounts were alerted (at risk or "
        f"a critical flag) within {horizon_words} before churning, a median "
        f"{_days(lead.median_days)} ahead"
    )
    return f"{alerted}; {lead.never_alerted:,} never were."


def print_backtest(console: Console, run: BacktestRun) -> None:
    console.print(backtest_table(run))
    pooled = run.result.pooled
    console.print(lead_sentence(run.result, run.horizon.words))
    console.print(
        f"AUC: chance a churner scored lower than an account that stayed (0.5 = no better "
        f"than chance). At risk = tier under the at-risk threshold. Bottom-decile lift = "
        f"churn rate of the lowest-scoring 10% ({_pct(pooled.bottom_decile_churn_rate)}) "
        f"over the overall rate ({_pct(pooled.churn_rate)})."
    )
    if pooled.unscored:
        console.print(
            f"{pooled.unscored:,} observations had no component with data and are not counted."
        )


def backtest_document(run: BacktestRun, weights: dict[str, float]) -> dict[str, Any]:
    """The JSON for tooling: parameters, censored dates and every figure."""
    return {
        "parameters": {
            "from": run.start.isoformat(),
            "to": run.end.isoformat(),
            "every": str(run.every),
            "horizon": str(run.horizon),
            "observed_until": run.observed_until.isoformat(),
            "renewal_dates": "stored" if run.stored_renewals else "reconstructed",
            "weights": weights,
        },
        "as_of_dates": [d.isoformat() for d in run.dates],
        "censored_dates": [d.isoformat() for d in run.censored],
        **run.result.as_dict(),
        "seconds": {k: round(v, 3) for k, v in run.seconds.items()},
    }


def _weight(value: float) -> str:
    return f"{value:g}"


def weights_table(result: TuneResult) -> Table:
    table = Table(title="Signal weights", show_edge=False)
    for col, justify in (
        ("Component", "left"),
        ("Current", "right"),
        ("Suggested", "right"),
        ("Change", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for key in COMPONENT_KEYS:
        cur, new = result.current[key], result.suggested[key]
        change = new - cur
        note = " (no data: kept)" if key in result.untuned else ""
        table.add_row(
            COMPONENT_LABELS[key] + note,
            _weight(cur),
            _weight(new),
            "" if change == 0 else f"{change:+g}",
        )
    return table


def comparison_table(result: TuneResult, horizon_words: str) -> Table:
    folds = len(result.test_dates)
    table = Table(
        title=f"Backtest of each weight set (churn within {horizon_words})", show_edge=False
    )
    for col in (
        "Weights",
        f"Held-out AUC ({folds} date{'s' if folds != 1 else ''})",
        "AUC, all dates",
        "At risk",
        "Precision",
        "Recall",
        "Bottom-decile lift",
        "Median lead",
        "Never alerted",
    ):
        table.add_column(col, justify="left" if col == "Weights" else "right")
    for label, cv, bt in (
        ("current", result.baseline.mean_auc, result.current_backtest),
        ("suggested", result.chosen.mean_auc, result.suggested_backtest),
    ):
        p = bt.pooled
        table.add_row(
            label,
            _num(cv),
            _num(p.auc),
            f"{p.at_risk:,}",
            _pct(p.precision),
            _pct(p.recall),
            _lift(p.bottom_decile_lift),
            _days(bt.lead.median_days),
            f"{bt.lead.never_alerted:,} of {bt.lead.churned_accounts:,}",
        )
    return table


def candidates_table(result: TuneResult) -> Table:
    table = Table(title="Cross-validation (rolling origin)", show_edge=False)
    table.add_column("Candidate")
    table.add_column("Mean held-out AUC", justify="right")
    table.add_column("Worst date", justify="right")
    table.add_column("", justify="left")
    for c in result.candidates:
        table.add_row(
            c.label,
            _num(c.mean_auc),
            _num(min(c.fold_auc)),
            "chosen" if c == result.chosen else "",
        )
    return table


def print_tune(console: Console, result: TuneResult, horizon_words: str) -> None:
    dates = ", ".join(str(d) for d in result.test_dates)
    console.print(candidates_table(result))
    console.print(
        f"Each test date is scored with weights fitted only on earlier dates whose outcome "
        f"was known by then; test dates: {dates}."
    )
    console.print(weights_table(result))
    console.print(comparison_table(result, horizon_words))
    if not result.changed:
        console.print("No fitted weight set beat the current weights on held-out dates: keep them.")
        return
    gain = result.chosen.mean_auc - result.baseline.mean_auc
    console.print(
        f"Suggested weights: held-out AUC {result.chosen.mean_auc:.3f} vs "
        f"{result.baseline.mean_auc:.3f} now ({gain:+.3f})."
    )
    before = result.current_backtest.pooled.at_risk
    after = result.suggested_backtest.pooled.at_risk
    if before and abs(after - before) / before > AT_RISK_SHIFT_WARNING or (after == 0) != (
        before == 0
    ):
        console.print(
            f"[yellow]With the suggested weights {after:,} observations would have been at "
            f"risk instead of {before:,}: the weights change the score's scale, so review "
            "scoring.tiers before writing them.[/]"
        )
