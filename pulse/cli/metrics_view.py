"""How `pulse metrics` shows a :class:`~pulse.services.metrics.MetricsReport`: every
figure with the arithmetic behind it (rich), or all of it as JSON for tooling.

Each headline line states the formula with the report's own numbers ("GRR 91.2% = $4.10M
kept of $4.50M starting ARR (412 accounts)"), so a reader can check a figure without
opening docs/metrics.md; breakdown tables repeat the same columns per group.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from pulse.cli.escape import term
from pulse.cli.terminal import money
from pulse.kernel.tiers import TIER_LABELS
from pulse.services.metrics import MetricsReport
from scoring.metrics import TOTAL, UNSCORED

TIER_NAMES = {**TIER_LABELS, UNSCORED: "Unscored"}


def pct(value: float | None) -> str:
    """``91.2%``; ``n/a`` for a rate over nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * 100:.1f}%"


def _days(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:g} day" + ("" if value == 1 else "s")


def _i(value: Any) -> str:
    """A count: pandas hands rows of mixed columns back as floats."""
    return f"{int(value):,}"


def _n(value: Any, word: str, many: str | None = None) -> str:
    n = int(value)
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def _signed_money(value: float) -> str:
    return ("-" if value < 0 else "+") + money(abs(value))


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, show_edge=False, title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    return table


def render_metrics(console: Console, r: MetricsReport) -> None:
    p = r.period
    by = f"; broken down by {r.by}" if r.by else ""
    console.print(Panel.fit(
        f"[bold]Metrics from {p.start} to {p.end}[/] ({p.days:,} days; starting figures at "
        f"the close of {p.opening}){by}\n"
        f"ARR from the ledger ({r.ledger_rows:,} changes up to {p.end}); health from the "
        "latest score snapshot on or before each day. Definitions: docs/metrics.md",
        title="pulse metrics",
    ))
    _revenue(console, r)
    _health(console, r)
    _product(console, r)
    _impact(console, r)
    _commercial(console, r)
    for note in r.notes:
        console.print(f"[yellow]note:[/] {term(note)}", highlight=False)


def _revenue(console: Console, r: MetricsReport) -> None:
    t, end = r.revenue.loc[TOTAL], r.period.end
    cohort = _n(t["accounts_start"], "account")
    console.rule("Revenue retention")
    console.print(
        f"GRR [bold]{pct(t['grr'])}[/] = {money(t['kept_arr'])} kept of "
        f"{money(t['arr_start'])} starting ARR ({cohort} with ARR on {r.period.opening})\n"
        f"NRR [bold]{pct(t['nrr'])}[/] = {money(t['arr_end_cohort'])} ARR of the same "
        f"{cohort} on {end} / {money(t['arr_start'])} starting ARR\n"
        f"ARR bridge: {money(t['arr_start'])} start + {money(t['new_arr'])} new "
        f"({_n(t['new_accounts'], 'account')}) + {money(t['expansion_arr'])} expansion "
        f"({_i(t['expanded_accounts'])}) - {money(t['contraction_arr'])} contraction "
        f"({_i(t['contracted_accounts'])}) - {money(t['churned_arr'])} churned "
        f"({_i(t['churned_accounts'])}) = {money(t['arr_end'])} on {end} "
        f"({_n(t['accounts_end'], 'paying account')})\n"
        f"Logo churn [bold]{pct(t['logo_churn_rate'])}[/] = {_i(t['churned_accounts'])} of "
        f"{cohort} at 0 ARR by {end}\n"
        f"Revenue churn [bold]{pct(t['revenue_churn_rate'])}[/] = {money(t['churned_arr'])} "
        f"churned / {money(t['arr_start'])}; gross revenue churn "
        f"{pct(t['gross_revenue_churn_rate'])} with {money(t['contraction_arr'])} contraction",
        highlight=False,
    )
    _bridge_table(console, "NRR by CSM portfolio", "CSM", r.nrr_by_csm)
    if r.by and r.by != "csm":
        _bridge_table(console, f"Revenue retention by {r.by}", r.by, r.revenue)


def _bridge_table(console: Console, title: str, label: str, frame: pd.DataFrame) -> None:
    table = _table(title, [label, "Accounts", "Start ARR", "New", "Expansion", "Contraction",
                           "Churned", "End ARR", "GRR", "NRR", "Logo churn"])
    for group, row in frame.iterrows():
        table.add_row(
            term(group), _i(row['accounts_start']), money(row["arr_start"]),
            money(row["new_arr"]), money(row["expansion_arr"]), money(row["contraction_arr"]),
            money(row["churned_arr"]), money(row["arr_end"]), pct(row["grr"]), pct(row["nrr"]),
            pct(row["logo_churn_rate"]),
        )
    console.print(table)


def _health(console: Console, r: MetricsReport) -> None:
    t, end, window = r.at_risk.loc[TOTAL], r.period.end, r.settings["renewal_window_days"]
    console.rule("Health")
    console.print(
        f"At-risk ARR [bold red]{money(t['at_risk_arr'])}[/] = ARR of "
        f"{_n(t['at_risk_accounts'], 'paying account')} whose latest score on or before "
        f"{end} is At risk ({pct(t['at_risk_share'])} of {money(t['arr'])}); "
        f"{money(t['renewing_arr'])} of it ({_n(t['renewing_accounts'], 'account')}) "
        f"renews within {window} days",
        highlight=False,
    )
    if r.by:
        table = _table(f"At-risk ARR by {r.by}", [r.by, "Paying", "ARR", "At risk", "At-risk ARR",
                                                  f"Renewing in {window}d", "Share"])
        for group, row in r.at_risk.iterrows():
            table.add_row(term(group), _i(row['accounts']), money(row["arr"]),
                          _i(row['at_risk_accounts']), money(row["at_risk_arr"]),
                          money(row["renewing_arr"]), pct(row["at_risk_share"]))
        console.print(table)
    groups = list(dict.fromkeys(r.distribution.index.get_level_values("group")))
    columns = ([r.by] if r.by else []) + [
        "Tier", f"Accounts {r.period.opening}", "ARR", f"Accounts {end}", "ARR", "Change",
        "ARR change"]
    table = _table("Health distribution of paying accounts", columns)
    for group in groups:
        for tier, row in r.distribution.xs(group, level="group").iterrows():
            table.add_row(*([term(group)] if r.by else []), term(TIER_NAMES.get(str(tier), tier)),
                          _i(row['accounts_start']), money(row["arr_start"]),
                          _i(row['accounts_end']), money(row["arr_end"]),
                          f"{int(row['change_accounts']):+,}", _signed_money(row["change_arr"]))
    console.print(table)


def _product(console: Console, r: MetricsReport) -> None:
    a, v, s = r.adoption.loc[TOTAL], r.time_to_value.loc[TOTAL], r.settings
    console.rule("Adoption and time-to-value")
    console.print(
        f"Adoption [bold]{pct(a['adoption_rate'])}[/] = {_i(a['adopted'])} of "
        f"{_n(a['accounts'], 'paying account')} used a core feature on "
        f"{s['adoption_days']}+ distinct days in the {s['adoption_window_days']} days to "
        f"{r.period.end}\n"
        f"Time-to-value: median [bold]{_days(v['median_days'])}[/], 75th percentile "
        f"{_days(v['p75_days'])} from contract start to first core-feature use, over "
        f"{_i(v['reached'])} of {_n(v['started'], 'account')} that started in the period; "
        f"{_i(v['not_reached'])} not there yet"
        + (f", {_i(v['no_usage_data'])} started before the stored usage begins (not measured)"
           if v["no_usage_data"] else ""),
        highlight=False,
    )
    if r.by:
        table = _table(f"Adoption and time-to-value by {r.by}",
                       [r.by, "Paying", "Adopted", "Adoption", "Started", "Reached", "Median",
                        "p75"])
        for group in r.adoption.index.union(r.time_to_value.index, sort=False):
            ad = r.adoption.loc[group] if group in r.adoption.index else None
            tv = r.time_to_value.loc[group] if group in r.time_to_value.index else None
            table.add_row(
                term(group),
                _i(ad['accounts']) if ad is not None else "0",
                _i(ad['adopted']) if ad is not None else "0",
                pct(ad["adoption_rate"]) if ad is not None else "n/a",
                _i(tv['started']) if tv is not None else "0",
                _i(tv['reached']) if tv is not None else "0",
                _days(tv["median_days"]) if tv is not None else "n/a",
                _days(tv["p75_days"]) if tv is not None else "n/a",
            )
        console.print(table)


def _impact(console: Console, r: MetricsReport) -> None:
    t, days = r.improvement.loc[TOTAL], r.settings["improvement_days"]
    console.rule("Health improvement after acknowledged alerts")
    console.print(
        f"Improvement rate [bold]{pct(t['improvement_rate'])}[/] = {_i(t['improved'])} of "
        f"{_n(t['measured'], 'alert')} acknowledged in the period on At-risk or Fine accounts "
        f"reached a higher tier within {days} days; {_i(t['pending'])} more still inside their "
        f"{days} days, {_i(t['not_eligible'])} on Healthy or unscored accounts not counted "
        f"({_i(t['acknowledged'])} acknowledged in all)",
        highlight=False,
    )
    if r.by:
        table = _table(f"Health improvement by {r.by}",
                       [r.by, "Acknowledged", "Measured", "Improved", "Rate", "Pending"])
        for group, row in r.improvement.iterrows():
            table.add_row(term(group), _i(row['acknowledged']), _i(row['measured']),
                          _i(row['improved']), pct(row["improvement_rate"]),
                          _i(row['pending']))
        console.print(table)


def _commercial(console: Console, r: MetricsReport) -> None:
    window = r.settings["renewal_window_days"]
    console.rule("Renewals and expansion")
    columns = ([r.by] if r.by else []) + ["Renewal risk", "Accounts", "ARR",
                                          "Open renewal opps", "Amount"]
    table = _table(f"Renewal pipeline: renewing {r.period.end} to {window} days on, by risk",
                   columns)
    for group in dict.fromkeys(r.renewals.index.get_level_values("group")):
        for risk, row in r.renewals.xs(group, level="group").iterrows():
            table.add_row(*([term(group)] if r.by else []), term(risk), _i(row['accounts']),
                          money(row["arr"]), _i(row['opportunities']),
                          money(row["opportunity_amount"]))
    console.print(table)

    f = r.forecast
    t = f.by_group.loc[TOTAL]
    opps = _n(t["opportunities"], "open expansion opportunity", "open expansion opportunities")
    console.print(
        f"Expansion forecast [bold]{money(t['weighted'])}[/] = Σ amount × stage probability "
        f"over {opps} "
        f"({money(t['amount'])} in all; probabilities from metrics.stage_probabilities)",
        highlight=False,
    )
    if not f.by_stage.empty:
        table = _table("Expansion forecast by stage",
                       ["Stage", "Probability", "Opportunities", "Amount", "Weighted"])
        for stage, row in f.by_stage.iterrows():
            mark = "" if row["known"] else " (default)"
            table.add_row(term(stage), f"{pct(row['probability'])}{mark}",
                          _i(row["opportunities"]), money(row["amount"]),
                          money(row["weighted"]))
        console.print(table)
    if f.unknown_stages:
        console.print(
            f"[yellow]Stages without a probability[/] (weighted "
            f"{pct(f.default_probability)}, metrics.default_stage_probability): "
            + ", ".join(term(s) for s in f.unknown_stages), highlight=False)
    if r.by:
        table = _table(f"Expansion forecast by {r.by}",
                       [r.by, "Opportunities", "Amount", "Weighted"])
        for group, row in f.by_group.iterrows():
            table.add_row(term(group), _i(row["opportunities"]), money(row["amount"]),
                          money(row["weighted"]))
        console.print(table)


# --- JSON ------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars unwrapped, NaN as null, dates as ISO text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()}
            for row in frame.reset_index().to_dict("records")]


def metrics_json(r: MetricsReport) -> dict[str, Any]:
    """Every figure of the report as plain JSON (rates as fractions, NaN as null)."""
    f = r.forecast
    return {
        "period": {"from": r.period.start.isoformat(), "to": r.period.end.isoformat(),
                   "opening": r.period.opening.isoformat(), "days": r.period.days},
        "by": r.by,
        "settings": r.settings,
        "ledger_rows": r.ledger_rows,
        "notes": r.notes,
        "revenue": _records(r.revenue),
        "nrr_by_csm": _records(r.nrr_by_csm),
        "at_risk_arr": _records(r.at_risk),
        "health_distribution": _records(r.distribution),
        "adoption": _records(r.adoption),
        "time_to_value": _records(r.time_to_value),
        "health_improvement": _records(r.improvement),
        "renewal_pipeline": _records(r.renewals),
        "expansion_forecast": {
            "by_group": _records(f.by_group),
            "by_stage": _records(f.by_stage),
            "unknown_stages": f.unknown_stages,
            "default_probability": f.default_probability,
        },
    }
