"""``pulse serve``'s production server: gunicorn, embedded, serving :func:`bot.wsgi.create_app`.

Why gunicorn (docs/deploy.md, "Server"): it embeds cleanly (``BaseApplication`` takes its
settings and the application from code, so ``pulse serve`` stays the one command), its
``gthread`` workers give each request a thread from a fixed pool (Bolt acks at once and
does the slow work on its own pool, so threads, not processes, carry Slack's traffic),
and its arbiter does what production needs: graceful shutdown (``SIGTERM``: stop
accepting, finish the requests in flight for up to :data:`GRACEFUL_SECONDS`, then exit),
workers restarted when they die, ``SIGHUP`` reloads. It runs on Linux and macOS, not
Windows (use WSL or the container there).

Processes: the gunicorn master only supervises; it starts no threads, so forking
workers stays safe. Each worker builds the whole app, including a scheduler that
competes for the leader lock, so exactly one process in the deployment runs the jobs.
On exit a worker closes its app (``worker_exit``): the scheduler stops and releases the
lock, and another worker (or another machine) takes over.

Metrics with several workers: prometheus-client's multiprocess mode, in the directory
``PROMETHEUS_MULTIPROC_DIR`` names. :func:`prepare_metrics_dir` must run before anything
imports :mod:`pulse.kernel.telemetry` (prometheus-client picks its storage at import),
which is why this module imports the app only inside :meth:`PulseServer.load`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # the same name as pulse.kernel.telemetry's
GRACEFUL_SECONDS = 30
"""How long a stopping worker may finish its requests in flight (Slack wants its ack
within 3 s; a webhook is stored in milliseconds), and a job its step, before SIGKILL."""
WORKER_TIMEOUT_SECONDS = 60
"""A worker silent this long (its main loop stuck, not a slow request thread) is restarted."""


def prepare_metrics_dir() -> Path | None:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory: a fresh temporary one
    (returned, for removal at exit) when unset, else the given one, emptied of the last
    run's files as prometheus-client requires."""
    given = os.environ.get(MULTIPROC_ENV, "").strip()
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return None
    made = Path(tempfile.mkdtemp(prefix="pulse-metrics-"))
    os.environ[MULTIPROC_ENV] = str(made)
    return made


class _Logger(glogging.Logger):
    """gunicorn's own messages go through Pulse's logging (format, level, redaction)
    instead of gunicorn's handlers; there is no access log (Slack's requests carry
    user data, and ``pulse_http_request_duration_seconds`` counts requests)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True


def _worker_exit(_server: Any, worker: Any) -> None:
    close = getattr(worker.wsgi, "close", None)
    if close is not None:
        close()


def _child_exit(_server: Any, worker: Any) -> None:
    from pulse.kernel.telemetry import process_exited

    process_exited(worker.pid)


class PulseServer(BaseApplication):
    """gunicorn configured from code: ``gthread`` workers running ``create_app``."""

    def __init__(self, *, host: str, port: int, workers: int, threads: int, scheduler: bool,
                 log_level: str, metrics_dir: Path | None = None) -> None:
        self.options = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "graceful_timeout": GRACEFUL_SECONDS,
            "timeout": WORKER_TIMEOUT_SECONDS,
            "proc_name": "pulse",
            "logger_class": _Logger,
            "loglevel": log_level.lower(),
            "accesslog": None,
            "worker_exit": _worker_exit,
            "child_exit": _child_exit,
            "on_exit": lambda _server: _remove(metrics_dir),
        }
        self.scheduler = scheduler
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25.1: not needed,
            self.cfg.set("control_socket_disable", True)  # and one path per user clashes

    def load(self) -> Any:
        from bot.wsgi import create_app

        app = create_app(scheduler=self.scheduler, setup_logging=False)
        logging.getLogger("pulse.bot.production").info(
            "worker %s ready (%s threads)", os.getpid(), self.cfg.threads)
        return app


def _remove(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
