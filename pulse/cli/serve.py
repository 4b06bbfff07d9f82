"""The long-running processes: `pulse serve` (the Slack bot, live rescoring and the
scheduled jobs) and `pulse scheduler` (the scheduled jobs alone)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from pulse.cli.common import console, err, load_settings, optional_slack, require_schema
from pulse.kernel.clock import utcnow

if TYPE_CHECKING:
    from bot.webhooks import WebhookReceiver
    from pulse.jobs.live.worker import LiveWorker
    from pulse.kernel.config import PulseConfig
    from pulse.services.outbox import Delivery

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
"""How the long-running processes log (to stderr, level INFO)."""


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
    from bot.app import MissingSetting, app_from_env, require_env
    from bot.delivery import SlackDelivery
    from bot.server import EVENTS_PATH, serve_http, serve_socket

    cfg = load_settings()
    require_schema(cfg.database_url)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
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

    worker = LiveWorker(cfg.database_url, cfg, delivery=delivery, clock=utcnow).start()
    receiver = WebhookReceiver.from_env(cfg.database_url, clock=utcnow, notify=worker.notify)
    return receiver, worker


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
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
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
