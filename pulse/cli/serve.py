"""The long-running processes: `pulse serve` (the Slack bot, live rescoring and the
scheduled jobs) and `pulse scheduler` (the scheduled jobs alone)."""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from pulse.cli.common import (
    console,
    err,
    load_settings,
    optional_slack,
    require_schema,
    warn_playbook_problems,
)
from pulse.cli.escape import term

if TYPE_CHECKING:
    from pulse.kernel.config import PulseConfig

DEFAULT_WORKERS = 2
"""Worker processes of ``pulse serve``: two, so one busy or restarting worker never
leaves Slack unanswered; more only help CPU-bound load (see docs/performance.md)."""
DEFAULT_THREADS = 8
"""Request threads per worker: Bolt acks at once and does the slow work on its own pool,
so a few threads per process absorb a burst of clicks."""


def serve(
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="HTTP port (default: slack.port in pulse.yml)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="gunicorn worker processes.")
    ] = DEFAULT_WORKERS,
    threads: Annotated[
        int, typer.Option(min=1, max=256, help="Request threads per worker.")
    ] = DEFAULT_THREADS,
    socket: Annotated[
        bool, typer.Option("--socket", help="Socket Mode (SLACK_APP_TOKEN) instead of HTTP.")
    ] = False,
    scheduler: Annotated[
        bool, typer.Option(help="Also run the daily pipeline and checks (leader only).")
    ] = True,
) -> None:
    """Run the Slack bot (/health, alert buttons, Home tab), webhooks, /healthz, /readyz,
    /metrics and the scheduled jobs, on gunicorn (SIGTERM stops gracefully)."""
    cfg = load_settings()
    require_schema(cfg.database_url)
    if scheduler:
        warn_playbook_problems(cfg)  # said once here, not at 06:00 in the audit log
    if socket:
        _serve_socket(cfg, scheduler)
        return
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):  # before the process is set up
        if not os.environ.get(name, "").strip():
            err.print(f"[red]{name} is not set (see docs/configuration.md)[/]")
            raise typer.Exit(2)
    from bot.production import prepare_metrics_dir

    metrics_dir = prepare_metrics_dir()  # before anything imports prometheus-client
    from bot.app import MissingSetting, app_from_env
    from bot.production import PulseServer
    from bot.server import EVENTS_PATH
    from pulse.kernel.logs import configure_logging

    configure_logging(cfg.logging)
    try:
        app_from_env(cfg)  # a missing variable is one line here, not one per worker
    except MissingSetting as exc:
        err.print(f"[red]{term(exc)}[/]")
        raise typer.Exit(2) from None
    chosen = port or cfg.slack.port
    console.print(f"Pulse is listening on http://{host}:{chosen}{EVENTS_PATH} with {workers} "
                  f"worker(s) x {threads} thread(s); /healthz, /readyz, /metrics; webhooks on "
                  "POST /webhooks/<source> (docs/deploy.md). SIGTERM or Ctrl-C stops it.")
    if scheduler:
        console.print(f"Scheduled: the daily pipeline at {cfg.schedule.time} "
                      f"({cfg.workspace.timezone}), on whichever process holds the lock.")
    PulseServer(host=host, port=chosen, workers=workers, threads=threads, scheduler=scheduler,
                log_level=cfg.logging.level, metrics_dir=metrics_dir).run()


def _serve_socket(cfg: PulseConfig, scheduler: bool) -> None:
    """Socket Mode: Slack's requests over a websocket, the jobs in this process."""
    from bot.app import MissingSetting, app_from_env, require_env
    from bot.delivery import SlackDelivery
    from bot.server import serve_socket
    from pulse.kernel.logs import configure_logging

    configure_logging(cfg.logging)
    try:
        app_token = require_env("SLACK_APP_TOKEN")
        slack_app = app_from_env(cfg, socket_mode=True)
    except MissingSetting as exc:
        err.print(f"[red]{term(exc)}[/]")
        raise typer.Exit(2) from None
    jobs = None
    if scheduler:
        from pulse.jobs.pipeline import admin_reporter
        from pulse.jobs.scheduler import PulseScheduler

        delivery = SlackDelivery(slack_app.client)
        jobs = PulseScheduler(cfg, delivery=delivery, on_failure=admin_reporter(cfg, delivery))
        jobs.start()
    try:
        console.print("Pulse is connecting to Slack in Socket Mode (Ctrl-C to stop).")
        serve_socket(slack_app, app_token)
    finally:
        if jobs is not None:
            jobs.stop()


def scheduler_command(
    once: Annotated[
        bool, typer.Option(help="Take the lead, run today's pipeline if due or missed, exit.")
    ] = False,
) -> None:
    """Run the scheduled jobs in the foreground (`pulse serve` also runs them)."""
    from pulse.jobs.pipeline import admin_reporter
    from pulse.jobs.scheduler import PulseScheduler

    cfg = load_settings()
    require_schema(cfg.database_url)
    from pulse.kernel.logs import configure_logging

    configure_logging(cfg.logging)
    warn_playbook_problems(cfg)
    slack = optional_slack()
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
