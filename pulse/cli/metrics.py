"""`pulse metrics`: the portfolio's commercial picture."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pulse.cli.common import (
    console,
    err,
    load_settings,
    parse_date,
    require_schema,
    workspace_today,
)
from pulse.cli.escape import term
from pulse.kernel.breakdowns import BREAKDOWNS


def metrics_command(
    from_: Annotated[str | None, typer.Option(
        "--from", help="First day, YYYY-MM-DD (default: metrics.period_months before --to).",
    )] = None,
    to: Annotated[str | None, typer.Option(
        "--to", help="Last day, YYYY-MM-DD (default: the latest scoring day, else today).",
    )] = None,
    by: Annotated[str | None, typer.Option(
        "--by", help=f"Break every figure down by {', '.join(BREAKDOWNS)}.",
    )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for tooling.")] = False,
) -> None:
    """Retention (GRR, NRR, churn, the ARR bridge), at-risk ARR, health distribution,
    adoption, time-to-value, health improvement, renewals by risk, expansion forecast."""
    if by is not None and by not in BREAKDOWNS:
        err.print(f"[red]--by: '{term(by)}' is not one of {', '.join(BREAKDOWNS)}[/]")
        raise typer.Exit(2)
    start = parse_date(from_, "--from")
    end = parse_date(to, "--to")
    if start is not None and end is not None and start > end:
        err.print(f"[red]--from {start} is after --to {end}[/]")
        raise typer.Exit(2)
    cfg = load_settings()
    require_schema(cfg.database_url)

    from pulse.services.metrics import default_end, portfolio_metrics, trailing_period
    from scoring.metrics import Period
    from storage.db import session_factory

    with session_factory(cfg.database_url)() as session:
        if end is None:
            end = default_end(session, workspace_today(cfg))
        if start is not None and start > end:
            err.print(f"[red]--from {start} is after the period's end {end} (give --to)[/]")
            raise typer.Exit(2)
        period = (Period(start, end) if start is not None
                  else trailing_period(end, cfg.metrics.period_months))
        report = portfolio_metrics(session, cfg, period, by)
        session.rollback()  # metrics only read
    if as_json:
        from pulse.cli.metrics_view import metrics_json

        typer.echo(json.dumps(metrics_json(report), indent=2))
        return
    from pulse.cli.metrics_view import render_metrics

    render_metrics(console, report)
