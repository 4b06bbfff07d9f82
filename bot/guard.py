"""Slack's requests checked on the raw bytes before anything parses them.

Bolt builds its request object, parsing the body, *before* its middleware checks the
signature, and logs a refused request's whole body at INFO. So a forged 10 MB request
filled the log and a malformed unsigned one (``payload=%7Bnot-json``, ``payload=null``,
a non-numeric timestamp) answered 500 with a traceback (issue 18). :class:`SlackGuard`
stands in front of Bolt's handler on ``POST /slack/events`` and, in this order:

1. refuses a ``Content-Length`` that is missing, unreadable (400) or over the limit
   (413, ``slack.max_request_bytes``) without reading the body;
2. reads exactly that many bytes;
3. checks ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` as Slack documents
   (https://api.slack.com/authentication/verifying-requests-from-slack): a request
   without them, or with a timestamp that is not a number, is malformed (400, whatever
   its body); one whose timestamp is more than :data:`TOLERANCE_SECONDS` from now in
   either direction, or whose signature is not ``v0=`` HMAC-SHA256 of
   ``v0:{timestamp}:{body}`` with the signing secret, is refused (401);
4. answers an identical signed request seen within the window once: a replay gets an
   empty 200 and reaches no handler (:class:`SeenRequests`, keyed by the signature and
   kept in the database, so a replay sent to another ``pulse serve`` process is caught
   too);
5. refuses, with 400, a signed body Bolt could not parse (not UTF-8, a JSON body that is
   not an object, a form ``payload`` that is not a JSON object);

and only then hands the bytes to Bolt. Every refusal is logged through
:class:`RefusalLog`: one short line (route, status, size, peer, reason), never the body,
at most :data:`LOGGED_PER_MINUTE` lines a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy.exc import SQLAlchemyError

from pulse.kernel.clock import epoch_seconds
from storage import seen_requests

log = logging.getLogger("pulse.bot.guard")

TOLERANCE_SECONDS = 300
"""How far a request's timestamp may be from now, either way: Slack's five minutes, and
the same window as every webhook source (:data:`pulse.jobs.live.signatures.TOLERANCE_SECONDS`)."""
LOGGED_PER_MINUTE = 30
"""Refused requests logged one line each per minute (a line is under 300 bytes, so a
flood costs at most ~10 KB of log a minute); the rest are counted in one line."""
REASON_CHARS = 120
"""A refusal's reason is cut to this many characters in the log."""
KEEP_SECONDS = 2 * TOLERANCE_SECONDS
"""How long an answered request's signature is remembered. A timestamp up to
:data:`TOLERANCE_SECONDS` ahead passes the check until that long after it, so a replay
may arrive up to twice the window after the first delivery; older keys are pruned."""
PRUNE_EVERY_SECONDS = 60
"""How often each process deletes the remembered signatures older than
:data:`KEEP_SECONDS` (one indexed DELETE)."""

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class RefusalLog:
    """One short, redacted line per refused request, at most ``per_minute`` a minute.

    What would exceed the budget is counted and reported in one line when the next
    minute starts, so a flood of forged requests costs a few hundred bytes of log.
    """

    def __init__(self, logger: logging.Logger, per_minute: int = LOGGED_PER_MINUTE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.per_minute = per_minute
        self.clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._logged = 0
        self._dropped = 0

    def refused(self, route: str, status: int, reason: str, *, size: int | None = None,
                peer: str = "?") -> None:
        window = int(self.clock() // 60)
        with self._lock:
            if window != self._window:
                dropped, self._dropped = self._dropped, 0
                self._window, self._logged = window, 0
                if dropped:
                    self.logger.warning("%d more refused request(s) not logged", dropped)
            if self._logged >= self.per_minute:
                self._dropped += 1
                return
            self._logged += 1
        what = _UNPRINTABLE.sub("?", reason)[:REASON_CHARS]
        self.logger.warning("refused %s from %s (HTTP %d, %s bytes): %s", route,
                            _UNPRINTABLE.sub("?", peer)[:64], status,
                            "?" if size is None else size, what,
                            extra={"route": route, "status": status, "outcome": "refused"})


class SeenRequests:
    """Signatures of requests already answered, in the database (:mod:`storage.seen_requests`)
    so that an identical request is answered once however many processes receive it.

    Keys are kept :data:`KEEP_SECONDS` and pruned at most every
    :data:`PRUNE_EVERY_SECONDS` per process. When the database cannot be reached the
    request is answered (and a warning logged): the signature and timestamp checks still
    hold, and the handlers would fail on the database anyway.
    """

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def first_time(self, signature: str, now: float) -> bool:
        """True (and remembered) the first time ``signature`` is seen."""
        self._prune_if_due(now)
        try:
            return seen_requests.first_time(self.url, signature.removeprefix("v0="), _utc(now))
        except SQLAlchemyError as exc:
            log.warning("replay check skipped, the database did not answer: %s",
                        type(exc).__name__)
            return True

    def _prune_if_due(self, now: float) -> None:
        with self._lock:
            if now < self._next_prune:
                return
            self._next_prune = now + PRUNE_EVERY_SECONDS
        try:
            seen_requests.prune(self.url, _utc(now - KEEP_SECONDS))
        except SQLAlchemyError as exc:
            log.warning("could not prune seen Slack requests: %s", type(exc).__name__)


def _utc(epoch: float) -> datetime:
    """Naive UTC, as the database stores times."""
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


class Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def content_length(environ: dict[str, Any], limit: int) -> int:
    """The declared body size, checked before a byte is read; raises :class:`Refusal`."""
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not raw.isdigit():
        raise Refusal(400, f"no readable Content-Length ({raw[:20]!r})")
    length = int(raw)
    if length > limit:
        raise Refusal(413, f"body of {length} bytes is over the {limit}-byte limit")
    return length


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``: what Slack sends."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def check_signature(secret: str, environ: dict[str, Any], body: bytes, now: float) -> str:
    """The request's signature once it is proven Slack's and fresh; raises :class:`Refusal`."""
    stamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or "").strip()
    given = str(environ.get("HTTP_X_SLACK_SIGNATURE") or "").strip()
    if not stamp or not given:
        raise Refusal(400, "no X-Slack-Signature / X-Slack-Request-Timestamp (unsigned)")
    if not stamp.isdigit():
        raise Refusal(400, "unreadable X-Slack-Request-Timestamp")
    age = now - int(stamp)
    if abs(age) > TOLERANCE_SECONDS:
        raise Refusal(401, f"timestamp {age:+.0f}s old, outside the {TOLERANCE_SECONDS}s window")
    if not hmac.compare_digest(slack_signature(secret, stamp, body), given):
        raise Refusal(401, "signature does not match (forged or wrong secret)")
    return given


def check_parsable(environ: dict[str, Any], body: bytes) -> None:
    """Refuse (400) a signed body Bolt's parser would fail on."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "body is not UTF-8") from None
    try:
        if str(environ.get("CONTENT_TYPE") or "").lower().startswith("application/json"):
            parsed: Any = json.loads(text)
        else:
            form = parse_qs(text, keep_blank_values=True)
            if "payload" not in form:
                return
            parsed = json.loads(form["payload"][0])
    except ValueError:
        raise Refusal(400, "body is not the JSON or form Slack sends") from None
    if not isinstance(parsed, dict):
        raise Refusal(400, "payload is not a JSON object")


class SlackGuard:
    """WSGI middleware in front of Bolt's handler; only ``POST path`` is checked (Bolt
    reads no body on any other request, and answers them 404)."""

    def __init__(self, inner: WSGIApp, path: str, signing_secret: str, max_body: int, *,
                 seen: SeenRequests, clock: Callable[[], float] = epoch_seconds,
                 refusals: RefusalLog | None = None) -> None:
        self.inner = inner
        self.path = path
        self.secret = signing_secret
        self.max_body = max_body
        self.seen = seen
        self.clock = clock
        self.refusals = refusals or RefusalLog(log)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != self.path:
            return self.inner(environ, start_response)
        length: int | None = None
        try:
            length = content_length(environ, self.max_body)
            body = environ["wsgi.input"].read(length) if length else b""
            signature = check_signature(self.secret, environ, body, self.clock())
            if not self.seen.first_time(signature, self.clock()):
                log.debug("identical Slack request within %ss answered once", TOLERANCE_SECONDS)
                return _answer(start_response, 200, b"")
            check_parsable(environ, body)
        except Refusal as refusal:
            self.refusals.refused(str(environ.get("PATH_INFO", "")), refusal.status,
                                  refusal.reason, size=length,
                                  peer=str(environ.get("REMOTE_ADDR", "?")))
            return _answer(start_response, refusal.status, (refusal.reason + "\n").encode())
        checked = dict(environ)
        checked["wsgi.input"] = io.BytesIO(body)
        checked["CONTENT_LENGTH"] = str(len(body))
        return self.inner(checked, start_response)


REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 413: "Payload Too Large"}


def _answer(start_response: Callable[..., Any], status: int, body: bytes) -> list[bytes]:
    start_response(f"{status} {REASONS.get(status, 'Error')}",
                   [("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body)))])
    return [body]
