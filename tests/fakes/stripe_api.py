"""A fake Stripe API on 127.0.0.1, good enough for the real ``stripe`` package's list calls.

Point ``STRIPE_API_BASE`` at ``fake.base_url``. It serves ``GET /v1/<resource>`` for the
resources it holds (customers, subscriptions, invoices) the way Stripe does: newest
first, ``limit`` / ``starting_after`` / ``has_more`` pagination, ``created[gte]`` and (for
subscriptions) ``status`` filters, and the list shape ``{"object": "list", "data": [...],
"has_more": ..., "url": ...}``. Every request is recorded with its query and bearer key.

Failures are scripted per resource: :meth:`FakeStripe.fail` answers the next N matching
requests with an HTTP error in Stripe's error shape (``{"error": {...}}``), optionally
with ``Retry-After``, and optionally only for requests past the first page, so retry,
auth and resume paths run through the real client code.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .server import LocalFake, ScriptedFailures, reply

ERROR_TYPES = {401: "invalid_request_error", 429: "rate_limit_error"}


@dataclass(frozen=True)
class StripeRequest:
    resource: str
    query: dict[str, str]
    api_key: str | None
    status: int
    method: str = "GET"


@dataclass
class FakeStripe(LocalFake):
    """The fake server. Use as a context manager; fill ``objects[resource]`` with dicts."""

    objects: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"customers": [], "subscriptions": [], "invoices": []}
    )
    requests: list[StripeRequest] = field(default_factory=list)
    api_key: str = "sk_test_fake"
    # resources whose last non-empty page still says has_more, so an empty page follows
    trailing_empty_page: set[str] = field(default_factory=set)
    # the fake's clock for "trial_end must be in the future" (tests freeze it)
    now: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._failures = ScriptedFailures()
        self._idempotent: dict[str, tuple[int, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- control -------------------------------------------------------------------------

    def fail(
        self,
        resource: str,
        status: int,
        times: int = 1,
        *,
        retry_after: str | None = None,
        only_later_pages: bool = False,
    ) -> None:
        """Answer the next ``times`` requests for ``resource`` with HTTP ``status``."""
        self._failures.add(resource, status, times, retry_after=retry_after,
                           only_later_pages=only_later_pages)

    def calls(self, resource: str) -> list[StripeRequest]:
        return [r for r in self.requests if r.resource == resource]

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeStripe:
        self._serve_calls(GET=self._handle, POST=self._handle_update)
        return self

    # --- serving -------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        resource = parts.path.removeprefix("/v1/").strip("/")
        auth = req.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip() or None
        status, body, headers = self._answer(resource, query, key)
        with self._lock:
            self.requests.append(StripeRequest(resource, query, key, status))
        self._send(req, status, body, headers)

    def _handle_update(self, req: BaseHTTPRequestHandler) -> None:
        """``POST /v1/subscriptions/<id>``: form-encoded update, honouring Idempotency-Key.

        Only ``trial_end`` (a future Unix time) and ``proration_behavior`` are understood,
        which is all Pulse sends; anything else is recorded and answered with 400, so a
        test sees at once if an extension tried to change more than the end date.
        """
        parts = urlsplit(req.path)
        resource = parts.path.removeprefix("/v1/").strip("/")
        length = int(req.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(req.rfile.read(length).decode(), keep_blank_values=True))
        key = req.headers.get("Authorization", "").removeprefix("Bearer ").strip() or None
        idem = req.headers.get("Idempotency-Key")
        with self._lock:
            replay = self._idempotent.get(idem) if idem else None
        headers: dict[str, str] = {}
        if replay is not None:
            status, body = replay
            headers["Idempotent-Replayed"] = "true"
        else:
            status, body, headers = self._update(resource, form, key)
            if idem and status < 500 and status != 429:
                with self._lock:
                    self._idempotent[idem] = (status, body)
        with self._lock:
            self.requests.append(StripeRequest(resource, form, key, status, "POST"))
        self._send(req, status, body, headers)

    def _update(
        self, resource: str, form: dict[str, str], key: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if key != self.api_key:
            return 401, self._error(401, f"Invalid API Key provided: {key}"), {}
        kind, _, object_id = resource.partition("/")
        failed = self._scripted(resource, {})
        if failed is not None:
            return failed
        sub = self._find(kind, object_id)
        if sub is None:
            return 404, self._missing(kind, object_id), {}
        unknown = set(form) - {"trial_end", "proration_behavior"}
        if unknown:
            return 400, self._error(400, f"Received unknown parameter: {sorted(unknown)[0]}"), {}
        if "trial_end" in form:
            try:
                trial_end = int(form["trial_end"])
            except ValueError:
                return 400, self._error(400, "Invalid integer: trial_end"), {}
            if trial_end <= self.now():
                return 400, self._error(
                    400, "Invalid timestamp: must be an integer Unix timestamp in the future."
                ), {}
            with self._lock:
                sub["trial_end"] = trial_end
                sub["status"] = "trialing"
        return 200, dict(sub), {}

    def _find(self, kind: str, object_id: str) -> dict[str, Any] | None:
        return next((o for o in self.objects.get(kind, []) if o.get("id") == object_id), None)

    def _missing(self, kind: str, object_id: str) -> dict[str, Any]:
        body = self._error(404, f"No such {kind.rstrip('s')}: '{object_id}'")
        body["error"]["code"] = "resource_missing"
        return body

    def _send(
        self,
        req: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> None:
        reply(req, status, json.dumps(body).encode(),
              headers={"Request-Id": f"req_fake_{len(self.requests)}", **headers})

    def _scripted(
        self, resource: str, query: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """The next scripted failure for ``resource``, if one is due."""
        due = self._failures.due(resource, later_page="starting_after" in query)
        if due is None:
            return None
        status, headers = due
        return status, self._error(status, "scripted failure"), headers

    def _error(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}

    def _answer(
        self, resource: str, query: dict[str, str], key: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if key != self.api_key:
            return 401, self._error(401, f"Invalid API Key provided: {key}"), {}
        kind, _, object_id = resource.partition("/")
        if kind not in self.objects:
            return 404, self._error(404, f"Unrecognized request URL (GET: /v1/{resource})"), {}
        failed = self._scripted(resource, query)
        if failed is not None:
            return failed
        if object_id:  # retrieve one object
            found = self._find(kind, object_id)
            return (200, dict(found), {}) if found else (404, self._missing(kind, object_id), {})
        items = sorted(self.objects[resource], key=lambda o: (-o["created"], o["id"]))
        if "created[gte]" in query:
            items = [o for o in items if o["created"] >= int(query["created[gte]"])]
        status_filter = query.get("status")
        if resource == "subscriptions":
            if status_filter is None:
                items = [o for o in items if o.get("status") != "canceled"]
            elif status_filter != "all":
                items = [o for o in items if o.get("status") == status_filter]
        elif status_filter:
            items = [o for o in items if o.get("status") == status_filter]
        after = query.get("starting_after")
        if after:
            ids = [o["id"] for o in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        limit = int(query.get("limit", 10))
        page = items[:limit]
        body = {
            "object": "list",
            "data": page,
            "has_more": len(items) > limit or (bool(page) and resource in self.trailing_empty_page),
            "url": f"/v1/{resource}",
        }
        return 200, body, {}
