"""Routing Pulse's HTTP requests, and the two ways of serving them besides gunicorn.

:class:`Dispatcher` is the one WSGI application every server runs (``pulse serve``'s
gunicorn workers through :func:`bot.wsgi.create_app`, the in-process server of the
tests and the benchmark): ``/healthz``, ``/readyz`` and ``/metrics`` go to
:class:`bot.probes.Probes`, ``/webhooks/...`` to the webhook receiver
(``bot/webhooks.py``) so Stripe, Zendesk, HubSpot and Salesforce reach the same port as
Slack, and everything else to Bolt's ``SlackRequestHandler``, which does routing and
acks, behind :class:`bot.guard.SlackGuard`, which checks size, timestamp, signature and
replays on the raw bytes first. Every request is timed into
``pulse_http_request_duration_seconds`` by route.

:func:`start_in_thread` serves in-process on a threaded stdlib ``wsgiref`` server: what
the tests and the benchmark's "stdlib" side use. ``wsgiref`` is not meant for
production, so ``pulse serve`` runs gunicorn instead (:mod:`bot.production`).
:func:`serve_socket` is Socket Mode, where Slack's requests come over a websocket.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import SlackApp
from bot.guard import SeenRequests, SlackGuard
from bot.probes import PATHS as PROBE_PATHS
from bot.probes import Probes
from bot.webhooks import PREFIX as WEBHOOKS_PREFIX
from pulse.jobs.live.events import SOURCES as WEBHOOK_SOURCES
from pulse.kernel.telemetry import REQUEST_SECONDS

log = logging.getLogger("pulse.bot.server")

EVENTS_PATH = "/slack/events"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def route_of(path: str) -> str:
    """The metrics label of a path: a known route, or ``other`` (labels must stay few)."""
    if path == EVENTS_PATH or path in PROBE_PATHS:
        return path
    if path.startswith(WEBHOOKS_PREFIX):
        source = path[len(WEBHOOKS_PREFIX):].strip("/")
        return WEBHOOKS_PREFIX + (source if source in WEBHOOK_SOURCES else "other")
    return "other"


class Dispatcher:
    """Probes, ``/webhooks/...`` and Bolt's handler behind one WSGI callable, timed."""

    def __init__(self, slack: WSGIApp, webhooks: WSGIApp | None = None,
                 probes: WSGIApp | None = None) -> None:
        self.slack = slack
        self.webhooks = webhooks
        self.probes = probes

    def _target(self, path: str) -> WSGIApp:
        if path in PROBE_PATHS and self.probes is not None:
            return self.probes
        if path.startswith(WEBHOOKS_PREFIX) and self.webhooks is not None:
            return self.webhooks
        return self.slack

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        started = time.perf_counter()
        status = ["500"]

        def recording(head: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            status[0] = head.split(" ", 1)[0]
            return start_response(head, headers, *exc)

        try:
            return self._target(path)(environ, recording)
        finally:
            REQUEST_SECONDS.labels(route_of(path), str(environ.get("REQUEST_METHOD", "?")),
                                   status[0]).observe(time.perf_counter() - started)


def dispatcher(app: SlackApp, *, webhooks: WSGIApp | None = None,
               database_url: str | None = None) -> Dispatcher:
    """Bolt's handler on ``/slack/events`` behind :class:`bot.guard.SlackGuard` (size,
    timestamp, signature and replays checked before Bolt parses a byte), with
    ``webhooks`` and, given the database, the probes."""
    probes = Probes(database_url) if database_url else None
    slack = SlackGuard(SlackRequestHandler(app, path=EVENTS_PATH), EVENTS_PATH,
                       app.signing_secret, app.max_request_bytes,
                       seen=SeenRequests(app.database_url))
    return Dispatcher(slack, webhooks, probes)


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request; daemon threads so shutdown never waits on a slow client.

    ``request_queue_size`` is the listen backlog: socketserver's default of 5 makes the
    kernel reset (or delay by a 1 s SYN retransmit) connections in a burst, e.g. a team
    opening their Home tabs at 9:00; the benchmark's 20 concurrent clients showed both.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    """Access lines go to logging (debug), not stderr: request bodies may be sensitive and
    the CLI's output should stay readable."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s - %s", self.address_string(), format % args)


def start_in_thread(
    app: SlackApp, host: str = "127.0.0.1", port: int = 0, *, webhooks: WSGIApp | None = None,
    database_url: str | None = None,
) -> tuple[ThreadingWSGIServer, threading.Thread]:
    """Serve ``app`` on the stdlib threaded server in a background thread (tests and the
    benchmark; port 0 picks a free one: read ``server.server_port``); stop with
    ``server.shutdown(); server.server_close()``."""
    server = make_server(host, port, dispatcher(app, webhooks=webhooks, database_url=database_url),
                         server_class=ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="pulse-http", daemon=True)
    thread.start()
    return server, thread


def serve_socket(app: App, app_token: str) -> None:
    """Block in Socket Mode: Slack pushes requests over a websocket the app opens, so no
    public URL is needed (requests are authenticated by the app-level token instead of
    the signing secret)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk import WebClient

    # apps.connections.open goes to the same API base as everything else (SLACK_API_URL).
    web_client = WebClient(base_url=app.client.base_url)
    SocketModeHandler(app, app_token, web_client=web_client).start()
