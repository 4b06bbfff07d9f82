"""`pulse backtest` and `pulse tune` (registered on the app by `pulse.cli.main`).

Both recompute past scores from the database (nothing is written to it), so they can run
against production data at any time; see docs/backtest.md for what the figures mean.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pulse.cli.common import (
    console,
    err,
    load_settings,
    output_path,
    parse_date,
    require_schema,
    workspace_today,
)
from pulse.cli.escape import term

if TYPE_CHECKING:
    from pulse.kernel.config import PulseConfig
    from pulse.services.backtest import BacktestRun
    from scoring.periods import Span

FromOption = Annotated[str, typer.Option("--from", help="First as-of date, YYYY-MM-DD.")]
ToOption = Annotated[str, typer.Option("--to", help="Last as-of date, YYYY-MM-DD.")]
HorizonOption = Annotated[
    str, typer.Option(help="Churn counted within this span after each date: 90d, 12w, 3m.")
]
EveryOption = Annotated[
    str,
    typer.Option(
        help="Spacing of the as-of dates: 1m (monthly; month ends stay month ends), 30d, 2w."
    ),
]
ObservedOption = Annotated[
    str | None,
    typer.Option(
        "--observed-until",
        help="Last day churn outcomes are complete (default: latest usage day or churn date).",
    ),
]
RenewalsOption = Annotated[
    bool,
    typer.Option(
        "--stored-renewals",
        help="Score past dates with today's renewal dates instead of reconstructing them.",
    ),
]


def _span(value: str, option: str) -> Span:
    from scoring.periods import parse_span

    try:
        return parse_span(value)
    except ValueError as exc:
        err.print(f"[red]{option}: {term(exc)}[/]")
        raise typer.Exit(2) from None


def _dates(start: str, end: str) -> tuple[date, date]:
    first = parse_date(start, "--from")
    last = parse_date(end, "--to")
    assert first is not None and last is not None
    if first > last:
        err.print(f"[red]--from {first} is after --to {last}[/]")
        raise typer.Exit(2)
    return first, last


def _progress(day: date, rows: int, seconds: float) -> None:
    err.print(f"  as of {day}: {rows:,} accounts in {seconds:.1f}s", highlight=False)


def _run(
    cfg: PulseConfig,
    start: str,
    end: str,
    horizon: str,
    every: str,
    observed_until: str | None,
    stored_renewals: bool,
    *,
    with_inputs: bool = False,
) -> BacktestRun:
    """Parse the shared options, run the backtest, name censored dates; exit 2 on errors
    (with what dates the data could support)."""
    from pulse.services.backtest import run_backtest
    from scoring.backtest import BacktestError
    from storage.db import session_factory

    first, last = _dates(start, end)
    span = _span(horizon, "--horizon")
    step = _span(every, "--every")
    until = parse_date(observed_until, "--observed-until")
    require_schema(cfg.database_url)
    try:
        with session_factory(cfg.database_url)() as session:
            run = run_backtest(
                session,
                cfg.scoring,
                first,
                last,
                every=step,
                horizon=span,
                observed_until=until,
                progress=_progress,
                stored_renewals=stored_renewals,
                today=workspace_today(cfg),
                with_inputs=with_inputs,
            )
    except BacktestError as exc:
        err.print(f"[red]{term(exc)}[/]")
        _print_usable_range(cfg, span, until)
        raise typer.Exit(2) from None
    if run.censored:
        names = ", ".join(str(d) for d in run.censored)
        err.print(
            f"[yellow]Left out {len(run.censored)} as-of date(s) whose {span.words} horizon "
            f"ends after {run.observed_until}, the last day the data covers (churn not yet "
            f"known): {names}[/]"
        )
    return run


def _print_usable_range(cfg: PulseConfig, horizon: Span, observed_until: date | None) -> None:
    """What the data covers and which as-of dates could work (after an error)."""
    from pulse.services.learn import usable_range
    from storage.db import session_factory
    from storage.usage_engine import usage_engine

    with session_factory(cfg.database_url)() as session:
        found = usable_range(session, horizon, cfg.scoring.window_days, workspace_today(cfg),
                             observed_until, engine=usage_engine(cfg.scoring.usage))
    for line in found.lines(horizon):
        err.print(line, highlight=False)


def backtest_command(
    start: FromOption,
    end: ToOption,
    horizon: HorizonOption = "90d",
    every: EveryOption = "1m",
    chart: Annotated[
        Path | None, typer.Option(help="Also write the score-decile chart as a PNG here.")
    ] = None,
    json_path: Annotated[
        str | None,
        typer.Option("--json", help="Write the figures as JSON to PATH, or - for stdout."),
    ] = None,
    observed_until: ObservedOption = None,
    stored_renewals: RenewalsOption = False,
) -> None:
    """Recompute past scores from each date's data and compare them with the churn that followed."""
    from pulse.cli.backtest_view import backtest_document, print_backtest

    chart = output_path(chart, "--chart")  # both before the backtest, which takes minutes
    json_file = output_path(json_path, "--json")
    cfg = load_settings()
    run = _run(cfg, start, end, horizon, every, observed_until, stored_renewals)
    document = backtest_document(run, cfg.scoring.weights.model_dump())
    if json_path == "-":
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        print_backtest(console, run)
        if json_file is not None:
            json_file.write_text(json.dumps(document, indent=2) + "\n")
            console.print(f"Figures written to {json_path}")
    if chart is not None:
        from digests.backtest_chart import decile_chart_png

        pooled = run.result.pooled
        png = decile_chart_png(
            run.result.deciles,
            pooled.churn_rate or 0.0,
            f"Churn within {run.horizon.words} by score decile "
            f"({run.dates[0]} to {run.dates[-1]}, AUC {pooled.auc:.2f})",
            at_risk_below=cfg.scoring.tiers.at_risk,
            healthy_from=cfg.scoring.tiers.healthy,
        )
        chart.write_bytes(png)
        (err if json_path == "-" else console).print(f"Chart written to {chart}")


def tune_command(
    start: Annotated[
        str | None, typer.Option("--from", help="First as-of date, YYYY-MM-DD.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last as-of date, YYYY-MM-DD.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Learn from this one date (a snapshot and the churn after it)."
        ),
    ] = None,
    horizon: HorizonOption = "90d",
    every: EveryOption = "1m",
    write: Annotated[
        bool,
        typer.Option("--write", help="Store the learned model beside pulse.yml "
                     "(with --weights: write the suggested weights to pulse.yml)."),
    ] = False,
    show: Annotated[
        bool, typer.Option("--show", help="Print the stored learned model and stop.")
    ] = False,
    weights: Annotated[
        bool,
        typer.Option("--weights", help="Only re-weight the six components of the rules score."),
    ] = False,
    observed_until: ObservedOption = None,
    stored_renewals: RenewalsOption = False,
) -> None:
    """Learn what predicts churn in this workspace (a points scorecard), judged on held-out data."""
    if show:
        _show_model()
        return
    if as_of is not None:
        if start is not None or end is not None:
            err.print("[red]--as-of is one date: give it or --from/--to, not both[/]")
            raise typer.Exit(2)
        start = end = as_of
    if start is None or end is None:
        err.print("[red]Give --as-of DATE, or --from DATE and --to DATE (--show prints the "
                  "stored model)[/]")
        raise typer.Exit(2)
    cfg = load_settings()
    if weights:
        _tune_weights(cfg, start, end, horizon, every, write, observed_until, stored_renewals)
        return
    _learn(cfg, start, end, horizon, every, write, observed_until, stored_renewals)


def _show_model() -> None:
    from pulse.cli.learn_view import print_document
    from pulse.services.model_file import model_path, read_model
    from scoring.learn.scorecard import ScorecardError

    path = model_path()
    if not path.exists():
        err.print(f"[red]No learned model at {term(path)}: run pulse tune --write first[/]")
        raise typer.Exit(2)
    try:
        doc = read_model(path)
    except (ScorecardError, OSError) as exc:
        err.print(f"[red]{term(path)}: {term(exc)}[/]")
        raise typer.Exit(1) from None
    print_document(console, doc, str(path))


def _learn(
    cfg: PulseConfig,
    start: str,
    end: str,
    horizon: str,
    every: str,
    write: bool,
    observed_until: str | None,
    stored_renewals: bool,
) -> None:
    from pulse.cli.learn_view import print_learned
    from pulse.services.learn import learning_data
    from pulse.services.model_file import model_path, write_model
    from scoring.learn.document import model_document
    from scoring.learn.fit import learn
    from scoring.learn.folds import LearnError
    from scoring.learn.inputs import unnamed_custom_fields
    from scoring.learn.live import account_attributes
    from scoring.learn.scorecard import ScorecardError
    from storage.db import session_factory

    run = _run(cfg, start, end, horizon, every, observed_until, stored_renewals,
               with_inputs=True)
    with session_factory(cfg.database_url)() as session:
        attributes = account_attributes(session)
    data = learning_data(run.panel, attributes, cfg.scoring.learn, run.horizon)
    for name in data.inputs.columns:
        if name.startswith("account_") and data.inputs[name].isna().all():
            err.print(f"[yellow]Account field {name[len('account_'):]} (scoring.learn) has "
                      "no value on any account scored: it is not learned from.[/]")
    unnamed = unnamed_custom_fields(attributes["custom"], cfg.scoring.learn)
    if unnamed:
        err.print(f"[yellow]Custom field(s) not named in scoring.learn, so not learned from: "
                  f"{term(', '.join(unnamed))}. Name them under scoring.learn.categorical "
                  "or .numeric to learn from them.[/]")
    try:
        result = learn(data, run.horizon, progress=lambda text: err.print(f"  {text}"))
    except (LearnError, ScorecardError) as exc:
        err.print(f"[red]{term(exc)}[/]")
        _print_usable_range(cfg, run.horizon, run.observed_until)
        raise typer.Exit(2) from None
    print_learned(console, result, run.horizon.words)
    if not write:
        console.print(f"Nothing written; --write stores the model in {model_path()}.")
        return
    document = model_document(result, str(run.horizon), workspace_today(cfg),
                              cfg.scoring.learn)
    try:
        path = write_model(document)
    except (ScorecardError, OSError) as exc:
        err.print(f"[red]Could not write the model: {term(exc)}[/]")
        raise typer.Exit(1) from None
    console.print(f"Model written to {path} (pulse tune --show prints it). From the next "
                  "`pulse score` (and daily run) on it is the score; remove the file to go "
                  "back to the rules score.")


def _tune_weights(
    cfg: PulseConfig,
    start: str,
    end: str,
    horizon: str,
    every: str,
    write: bool,
    observed_until: str | None,
    stored_renewals: bool,
) -> None:
    """The rules score's six weights fitted to past churn (docs/backtest.md)."""
    from pulse.cli.backtest_view import print_tune
    from pulse.kernel.config import ConfigError
    from pulse.services.weights_file import config_path, write_weights
    from scoring.backtest import BacktestError
    from scoring.tune import tune

    run = _run(cfg, start, end, horizon, every, observed_until, stored_renewals)
    try:
        result = tune(
            run.panel,
            cfg.scoring.weights.model_dump(),
            cfg.scoring.tiers,
            run.horizon,
            cfg.scoring.flags.score_drop_points,
        )
    except BacktestError as exc:
        err.print(f"[red]{term(exc)}[/]")
        _print_usable_range(cfg, run.horizon, run.observed_until)
        raise typer.Exit(2) from None
    print_tune(console, result, run.horizon.words)
    if not write:
        if result.changed:
            console.print(f"Nothing written; --write saves them to {config_path()}.")
        return
    if not result.changed:
        console.print("Nothing to write: the suggestion is the current weights.")
        return
    try:
        outcome = write_weights(result.suggested)
    except (ConfigError, OSError) as exc:
        err.print(f"[red]Could not write the weights: {term(exc)}[/]")
        raise typer.Exit(1) from None
    if outcome.created:
        console.print(f"Created {outcome.path} with the suggested weights (the rest: defaults).")
    elif outcome.comments_kept:
        console.print(f"Weights written to {outcome.path} (only scoring.weights changed).")
    else:
        console.print(
            f"Weights written to {outcome.path}. Its layout needed a full rewrite: every "
            "setting is kept, but comments and formatting were lost."
        )
