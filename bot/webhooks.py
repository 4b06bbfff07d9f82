"""The webhook receiver: ``POST /webhooks/{stripe,zendesk,hubspot,salesforce}``.

A thin WSGI app next to Bolt's handler on the same server (``bot/server.py`` routes
``/webhooks/`` here). Per request it only: reads the body, checks the signature as its
sender signs it (:mod:`pulse.jobs.live.signatures`), splits it into events
(:mod:`pulse.jobs.live.events`), inserts them into the ``webhook_events`` inbox (a duplicate
is a no-op), wakes the worker and answers. Rescoring happens on the worker thread, so
the sender gets its 2xx in milliseconds.

Answers: 200 for accepted and duplicate events (Salesforce: the SOAP ``<Ack>true</Ack>``
it waits for); 400/401 for unsigned, forged, replayed or malformed requests, nothing
stored, logged as one short line with the reason, at most a few a minute
(:class:`bot.guard.RefusalLog`), never the body; 404 for an unknown source; 405 for
anything but POST; 413 past :data:`MAX_BODY` (checked on ``Content-Length``, before a
byte is read); 503 when the source's secret is not set (it is never accepted
unsigned). Secrets come from the environment only (docs/configuration.md).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from wsgiref.util import request_uri

from bot.guard import RefusalLog
from pulse.jobs.live import events as parse
from pulse.jobs.live import signatures as sig
from pulse.jobs.live.events import SOURCES, LiveEvent
from pulse.jobs.live.inbox import store

log = logging.getLogger("connectors.signed_webhook")

PREFIX = "/webhooks/"
MAX_BODY = 1024 * 1024
SECRET_ENV = {
    "stripe": "STRIPE_WEBHOOK_SECRET",
    "zendesk": "ZENDESK_WEBHOOK_SECRET",
    "hubspot": "HUBSPOT_CLIENT_SECRET",
    "salesforce": "SALESFORCE_ORG_ID",
}
PUBLIC_URL_ENV = "PULSE_PUBLIC_URL"
"""The base URL senders call (``https://pulse.example.com``): HubSpot signs the full URL
it called, which a server behind a TLS proxy cannot see for itself."""

StartResponse = Callable[..., Any]


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    out = {k[5:].replace("_", "-"): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        out["CONTENT-TYPE"] = str(environ["CONTENT_TYPE"])
    return out


class WebhookReceiver:
    """WSGI app; ``secrets`` maps the variables of :data:`SECRET_ENV` to their values."""

    def __init__(
        self,
        database_url: str,
        secrets: Mapping[str, str],
        *,
        clock: Callable[[], datetime],
        notify: Callable[[], None] = lambda: None,
        public_url: str | None = None,
    ) -> None:
        self.url = database_url
        self.secrets = {k: v.strip() for k, v in secrets.items() if v and v.strip()}
        self.clock = clock
        self.notify = notify
        self.public_url = (public_url or "").rstrip("/") or None
        self.refusals = RefusalLog(log)

    @classmethod
    def from_env(
        cls, database_url: str, *, clock: Callable[[], datetime], notify: Callable[[], None]
    ) -> WebhookReceiver:
        names = [*SECRET_ENV.values()]
        return cls(database_url, {n: os.environ.get(n, "") for n in names}, clock=clock,
                   notify=notify, public_url=os.environ.get(PUBLIC_URL_ENV))

    def configured(self) -> list[str]:
        return [s for s in SOURCES if SECRET_ENV[s] in self.secrets]

    def _url(self, environ: Mapping[str, Any]) -> str:
        if self.public_url is None:
            return request_uri(dict(environ))
        query = environ.get("QUERY_STRING")
        return self.public_url + str(environ.get("PATH_INFO", "")) + (f"?{query}" if query else "")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer the request, then log one line with its outcome and duration."""
        started = time.perf_counter()
        source = str(environ.get("PATH_INFO", ""))[len(PREFIX):].strip("/")
        status, body, headers, what = self._handle(source, environ)
        seconds = time.perf_counter() - started
        peer = environ.get("REMOTE_ADDR", "?")
        extra = {"source": source, "outcome": "accepted" if status == 200 else "refused",
                 "status": status, "duration": round(seconds, 4)}
        if status == 200:
            log.info("%s webhook from %s: %s in %.3fs", source, peer, what, seconds, extra=extra)
        elif status != 404:
            length = str(environ.get("CONTENT_LENGTH") or "")
            self.refusals.refused(f"{source} webhook", status, what, peer=str(peer),
                                  size=int(length) if length.isdigit() else None)
        return _reply(start_response, status, body, headers)

    def _handle(self, source: str, environ: dict[str, Any]
                ) -> tuple[int, bytes, list[tuple[str, str]] | None, str]:
        """(status, body, headers, what to log) of one request."""
        if source not in SOURCES:
            return 404, b"unknown webhook source\n", None, "unknown source"
        if environ.get("REQUEST_METHOD") != "POST":
            return 405, b"POST only\n", [("Allow", "POST")], "not a POST"
        secret = self.secrets.get(SECRET_ENV[source])
        if secret is None:
            return (503, f"{source} webhooks are not configured\n".encode(), None,
                    f"{SECRET_ENV[source]} is not set, so it cannot be verified")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return 413, b"body too large\n", None, f"body of {length} bytes"
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            events, ack = self._verified_events(source, body, environ, secret)
        except sig.Refused as refused:
            return refused.status, (refused.reason + "\n").encode(), None, refused.reason
        except (ValueError, TypeError, AttributeError, KeyError) as exc:  # signed, malformed
            return 400, b"malformed body\n", None, f"malformed body ({type(exc).__name__})"
        stored = store(self.url, events, self.clock())
        new = [s.event for s in stored if s.new]
        dups = [f"{s.event.event_id} ({s.event.kind})" for s in stored if not s.new]
        if new:
            self.notify()
        what = (f"{len(new)} new, {len(dups)} duplicate"
                + (f" (already received, ignored: {', '.join(dups)})" if dups else ""))
        if ack is not None:
            return 200, ack, [("Content-Type", "text/xml; charset=utf-8")], what
        return 200, f"{len(new)} new, {len(dups)} duplicate\n".encode(), None, what

    def _verified_events(
        self, source: str, body: bytes, environ: Mapping[str, Any], secret: str
    ) -> tuple[list[LiveEvent], bytes | None]:
        headers = _headers(environ)
        if source == "stripe":
            sig.verify_stripe(body, headers, secret)
            return parse.stripe_events(body), None
        if source == "zendesk":
            sig.verify_zendesk(body, headers, secret)
            return parse.zendesk_events(body), None
        if source == "hubspot":
            sig.verify_hubspot(body, headers, secret, method="POST", url=self._url(environ))
            return parse.hubspot_events(body), None
        notifications = sig.salesforce_notifications(body, secret)
        return parse.salesforce_events(notifications), sig.ACK


def _reply(
    start_response: StartResponse,
    status: int,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
              405: "Method Not Allowed", 413: "Payload Too Large",
              503: "Service Unavailable"}.get(status, "Error")
    head = headers or [("Content-Type", "text/plain; charset=utf-8")]
    if not any(k.lower() == "content-type" for k, _ in head):
        head.append(("Content-Type", "text/plain; charset=utf-8"))
    start_response(f"{status} {reason}", [*head, ("Content-Length", str(len(body)))])
    return [body]
