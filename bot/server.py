"""Serving the Bolt app: a threaded stdlib WSGI server (HTTP mode) or Socket Mode.

Bolt's built-in ``app.start()`` server is single-threaded and documented as a dev tool;
one slow request would hold every other one past Slack's 3-second ack deadline. A
``ThreadingMixIn`` WSGI server from the stdlib serves each request on its own thread and
needs no extra dependency. Bolt's ``SlackRequestHandler`` does signature verification,
routing and acks; this module only moves bytes. With a webhook receiver
(``bot/webhooks.py``), :class:`Dispatcher` sends ``/webhooks/...`` to it and everything
else to Bolt, so Stripe, Zendesk, HubSpot and Salesforce reach the same port as Slack.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.webhooks import PREFIX as WEBHOOKS_PREFIX

log = logging.getLogger("pulse.bot.server")

EVENTS_PATH = "/slack/events"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Dispatcher:
    """``/webhooks/...`` to the webhook receiver, every other path to Bolt's handler."""

    def __init__(self, slack: WSGIApp, webhooks: WSGIApp) -> None:
        self.slack = slack
        self.webhooks = webhooks

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if str(environ.get("PATH_INFO", "")).startswith(WEBHOOKS_PREFIX):
            return self.webhooks(environ, start_response)
        return self.slack(environ, start_response)


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


def make_http_server(
    app: App, host: str = "0.0.0.0", port: int = 3000, *, webhooks: WSGIApp | None = None
) -> ThreadingWSGIServer:
    """A server for ``app`` on ``host:port`` (port 0 picks a free one; read
    ``server.server_port``). Slack posts commands, actions and events to ``/slack/events``;
    with ``webhooks``, ``/webhooks/...`` goes to that receiver."""
    handler: WSGIApp = SlackRequestHandler(app, path=EVENTS_PATH)
    if webhooks is not None:
        handler = Dispatcher(handler, webhooks)
    server = make_server(
        host, port, handler, server_class=ThreadingWSGIServer, handler_class=_QuietHandler
    )
    return server


def start_in_thread(
    app: App, host: str = "127.0.0.1", port: int = 0, *, webhooks: WSGIApp | None = None
) -> tuple[ThreadingWSGIServer, threading.Thread]:
    """Serve in a background thread (tests and the benchmark); stop with
    ``server.shutdown(); server.server_close()``."""
    server = make_http_server(app, host, port, webhooks=webhooks)
    thread = threading.Thread(target=server.serve_forever, name="pulse-http", daemon=True)
    thread.start()
    return server, thread


def serve_http(
    app: App, port: int, host: str = "0.0.0.0", *, webhooks: WSGIApp | None = None
) -> None:
    """Block serving HTTP until interrupted."""
    server = make_http_server(app, host, port, webhooks=webhooks)
    log.info("Pulse listening on http://%s:%s%s", host, server.server_port, EVENTS_PATH)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_socket(app: App, app_token: str) -> None:
    """Block in Socket Mode: Slack pushes requests over a websocket the app opens, so no
    public URL is needed (requests are authenticated by the app-level token instead of
    the signing secret)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk import WebClient

    # apps.connections.open goes to the same API base as everything else (SLACK_API_URL).
    web_client = WebClient(base_url=app.client.base_url)
    SocketModeHandler(app, app_token, web_client=web_client).start()
