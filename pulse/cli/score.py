"""`pulse score`, `pulse explain` and `pulse demo`, and what Slack is sent from the
terminal: `pulse digest` and `pulse alerts`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Annotated

import typer

from pulse.cli.common import (
    account_or_exit,
    console,
    err,
    load_settings,
    one_run_at_a_time,
    parse_date,
    require_schema,
    required_slack,
    workspace_today,
)
from pulse.cli.escape import term
from pulse.kernel.clock import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def score(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Score as of YYYY-MM-DD.")] = None,
) -> None:
    """Score every account and store a snapshot for the date (with the learned model when
    `pulse tune --write` stored one, else the rules score)."""
    given = parse_date(as_of, "--as-of")
    cfg = load_settings()
    require_schema(cfg.database_url)

    from pulse.services.model_file import live_model
    from scoring.engine import run_scoring
    from scoring.learn.scorecard import ScorecardError
    from storage.db import session_scope

    day = given or workspace_today(cfg)
    try:
        model = live_model()
    except ScorecardError as exc:
        err.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(1) from None
    with session_scope(cfg.database_url) as session:
        summary = run_scoring(session, cfg, day, model=model)
    console.print(str(summary), highlight=False, markup=False)


def explain(
    name: Annotated[str, typer.Argument(help="Account name or domain (fragments work).")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Snapshot on or before.")] = None,
) -> None:
    """Show an account's score breakdown, top reasons, flags and change since last time,
    as of its snapshot's date (a learned score lists each input's points; a snapshot
    scored with the rules before a model was stored also shows the model's points)."""
    day = parse_date(as_of, "--as-of")
    cfg = load_settings()
    require_schema(cfg.database_url)

    from pulse.cli.explain_view import latest_snapshot, render_explanation, render_learned
    from pulse.services.model_file import model_path, read_model
    from scoring.learn.entries import model_provenance
    from scoring.learn.scorecard import ScorecardError
    from storage.db import session_factory

    with session_factory(cfg.database_url)() as session:
        account = account_or_exit(session, name)
        if not render_explanation(console, session, account, day):
            err.print(f"[red]{term(account.name)} has no score yet: run `pulse score`.[/]")
            raise typer.Exit(1)
        snap = latest_snapshot(session, account.id, day)
        assert snap is not None  # render_explanation found it
        if model_provenance(snap.components) or not model_path().exists():
            return  # scored by the learned model (explained above), or by the rules only
        try:
            doc = read_model()
        except (ScorecardError, OSError) as exc:
            err.print(f"[yellow]Learned model not shown: {model_path()}: {term(exc)}[/]")
            return
        render_learned(console, session, account, doc, snap.as_of, cfg.scoring)


def demo(
    force: Annotated[
        bool, typer.Option(help="Reset the database even if it holds non-sample data.")
    ] = False,
) -> None:
    """Fresh database, sample workspace, two scoring runs, and the summary."""
    from pulse.cli.demo import run_demo

    cfg = load_settings()
    started = time.perf_counter()
    try:
        run_demo(console, cfg, workspace_today(cfg), force=force)
    except RuntimeError as exc:
        err.print(f"[red]{term(exc)}[/]")
        raise typer.Exit(1) from None
    console.print(f"[dim]Demo finished in {time.perf_counter() - started:.1f}s.[/]")


# ---------------------------------------------------------------------------------------
# Slack: digests and alert messages


def _print_payload(title: str, payload: dict[str, object], as_json: bool) -> None:
    """A dry-run message: how it reads (``as_json``: its Block Kit JSON instead)."""
    from pulse.services.notify import payload_as_text

    console.rule(title, style="bold")
    if as_json:
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
    else:
        typer.echo(payload_as_text(payload))
    typer.echo("")


def digest(
    dry_run: Annotated[
        bool, typer.Option(help="Print the digests as they read; send nothing, no token.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --dry-run: the Block Kit JSON, not text.")
    ] = False,
    user: Annotated[
        str | None, typer.Option(help="Only this person's digest (email or Slack user id).")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Send again to people who already had today's digest.")
    ] = False,
) -> None:
    """Send the morning digests: each CSM's list by DM, managers their team's portfolio.

    One digest a person a day: people who already had today's are skipped unless --force.
    While another run is going (it holds the run lock) it says so and exits 1."""
    cfg = load_settings()
    require_schema(cfg.database_url)

    from pulse.jobs.deliver import send_digests
    from storage.db import session_factory

    delivery = None if dry_run else required_slack()
    now = utcnow()
    lock: AbstractContextManager[None] = (
        nullcontext() if dry_run else one_run_at_a_time(cfg.database_url)
    )
    with lock, session_factory(cfg.database_url)() as session:
        only = _only_person(session, user) if user else None
        messages, report = send_digests(
            delivery, session, cfg, now, dry_run=dry_run, only=only, force=force
        )
        session.rollback()  # what was sent is committed as it went
    already = ""
    if report.already:
        n = report.people_already
        already = (
            f"digests already sent today to {n} {'person' if n == 1 else 'people'}; "
            "--force sends them again"
        )
    if report.quiet:
        quiet = f"{len(set(report.quiet))} skipped on their quiet day (/health settings)"
        already = f"{already}; {quiet}" if already else quiet
    if not messages:
        console.print(
            already[:1].upper() + already[1:] + "."
            if already
            else "No digests to send (no recipients with a Slack user id, or no scores)."
        )
        return
    if dry_run:
        for msg in messages:
            _print_payload(f"{msg.kind} digest -> {msg.destination}", msg.payload, as_json)
            if msg.chart is not None:
                typer.echo(f"(+ trend chart, {len(msg.chart):,} bytes PNG: {msg.chart_title})")
        console.print(
            f"Dry run: {len(messages)} digest(s) built, nothing sent"
            + (f"; {already}." if already else ".")
        )
        return
    console.print(str(report))
    if report.failed:
        for destination, error in report.failed:
            err.print(f"[red]{term(destination)}: {term(error)}[/]")
        raise typer.Exit(1)


def _only_person(session: Session, user: str) -> Callable[[int, str], bool]:
    """The ``only`` filter of one person's digests (email or Slack user id); exits with one
    line when nobody matches."""
    from sqlalchemy import func, or_, select

    from storage.models import Owner

    key = user.strip().lower()
    owner = session.scalars(
        select(Owner)
        .where(or_(func.lower(Owner.email) == key, func.lower(Owner.slack_user_id) == key))
        .order_by(Owner.id)
    ).first()
    if owner is None:
        err.print(f"[red]No CSM or manager matches '{term(user)}' (email or Slack user id).[/]")
        raise typer.Exit(1)
    owner_id = owner.id
    return lambda oid, _sid: oid == owner_id


def alerts_command(
    dry_run: Annotated[
        bool, typer.Option(help="Print the messages that would be posted; change nothing.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --dry-run: the Block Kit JSON, not text.")
    ] = False,
    baseline: Annotated[
        bool,
        typer.Option(
            help="Take a new baseline first (after backfilling history): what holds now is "
            "summarised, not raised."
        ),
    ] = False,
) -> None:
    """Evaluate alerts against the latest scores and post each person's new alerts in one
    message (and update the messages of resolved ones) now. While another run is going (it
    holds the run lock) it says so and exits 1."""
    cfg = load_settings()
    require_schema(cfg.database_url)

    from pulse.jobs.deliver import post_alert_cards
    from pulse.services.alerts import evaluate_alerts
    from pulse.services.alerts.baseline import history_imported
    from pulse.services.notify import plan_alerts, with_unposted
    from storage.db import session_factory

    delivery = None if dry_run else required_slack()
    now = utcnow()
    lock: AbstractContextManager[None] = (
        nullcontext() if dry_run else one_run_at_a_time(cfg.database_url)
    )
    with lock, session_factory(cfg.database_url)() as session:
        if baseline:
            history_imported(session, "pulse alerts --baseline", now)
        changes = evaluate_alerts(session, cfg, now)
        counts = (
            f"{len(changes.raised)} raised, {len(changes.reopened)} reopened, "
            f"{len(changes.resolved)} resolved"
        )
        if changes.baselined:
            counts += (
                f", {len(changes.baselined)} already holding when Pulse started watching "
                "(the baseline: summarised, not raised)"
            )
        if dry_run:
            plan = plan_alerts(session, cfg, with_unposted(session, changes), now)
            session.rollback()
            for message in plan.messages:
                _print_payload(f"alert message -> {message.destination}", message.payload, as_json)
            for card in plan.updates:
                _print_payload(f"update -> {card.destination}", card.payload, as_json)
            console.print(
                f"Dry run: {counts}; {len(plan.messages)} message(s) to post, "
                f"{len(plan.held)} alert(s) held for the morning digest, "
                f"{len(plan.updates)} to update, {len(plan.unrouted)} without a recipient; "
                "nothing posted or stored."
            )
            return
        session.commit()  # the evaluation stands even if Slack is unreachable
        assert delivery is not None
        report = post_alert_cards(delivery, session, cfg, with_unposted(session, changes), now)
    console.print(f"{counts}; {report}.")
    if report.failed:
        raise typer.Exit(1)
