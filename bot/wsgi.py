"""The WSGI application factory: ``bot.wsgi:create_app()``.

What ``pulse serve`` runs in each gunicorn worker, and what any WSGI server can run::

    gunicorn --worker-class gthread --threads 8 'bot.wsgi:create_app()'

It reads the configuration as every Pulse command does (``PULSE_CONFIG`` or
``./pulse.yml``, ``DATABASE_URL`` and the secrets from the environment), sets up logging
(:mod:`pulse.kernel.logs`), and builds one process's worth of Pulse: the Slack app, the
webhook receiver and its live-rescoring worker, the probes, and the scheduled jobs.
Several processes may each run this: the scheduler of each only *competes* for the
leader lock (:class:`pulse.jobs.locks.LeaderLock`), so exactly one of them runs the
jobs, and another takes over within ``LEADERSHIP_SECONDS`` when it stops.
:meth:`PulseApp.close` (gunicorn's ``worker_exit`` hook, and ``atexit``) stops the jobs,
which releases the lock, and the live worker.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from bot.app import app_from_env
from bot.delivery import SlackDelivery
from bot.server import Dispatcher, dispatcher
from bot.webhooks import WebhookReceiver
from pulse.jobs.live.worker import LiveWorker
from pulse.jobs.pipeline import admin_reporter
from pulse.jobs.scheduler import PulseScheduler
from pulse.kernel.clock import utcnow
from pulse.kernel.config import PulseConfig, load_config
from pulse.kernel.logs import configure_logging

log = logging.getLogger("pulse.bot.wsgi")

JOB_GRACE_SECONDS = 20.0
"""At shutdown, how long a scheduled job in progress may go on before the process exits
anyway (within gunicorn's graceful timeout, :data:`bot.production.GRACEFUL_SECONDS`). A
pipeline cut short leaves its run marked running; ``pulse runs`` shows it."""


class PulseApp:
    """The WSGI callable of one server process, owning what runs beside the requests."""

    def __init__(self, handler: Dispatcher, receiver: WebhookReceiver, worker: LiveWorker,
                 jobs: PulseScheduler | None) -> None:
        self.handler = handler
        self.receiver = receiver
        self.worker = worker
        self.jobs = jobs
        self._closed = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        return self.handler(environ, start_response)

    def close(self) -> None:
        """Stop the scheduled jobs (releasing the leader lock) and the live worker; once."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self.jobs is not None:
            leader = self.jobs.lock.held
            self.jobs.stop(timeout=JOB_GRACE_SECONDS)
            if leader:
                log.info("scheduler stopped; leader lock released")
        self.worker.stop()


def create_app(config: PulseConfig | None = None, *, scheduler: bool = True,
               setup_logging: bool = True) -> PulseApp:
    """Pulse's WSGI application (the configuration from the environment by default).

    Raises :class:`bot.app.MissingSetting` naming a missing variable
    (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET) and
    :class:`pulse.kernel.config.ConfigError` for a bad ``pulse.yml``.
    """
    cfg = config or load_config()
    if setup_logging:
        configure_logging(cfg.logging)
    slack_app = app_from_env(cfg)
    delivery = SlackDelivery(slack_app.client)
    worker = LiveWorker(cfg.database_url, cfg, delivery=delivery, clock=utcnow).start()
    receiver = WebhookReceiver.from_env(cfg.database_url, clock=utcnow, notify=worker.notify)
    jobs = None
    if scheduler:
        jobs = PulseScheduler(cfg, delivery=delivery, on_failure=admin_reporter(cfg, delivery))
        jobs.start()
    app = PulseApp(dispatcher(slack_app, webhooks=receiver, database_url=cfg.database_url),
                   receiver, worker, jobs)
    atexit.register(app.close)
    return app
