"""The `pulse` command line. Commands parse, call a service, and render; nothing more."""

from __future__ import annotations

import sys
import time
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from sqlalchemy import select

from connectors.crm import CRM_SYSTEMS, crm_problem
from pulse.kernel.config import ConfigError, PulseConfig, load_config

if TYPE_CHECKING:
    from bot.webhooks import WebhookReceiver
    from pulse.jobs.live.worker import LiveWorker
    from pulse.services.outbox import Delivery

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Pulse: customer health.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
console = Console()
err = Console(stderr=True)


def _config() -> PulseConfig:
    try:
        return load_config()
    except ConfigError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"[red]{option}: '{value}' is not a date (expected YYYY-MM-DD)[/]")
        raise typer.Exit(2) from None


def _require_schema(url: str) -> None:
    from storage.migrate import is_current

    if not is_current(url):
        err.print(f"[red]No Pulse schema in {_safe(url)}: run `pulse db upgrade` first.[/]")
        raise typer.Exit(1)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema of the configured database."""
    from storage.migrate import upgrade

    cfg = _config()
    upgrade(cfg.database_url)
    console.print(f"Database {_safe(cfg.database_url)} is up to date.")


def _configured_sources(cfg: PulseConfig) -> list[str]:
    return cfg.synced_sources


@app.command()
def sync(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    full: Annotated[bool, typer.Option(help="Ignore the stored cursor.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Report what would change; write nothing.")] = False,
    unmatched: Annotated[
        bool, typer.Option(help="List records identity resolution could not link to a CRM account.")
    ] = False,
) -> None:
    """Pull every configured source (or one) into storage, then link identities."""
    cfg = _config()
    _require_schema(cfg.database_url)
    sources = _configured_sources(cfg)
    if source:
        from connectors.base import get_connector

        try:
            get_connector(source)
        except KeyError as exc:
            err.print(f"[red]{exc.args[0]}[/]")
            raise typer.Exit(2) from None
        sources = [source]
    if not sources:
        err.print(f"[red]No sources configured in {cfg.source_label} (key 'sources').[/]")
        raise typer.Exit(2)
    from pulse.cli.terminal import print_sync_report, sync_with_progress

    reports = sync_with_progress(console, cfg, sources, full=full, dry_run=dry_run)
    for report in reports:
        print_sync_report(console, report)
    _resolve_and_print(cfg, show_unmatched=unmatched, dry_run=dry_run)
    _record_ledger(cfg, dry_run=dry_run)
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(1)


@app.command()
def sources() -> None:
    """List configured sources and their last run."""
    from rich.table import Table

    from storage.db import session_factory
    from storage.models import SyncState

    cfg = _config()
    _require_schema(cfg.database_url)
    from pulse.kernel.clock import utcnow
    from scoring.freshness import source_status

    now = utcnow()
    with session_factory(cfg.database_url)() as session:
        states = {s.source: s for s in session.scalars(select(SyncState))}
    table = Table(show_edge=False)
    for col in ("Source", "Last run", "Status", "Last success", "Freshness", "Cursor"):
        table.add_column(col)
    for name in sorted(set(_configured_sources(cfg)) | set(states)):
        s = states.get(name)
        table.add_row(
            name,
            str(s.last_run_at or "-") if s else "never",
            (s.last_status or "-") if s else "-",
            str(s.last_success_at or "-") if s else "-",
            source_status(cfg, name, s.last_success_at if s else None, now),
            (s.cursor or "-") if s else "-",
        )
    console.print(table)


@app.command()
def score(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Score as of YYYY-MM-DD.")] = None,
) -> None:
    """Score every account and store a snapshot for the date."""
    from scoring.engine import run_scoring
    from storage.db import session_scope

    cfg = _config()
    _require_schema(cfg.database_url)
    day = _parse_date(as_of, "--as-of") or date.today()
    with session_scope(cfg.database_url) as session:
        summary = run_scoring(session, cfg, day)
    console.print(str(summary))


def _account_or_exit(session: object, name: str):  # type: ignore[no-untyped-def]
    """The one account ``name`` designates, or exit 1 listing the candidates or the
    closest names (the same wording for every command that takes an account)."""
    from pulse.services.lookup import find_account

    match = find_account(session, name)  # type: ignore[arg-type]
    if match.account is None:
        if match.candidates:
            err.print(f"'{name}' matches several accounts; be more specific:")
            for acc in match.candidates:
                err.print(f"  {acc.name} ({acc.domain or 'no domain'})")
        else:
            hint = f" Closest: {', '.join(match.closest)}." if match.closest else ""
            err.print(f"[red]No account matches '{name}'.{hint}[/]")
        raise typer.Exit(1)
    return match.account


@app.command()
def explain(
    name: Annotated[str, typer.Argument(help="Account name or domain (fragments work).")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Snapshot on or before.")] = None,
) -> None:
    """Show an account's score breakdown, top reasons, flags and change since last time."""
    from pulse.cli.explain_view import render_explanation
    from storage.db import session_factory

    cfg = _config()
    _require_schema(cfg.database_url)
    day = _parse_date(as_of, "--as-of")
    with session_factory(cfg.database_url)() as session:
        account = _account_or_exit(session, name)
        if not render_explanation(console, session, account, day):
            err.print(f"[red]{account.name} has no score yet: run `pulse score`.[/]")
            raise typer.Exit(1)


@app.command()
def demo(
    force: Annotated[
        bool, typer.Option(help="Reset the database even if it holds non-sample data.")
    ] = False,
) -> None:
    """Fresh database, sample workspace, two scoring runs, and the summary."""
    from pulse.cli.demo import run_demo

    cfg = _config()
    started = time.perf_counter()
    try:
        run_demo(console, cfg, force=force)
    except RuntimeError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"[dim]Demo finished in {time.perf_counter() - started:.1f}s.[/]")


# ---------------------------------------------------------------------------------------
# Slack: the bot, digests and alert cards


def _slack_token() -> str:
    """SLACK_BOT_TOKEN, or exit 2 naming the variable."""
    from bot.app import MissingSetting, require_env

    try:
        return require_env("SLACK_BOT_TOKEN")
    except MissingSetting as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def _print_payload(title: str, payload: dict[str, object]) -> None:
    """A dry-run message: its Block Kit JSON, then how it reads as text."""
    import json

    from pulse.services.notify import payload_as_text

    console.rule(title, style="bold")
    typer.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
    console.rule("as text", style="dim")
    typer.echo(payload_as_text(payload))  # type: ignore[arg-type]
    typer.echo("")


@app.command()
def serve(
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="HTTP port (default: slack.port in pulse.yml)."),
    ] = None,
    socket: Annotated[
        bool, typer.Option("--socket", help="Socket Mode (SLACK_APP_TOKEN) instead of HTTP.")
    ] = False,
    scheduler: Annotated[
        bool, typer.Option(help="Also run the daily pipeline and checks (leader only).")
    ] = True,
) -> None:
    """Run the Slack bot (/health, alert buttons, Home tab) and the scheduled jobs."""
    import logging

    from bot.app import MissingSetting, app_from_env, require_env
    from bot.delivery import SlackDelivery
    from bot.server import EVENTS_PATH, serve_http, serve_socket

    cfg = _config()
    _require_schema(cfg.database_url)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        app_token = require_env("SLACK_APP_TOKEN") if socket else None
        slack_app = app_from_env(cfg, socket_mode=socket)
    except MissingSetting as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    jobs = None
    if scheduler:
        from pulse.jobs.pipeline import admin_reporter
        from pulse.jobs.scheduler import PulseScheduler

        delivery = SlackDelivery(slack_app.client)
        jobs = PulseScheduler(cfg, delivery=delivery, on_failure=admin_reporter(cfg, delivery))
        jobs.start()
        console.print(f"Scheduled: the daily pipeline at {cfg.schedule.time} "
                      f"({cfg.workspace.timezone}), on whichever process holds the lock.")
    try:
        if app_token is not None:
            console.print("Pulse is connecting to Slack in Socket Mode (Ctrl-C to stop).")
            serve_socket(slack_app, app_token)
            return
        chosen = port or cfg.slack.port
        receiver, worker = _live_rescoring(cfg, SlackDelivery(slack_app.client))
        console.print(f"Pulse is listening on http://0.0.0.0:{chosen}{EVENTS_PATH} "
                      "(Ctrl-C to stop).")
        live = ", ".join(receiver.configured())
        console.print(f"Webhooks for live rescoring: {live or 'none configured'} "
                      f"(POST /webhooks/<source>, see docs/live.md).")
        try:
            serve_http(slack_app, chosen, webhooks=receiver)
        finally:
            worker.stop()
    finally:
        if jobs is not None:
            jobs.stop()


def _live_rescoring(
    cfg: PulseConfig, delivery: Delivery
) -> tuple[WebhookReceiver, LiveWorker]:
    """The webhook receiver (secrets from the environment) and its started worker."""
    from bot.webhooks import WebhookReceiver
    from pulse.jobs.live.worker import LiveWorker
    from pulse.kernel.clock import utcnow

    worker = LiveWorker(cfg.database_url, cfg, delivery=delivery, clock=utcnow).start()
    receiver = WebhookReceiver.from_env(cfg.database_url, clock=utcnow, notify=worker.notify)
    return receiver, worker


@app.command()
def digest(
    dry_run: Annotated[
        bool, typer.Option(help="Print the messages (JSON and text); send nothing, no token.")
    ] = False,
    user: Annotated[
        str | None, typer.Option(help="Only this person's digest (email or Slack user id).")
    ] = None,
) -> None:
    """Send the morning digests: each CSM's list by DM, managers their team's portfolio."""
    from sqlalchemy import func, or_

    from bot.delivery import SlackDelivery, web_client
    from pulse.jobs.deliver import send_digests
    from pulse.kernel.clock import utcnow
    from storage.db import session_factory
    from storage.models import Owner

    cfg = _config()
    _require_schema(cfg.database_url)
    delivery = None if dry_run else SlackDelivery(web_client(_slack_token()))
    now = utcnow()
    with session_factory(cfg.database_url)() as session:
        only = None
        if user:
            key = user.strip().lower()
            owner = session.scalars(
                select(Owner)
                .where(or_(func.lower(Owner.email) == key, func.lower(Owner.slack_user_id) == key))
                .order_by(Owner.id)
            ).first()
            if owner is None:
                err.print(f"[red]No CSM or manager matches '{user}' (email or Slack user id).[/]")
                raise typer.Exit(1)
            owner_id = owner.id
            only = lambda oid, _sid: oid == owner_id  # noqa: E731
        messages, report = send_digests(delivery, session, cfg, now, dry_run=dry_run, only=only)
        session.rollback()  # digests only read
    if not messages:
        console.print("No digests to send (no recipients with a Slack user id, or no scores).")
        return
    if dry_run:
        for msg in messages:
            _print_payload(f"{msg.kind} digest -> {msg.destination}", msg.payload)
            if msg.chart is not None:
                typer.echo(f"(+ trend chart, {len(msg.chart):,} bytes PNG: {msg.chart_title})")
        console.print(f"Dry run: {len(messages)} digest(s) built, nothing sent.")
        return
    console.print(str(report))
    if report.failed:
        for destination, error in report.failed:
            err.print(f"[red]{destination}: {error}[/]")
        raise typer.Exit(1)


@app.command("alerts")
def alerts_command(
    dry_run: Annotated[
        bool, typer.Option(help="Print the cards that would be posted; change nothing.")
    ] = False,
) -> None:
    """Evaluate alerts against the latest scores and post (or update) their cards now."""
    from bot.delivery import SlackDelivery, web_client
    from pulse.jobs.deliver import post_alert_cards
    from pulse.kernel.clock import utcnow
    from pulse.services.alerts import evaluate_alerts
    from pulse.services.notify import alert_card_previews, with_unposted
    from storage.db import session_factory

    cfg = _config()
    _require_schema(cfg.database_url)
    delivery = None if dry_run else SlackDelivery(web_client(_slack_token()))
    now = utcnow()
    with session_factory(cfg.database_url)() as session:
        changes = evaluate_alerts(session, cfg, now)
        if dry_run:
            changes = with_unposted(session, changes)
            previews = alert_card_previews(session, cfg, changes, now)
            session.rollback()
            for kind, destination, payload in previews:
                _print_payload(f"{kind} -> {destination or '(no recipient)'}", payload)
            console.print(
                f"Dry run: {len(changes.raised)} raised, {len(changes.reopened)} reopened, "
                f"{len(changes.resolved)} resolved; nothing posted or stored."
            )
            return
        session.commit()  # the evaluation stands even if Slack is unreachable
        assert delivery is not None
        report = post_alert_cards(delivery, session, cfg, with_unposted(session, changes), now)
    console.print(
        f"{len(changes.raised)} raised, {len(changes.reopened)} reopened, "
        f"{len(changes.resolved)} resolved; {report}."
    )
    if report.failed:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------
# Identities across sources, CRM field check and health writeback


def _resolve_and_print(cfg: PulseConfig, *, show_unmatched: bool, dry_run: bool = False) -> None:
    """Link every source's accounts to the CRM account (services.identity); list the unmatched."""
    from pulse.services.identity import resolve_identities
    from storage.db import session_factory

    with session_factory(cfg.database_url)() as session:
        report = resolve_identities(session, cfg)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    if report.linked or report.unmatched:
        console.print(
            f"identities: {len(report.linked):,} record(s) linked to "
            f"{report.primary_source or 'no'} CRM accounts, {len(report.unmatched):,} unmatched"
            + ("" if show_unmatched or not report.unmatched else " (pulse sync --unmatched)"),
            highlight=False,
        )
    if not show_unmatched:
        return
    if not report.unmatched:
        console.print("No unmatched records: every account is linked to its CRM account.")
        return
    from rich.table import Table

    table = Table(title="Unmatched records", show_edge=False)
    for col in ("Source", "External id", "Name", "Reason"):
        table.add_column(col)
    for source, external_id, name, reason in report.unmatched:
        table.add_row(source, external_id, name or "-", reason)
    console.print(table)


def _record_ledger(cfg: PulseConfig, *, dry_run: bool) -> None:
    """Record ARR changes the sync brought in (storage.arr_ledger): retention metrics read
    the ledger, and only a sync sees an account's ARR change."""
    from pulse.jobs.pipeline import local_date
    from pulse.kernel.clock import utcnow
    from storage.arr_ledger import record_arr_ledger
    from storage.db import session_factory

    now = utcnow()
    with session_factory(cfg.database_url)() as session:
        report = record_arr_ledger(session, local_date(cfg, now), now)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    console.print(f"{report}{' (dry run: not stored)' if dry_run else ''}", highlight=False)


@app.command()
def identities() -> None:
    """Link records of every source to their CRM account now and list the unmatched (no sync)."""
    cfg = _config()
    _require_schema(cfg.database_url)
    _resolve_and_print(cfg, show_unmatched=True)


crm_app = typer.Typer(no_args_is_help=True, help="The CRM Pulse writes health to.")
app.add_typer(crm_app, name="crm")
def _crm_module(system: str):  # type: ignore[no-untyped-def]
    import importlib

    try:
        return importlib.import_module(f"connectors.{system}")
    except ImportError as exc:
        err.print(f"[red]{system}: connector not available ({exc})[/]")
        raise typer.Exit(1) from None


@crm_app.command("check")
def crm_check() -> None:
    """Check that the CRM has the fields Pulse reads and writes (name, type)."""
    cfg = _config()
    checked = 0
    failed = False
    for system in CRM_SYSTEMS:
        problem = crm_problem(cfg, system)
        if problem:
            console.print(f"[dim]{problem}[/]", highlight=False)
            continue
        module = _crm_module(system)
        check = module.check_fields if system == "salesforce" else module.check_properties
        try:
            results = check(None, cfg)
        except Exception as exc:  # noqa: BLE001 - report the CRM's answer, whatever it is
            err.print(f"[red]{system}: check failed: {exc}[/]")
            failed = True
            continue
        checked += 1
        bad = [r for r in results if getattr(r, "problem", None)]
        console.print(f"[bold]{system}[/]: {len(results) - len(bad)} of {len(results)} field(s) ok")
        for r in results:
            found = getattr(r, "type", None) or getattr(r, "found", None) or "-"
            expected = getattr(r, "expected_type", None) or getattr(r, "expected", None) or "any"
            state = f"[red]{r.problem}[/]" if r.problem else "[green]ok[/]"
            console.print(f"  {r.name}: {found} (expected {expected}) {state}", highlight=False)
        failed |= bool(bad)
    if not checked and not failed:
        err.print("[red]No CRM configured: add sources.salesforce or sources.hubspot to "
                  f"{cfg.source_label} and set its credentials.[/]")
        raise typer.Exit(2)
    if failed:
        raise typer.Exit(1)


@app.command()
def writeback(
    system: Annotated[
        str | None, typer.Option(help="salesforce or hubspot (default: every configured CRM).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Count what would be written; call no CRM.")
    ] = False,
) -> None:
    """Write the latest health values to the CRM (only values that changed)."""
    from connectors.writeback import pending_writeback
    from storage.db import session_factory

    cfg = _config()
    _require_schema(cfg.database_url)
    if system is not None and system not in CRM_SYSTEMS:
        err.print(f"[red]--system: '{system}' is not one of {', '.join(CRM_SYSTEMS)}[/]")
        raise typer.Exit(2)
    systems = [system] if system else [
        s for s in CRM_SYSTEMS if getattr(cfg.sources, s) is not None
    ]
    if not systems:
        err.print("[red]No CRM configured: add sources.salesforce or sources.hubspot to "
                  f"{cfg.source_label}, or pass --system.[/]")
        raise typer.Exit(2)
    failed = False
    with session_factory(cfg.database_url)() as session:
        for name in systems:
            if dry_run:
                items, report = pending_writeback(session, name)  # type: ignore[arg-type]
                console.print(
                    f"{name} (dry run): {len(items):,} account(s) to update, "
                    f"{report.unchanged:,} unchanged, {report.no_record_id:,} without a "
                    f"{name} id, of {report.considered:,} scored; nothing sent.",
                    highlight=False,
                )
                continue
            problem = crm_problem(cfg, name)
            if problem:
                err.print(f"[red]{problem}[/]")
                failed = True
                continue
            module = _crm_module(name)
            try:
                report = module.write_back(session, cfg)
                session.commit()
            except Exception as exc:  # noqa: BLE001 - one CRM failing must not hide the other
                session.rollback()
                err.print(f"[red]{name}: writeback failed: {exc}[/]")
                failed = True
                continue
            console.print(
                f"{name}: {report.succeeded:,} of {report.sent:,} sent updated "
                f"({report.requests:,} request(s){_setup(report.setup_requests)}), "
                f"{report.unchanged:,} unchanged, "
                f"{report.no_record_id:,} without a {name} id, {len(report.failed):,} failed",
                highlight=False,
            )
            for where, reason in report.failed[:20]:
                err.print(f"  [red]{where}: {reason}[/]")
            failed |= bool(report.failed)
        session.rollback()
    if failed:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------
# The daily pipeline, its runs, the scheduler and the audit log


def _optional_slack() -> Delivery | None:
    """Slack delivery when SLACK_BOT_TOKEN is set; steps that need Slack skip otherwise."""
    import os

    from bot.delivery import SlackDelivery, web_client

    token = os.environ.get("SLACK_BOT_TOKEN", "").strip()
    return SlackDelivery(web_client(token)) if token else None


def _print_steps(steps: list[dict[str, object]]) -> None:
    from rich.table import Table

    table = Table(show_edge=False)
    for col in ("Step", "Status", "Tries", "Seconds", "Detail"):
        table.add_column(col)
    colour = {"ok": "green", "failed": "red", "skipped": "yellow"}
    for s in steps:
        status = str(s.get("status"))
        table.add_row(str(s.get("name")), f"[{colour.get(status, 'white')}]{status}[/]",
                      str(s.get("attempts")), f"{float(s.get('seconds') or 0):.1f}",  # type: ignore[arg-type]
                      str(s.get("detail")))
    console.print(table)


@app.command("run")
def run_command() -> None:
    """Run the daily pipeline once now: sync, score, alerts, writeback, digests, retention."""
    from pulse.jobs.pipeline import admin_reporter, run_pipeline

    cfg = _config()
    _require_schema(cfg.database_url)
    slack = _optional_slack()
    run = run_pipeline(cfg, kind="manual", delivery=slack, on_failure=admin_reporter(cfg, slack))
    assert run is not None  # manual runs are never refused
    _print_steps(run.steps)
    console.print(f"Run {run.id} of {run.run_date}: {run.status}.")
    if run.status != "ok":
        raise typer.Exit(1)


@app.command("runs")
def runs_command(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many runs.")] = 20,
    steps: Annotated[bool, typer.Option(help="Show each run's steps.")] = False,
) -> None:
    """List past pipeline runs (scheduled and manual) with each step's outcome and timing."""
    from rich.table import Table

    from pulse.jobs.pipeline import recent_runs

    cfg = _config()
    _require_schema(cfg.database_url)
    runs = recent_runs(cfg, limit)
    if not runs:
        console.print("No pipeline runs yet: `pulse run` runs one now; `pulse serve` schedules "
                      f"one every day at {cfg.schedule.time} ({cfg.workspace.timezone}).")
        return
    table = Table(show_edge=False)
    for col in ("Run", "Day", "Kind", "Started (UTC)", "Took", "Status", "Steps"):
        table.add_column(col)
    for run in runs:
        took = "-"
        if run.finished_at:
            took = f"{(run.finished_at - run.started_at).total_seconds():.0f}s"
        summary = " ".join(f"{s['name']}:{s['status']}" for s in run.steps) or "(running)"
        table.add_row(str(run.id), str(run.run_date), run.kind, str(run.started_at), took,
                      run.status, summary)
    console.print(table)
    if steps:
        for run in runs:
            console.print(f"[bold]Run {run.id}[/] ({run.kind}, {run.run_date}, {run.host})")
            _print_steps(run.steps)


@app.command("scheduler")
def scheduler_command(
    once: Annotated[
        bool, typer.Option(help="Take the lead, run today's pipeline if due or missed, exit.")
    ] = False,
) -> None:
    """Run the scheduled jobs in the foreground (`pulse serve` also runs them)."""
    import logging
    import signal
    import threading

    from pulse.jobs.pipeline import admin_reporter
    from pulse.jobs.scheduler import PulseScheduler

    cfg = _config()
    _require_schema(cfg.database_url)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    slack = _optional_slack()
    scheduler = PulseScheduler(cfg, delivery=slack, on_failure=admin_reporter(cfg, slack))
    if once:
        if not scheduler.lock.acquire():
            console.print("Another Pulse process holds the scheduler lock; nothing to do.")
            return
        run = scheduler.catch_up()
        scheduler.stop()
        console.print(f"Run {run.id}: {run.status}." if run else
                      "Nothing due: today's run is done or not due yet.")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler.start()
    console.print(f"Pulse scheduler: daily run at {cfg.schedule.time} ({cfg.workspace.timezone}); "
                  "Ctrl-C to stop.")
    try:
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.stop()


@app.command("playbooks")
def playbooks_command() -> None:
    """List the playbooks in pulse.yml: trigger, conditions, actions, cooldown."""
    from rich.table import Table

    cfg = _config()
    if not cfg.playbooks:
        console.print(f"No playbooks in {cfg.source_label} (key 'playbooks'; see "
                      "docs/scheduling.md).")
        return
    table = Table(show_edge=False)
    for col in ("Playbook", "Trigger", "When", "Actions", "Cooldown"):
        table.add_column(col)
    for p in cfg.playbooks:
        trigger = p.trigger.model_dump(exclude_none=True)
        kind = trigger.pop("type")
        when = "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in p.when.model_dump(exclude_defaults=True).items()
        ) or "any account"
        actions = ", ".join(
            " ".join(str(x) for x in (a.type, a.channel or a.user or a.url) if x)
            for a in p.actions
        )
        params = " ".join(f"{k}={v}" for k, v in trigger.items())
        table.add_row(p.name, f"{kind} {params}".strip(), when, actions, f"{p.cooldown_days}d")
    console.print(table)


@app.command("audit")
def audit_command(
    account: Annotated[str | None, typer.Option(help="Only this account (name or domain).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=5000, help="How many entries.")] = 50,
) -> None:
    """Every automated action and every button click, newest first."""
    from rich.table import Table

    from storage.db import session_factory
    from storage.models import Account, AuditLog

    cfg = _config()
    _require_schema(cfg.database_url)
    with session_factory(cfg.database_url)() as session:
        stmt = select(AuditLog, Account.name).outerjoin(Account, Account.id == AuditLog.account_id)
        if account:
            stmt = stmt.where(AuditLog.account_id == _account_or_exit(session, account).id)
        newest = stmt.order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)
        rows = session.execute(newest).all()
    if not rows:
        console.print("No audit entries" + (f" for {account}." if account else "."))
        return
    table = Table(show_edge=False)
    for col in ("When (UTC)", "Who", "Action", "Account", "Outcome", "Detail"):
        table.add_column(col)
    for entry, name in rows:
        detail = ", ".join(f"{k}={v}" for k, v in (entry.detail or {}).items())
        table.add_row(str(entry.at), entry.actor, entry.action, name or "-", entry.outcome,
                      detail[:160])
    console.print(table)


def _setup(requests: int) -> str:
    return f" + {requests:,} to read or set up the CRM's fields" if requests else ""


# Commands kept in their own modules register themselves on `app` when imported.
from pulse.cli import backtest, metrics  # noqa: E402,F401


def main() -> None:  # pragma: no cover - console script shim
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
