"""A fake Zendesk Support API on 127.0.0.1, good enough for the Zendesk connector's ``requests``.

Point ``ZENDESK_URL`` at ``fake.base_url``; ``ZENDESK_EMAIL``/``ZENDESK_API_TOKEN`` must
match ``fake.email``/``fake.token``. Every request needs basic auth as
``{email}/token:{token}``, else 401 with ``{"error": "Couldn't authenticate you"}``.
It serves, from lists a test fills:

* ``GET /api/v2/organizations.json`` from ``organizations`` (by id) and
  ``GET /api/v2/satisfaction_ratings.json`` from ``ratings`` (oldest ``created_at``
  first; ``score`` filter where ``received`` means any good/bad rating, ``start_time``
  compared with ``created_at``), both with cursor pagination: ``page[size]`` (at most
  100, else 400), ``page[after]``; the page is ``{"<items>": [...], "meta": {"has_more",
  "after_cursor", "before_cursor"}, "links": {"next", "prev"}}``. The last page keeps
  its ``after_cursor``: as in the docs' examples, ``has_more`` says whether to go on.
* ``GET /api/v2/incremental/tickets/cursor.json``, the cursor-based incremental ticket
  export, from ``tickets``: a change log in the order the changes happened (append a
  ticket again to change it; it then leaves its old place in the stream). The first
  request gives ``start_time`` (tickets whose ``updated_at`` is at or after it), later
  ones ``cursor``; ``per_page`` defaults to ``export_page_size`` (Zendesk: 1000).
  ``include=metric_sets`` sideloads the ``metric_sets`` of the page's tickets. The page is
  ``{"tickets", "after_cursor", "after_url", "before_cursor", "before_url",
  "end_of_stream"}``; the last page's ``after_cursor`` is where the next export goes on
  (null when a ``start_time`` request found nothing, as users report). With
  ``export_trailing_empty_page`` a page that ends the stream exactly full says
  ``end_of_stream: false`` and an empty page follows.

:meth:`FakeZendesk.fail` scripts failures per endpoint (``organizations``,
``satisfaction_ratings``, ``tickets``): status, how many times, ``Retry-After``, and
optionally only for pages past the first. Every request is recorded (path, query, auth,
status, JSON body answered). Error bodies: JSON ``{"error", "description"}``, but a 429
is ``text/plain`` as Zendesk sends it (users' reports on support.zendesk.com).

Formats (cursor pagination; incremental export; satisfaction ratings; organizations; 429 and
``Retry-After``; 401 vs 403 and the 401 body; ``email/token:api_token`` auth):
https://developer.zendesk.com/api-reference/introduction/pagination/
https://developer.zendesk.com/documentation/api-basics/pagination/paginating-through-lists-using-cursor-pagination
https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api
https://developer.zendesk.com/api-reference/ticketing/ticket-management/satisfaction_ratings/
https://developer.zendesk.com/api-reference/ticketing/organizations/organizations
https://developer.zendesk.com/api-reference/introduction/rate-limits
https://support.zendesk.com/hc/en-us/articles/10306782115610-Troubleshooting-401-and-403-Errors-on-the-Zendesk-Developer-Platform
https://support.zendesk.com/hc/en-us/articles/115000510267-Authentication-for-API-requests
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .server import LocalFake, ScriptedFailures, reply

ENDPOINTS = {
    "/api/v2/organizations.json": "organizations",
    "/api/v2/satisfaction_ratings.json": "satisfaction_ratings",
    "/api/v2/incremental/tickets/cursor.json": "tickets",
}
ERRORS: dict[int, Any] = {
    401: {"error": "Couldn't authenticate you"},
    403: {"error": "Forbidden", "description": "You do not have access to this page."},
    429: "Number of allowed API requests per minute exceeded",  # text/plain on Zendesk
    500: {"error": "InternalError", "description": "Something went wrong"},
    503: {"error": "ServiceUnavailable", "description": "Please try again later"},
}

Answer = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class ZendeskRequest:
    endpoint: str  # "organizations", "satisfaction_ratings", "tickets", or the path
    query: dict[str, str]
    auth: str | None  # the decoded basic credentials, "user:password"
    status: int
    body: Any = None  # the JSON answered (None for a text body)


def _encode(kind: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}|{position}".encode()).decode()


def _decode(kind: str, cursor: str) -> int | None:
    try:
        found, position = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return int(position) if found == kind else None
    except ValueError:
        return None


def _epoch(stamp: str | None) -> float:
    stamp = (stamp or "1970-01-01T00:00:00Z").replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


def _score_matches(score: str, wanted: str) -> bool:
    if wanted == "received":
        return score.startswith(("good", "bad"))
    return score == wanted or (wanted in {"good", "bad"} and score.startswith(wanted))


@dataclass
class FakeZendesk(LocalFake):
    """The fake server; use as a context manager and fill the lists below with dicts."""

    organizations: list[dict[str, Any]] = field(default_factory=list)
    ratings: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)  # the export's change log
    metric_sets: list[dict[str, Any]] = field(default_factory=list)
    requests: list[ZendeskRequest] = field(default_factory=list)
    email: str = "agent@acme.test"
    token: str = "zd-token"
    export_page_size: int = 1000
    export_trailing_empty_page: bool = False

    def __post_init__(self) -> None:
        self._failures = ScriptedFailures()
        self._lock = threading.Lock()

    # --- control -------------------------------------------------------------------------

    def fail(self, endpoint: str, status: int, times: int = 1, *,
             retry_after: str | None = None, only_later_pages: bool = False) -> None:
        """Answer the next ``times`` requests to ``endpoint`` with HTTP ``status``."""
        assert endpoint in ENDPOINTS.values(), endpoint
        self._failures.add(endpoint, status, times, retry_after=retry_after,
                           only_later_pages=only_later_pages)

    def calls(self, endpoint: str) -> list[ZendeskRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def start(self) -> FakeZendesk:
        self._serve_calls(GET=self._handle)
        return self

    # --- serving -------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        endpoint = ENDPOINTS.get(parts.path, parts.path)
        auth = self._credentials(req.headers.get("Authorization", ""))
        status, body, headers = self._answer(endpoint, query, auth)
        with self._lock:
            self.requests.append(ZendeskRequest(
                endpoint, query, auth, status, None if isinstance(body, str) else body))
        if isinstance(body, str):
            reply(req, status, body.encode(), "text/plain", headers)
        else:
            reply(req, status, json.dumps(body).encode(), "application/json; charset=utf-8",
                  headers)

    @staticmethod
    def _credentials(header: str) -> str | None:
        if not header.startswith("Basic "):
            return None
        try:
            return base64.b64decode(header.removeprefix("Basic ")).decode()
        except ValueError:
            return None

    def _answer(self, endpoint: str, query: dict[str, str], auth: str | None) -> Answer:
        if auth != f"{self.email}/token:{self.token}":
            return 401, ERRORS[401], {}
        if endpoint not in ENDPOINTS.values():
            return 404, {"error": "InvalidEndpoint", "description": "Not found"}, {}
        failed = self._scripted(endpoint, query)
        if failed is not None:
            return failed
        if endpoint == "tickets":
            return self._export(query)
        if endpoint == "organizations":
            return self._page("organizations", sorted(self.organizations, key=lambda o: o["id"]),
                              query, "/api/v2/organizations.json")
        ratings = sorted(self.ratings, key=lambda r: (_epoch(r.get("created_at")), r["id"]))
        if "score" in query:
            ratings = [r for r in ratings if _score_matches(str(r.get("score")), query["score"])]
        if "start_time" in query:
            since = int(query["start_time"])
            ratings = [r for r in ratings if _epoch(r.get("created_at")) >= since]
        return self._page("satisfaction_ratings", ratings, query,
                          "/api/v2/satisfaction_ratings.json")

    def _scripted(self, endpoint: str, query: dict[str, str]) -> Answer | None:
        due = self._failures.due(endpoint, "page[after]" in query or "cursor" in query)
        if due is None:
            return None
        status, headers = due
        return status, ERRORS.get(status, {"error": "Error"}), headers

    def _url(self, path: str, query: dict[str, Any]) -> str:
        return f"{self.base_url}{path}?{urlencode(query)}"

    def _page(self, name: str, items: list[dict[str, Any]], query: dict[str, str],
              path: str) -> Answer:
        """One page of a cursor-paginated list (``page[size]``, ``page[after]``)."""
        size = int(query.get("page[size]", 100))
        if not 1 <= size <= 100:
            return 400, {"error": "InvalidPaginationParameter",
                         "description": "page[size] must be between 1 and 100"}, {}
        start = 0
        if query.get("page[after]"):
            after = _decode(name, query["page[after]"])
            if after is None:
                return 400, {"error": "InvalidPaginationParameter",
                             "description": "page[after] is not a valid cursor"}, {}
            start = after
        page = items[start:start + size]
        more = start + size < len(items)
        first = _encode(name, start) if page else None
        last = _encode(name, start + len(page)) if page else None
        return 200, {
            name: page,
            "meta": {"has_more": more, "after_cursor": last, "before_cursor": first},
            "links": {
                "next": self._url(path, {"page[size]": size, "page[after]": last}) if more
                else None,
                "prev": self._url(path, {"page[size]": size, "page[before]": first}) if first
                else None,
            },
        }, {}

    def _export(self, query: dict[str, str]) -> Answer:
        """One page of the cursor-based incremental ticket export."""
        log = self.tickets
        # a ticket changed again later in the log is exported only at its latest change
        current = [i for i, t in enumerate(log)
                   if not any(u["id"] == t["id"] for u in log[i + 1:])]
        if query.get("cursor"):
            position = _decode("tickets", query["cursor"])
            if position is None:
                return 400, {"error": "InvalidValue", "description": "Invalid cursor"}, {}
        elif "start_time" in query:
            since = int(query["start_time"])
            later = [i for i in current if _epoch(log[i].get("updated_at")) >= since]
            position = later[0] if later else len(log)
        else:
            return 400, {"error": "InvalidValue",
                         "description": "start_time or cursor is required"}, {}
        size = int(query.get("per_page", self.export_page_size))
        chosen = [i for i in current if i >= position][:size]
        end = chosen[-1] + 1 if chosen else position
        remaining = [i for i in current if i >= end]
        done = not remaining and not (self.export_trailing_empty_page and len(chosen) == size)
        tickets = [log[i] for i in chosen]
        after = _encode("tickets", end) if chosen or query.get("cursor") else None
        before = _encode("tickets", position) if chosen else None
        path = "/api/v2/incremental/tickets/cursor.json"
        body: dict[str, Any] = {
            "tickets": tickets,
            "after_cursor": after,
            "after_url": self._url(path, {"cursor": after}) if after else None,
            "before_cursor": before,
            "before_url": self._url(path, {"cursor": before}) if before else None,
            "end_of_stream": done,
        }
        if "metric_sets" in query.get("include", "").split(","):
            ids = {t["id"] for t in tickets}
            body["metric_sets"] = [m for m in self.metric_sets if m.get("ticket_id") in ids]
        return 200, body, {}
