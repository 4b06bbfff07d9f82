"""Zendesk Support: organizations and tickets with their satisfaction (source ``zendesk``).

Endpoint and credentials come only from the environment: ``ZENDESK_URL`` (e.g.
``https://acme.zendesk.com``), ``ZENDESK_EMAIL`` and ``ZENDESK_API_TOKEN`` (basic auth as
``{email}/token:{token}``). Calls go through ``requests`` and the shared retry policy
(:func:`connectors.retry.call_with_retries`): 429 and 5xx are retried, honouring
``Retry-After``; 401/403 stop the run with a clear error.

Records emitted
---------------
* ``accounts`` (one per organization, source ``zendesk``): ``external_id`` and
  ``zendesk_org_id`` are the organization id, ``name``, ``domain`` (the first of
  ``domain_names``). Organizations are pulled in full every run (cursor pagination,
  ``page[size]=100``): a B2B org list is small and this catches renames and domain edits.
* ``tickets``: through the cursor-based incremental ticket export, ``account_external_id``
  is the ticket's ``organization_id`` (tickets without one are skipped with a warning),
  ``contact_external_id`` the requester id (the loader keeps the
  contact null, without a report (``Batch.unlinked_ok``), while no contact with that id
  is known), ``priority`` (``normal`` when unset), ``status`` (a ticket deleted in
  Zendesk comes through the export with status ``deleted`` and is stored so, which
  takes it out of every count: skipping it left its last state counted for ever),
  ``created_at``,
  ``solved_at`` (the ticket metric's ``solved_at`` sideloaded with
  ``include=metric_sets``, else ``updated_at`` of a solved or closed
  ticket), ``satisfaction`` (``good``/``bad`` from the Satisfaction Ratings API, else from
  the ticket's own ``satisfaction_rating.score``; offered/unoffered give None).
* ``sentiment``: Zendesk has none by default. Convention: a ticket tagged
  ``sentiment_negative``, ``sentiment_neutral`` or ``sentiment_positive`` (set by a trigger,
  an app or a custom field's tag) gets that sentiment; otherwise it stays None.

Cursor
------
Compact JSON. Between runs ``{"t": <after_cursor of the last ticket export page>, "r":
<unix time from which satisfaction ratings are read next>}``; the first run exports from
``sources.zendesk.start_time``. Mid-run it also holds ``"p"`` (phase: ``orgs``/``tickets``)
and ``"o"`` (the organizations page cursor), so a run that dies on page 2 keeps page 1
and the next run resumes with page 2. Each export page's ``after_cursor`` is stored with
that page's tickets, so nothing is skipped or exported twice. A full pull (``--full``)
starts with the organizations and keeps the stored ticket cursor until it reaches the
tickets, so a full run that fails on the organizations does not make the next run export
every ticket again.

Ratings are read (``score=received``, from ``r``) before the tickets of a run: a rating
given since the last run updates its ticket, so that ticket is in this run's export.

References:
https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
(cursor-based export, ``after_cursor``, ``end_of_stream``, 10 requests/minute),
https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api
(deleted tickets stay in the export with status ``deleted`` unless ``exclude_deleted``)
https://developer.zendesk.com/api-reference/ticketing/ticket-management/satisfaction_ratings/
https://developer.zendesk.com/api-reference/ticketing/organizations/organizations
https://developer.zendesk.com/documentation/api-basics/pagination/paginating-through-lists-using-cursor-pagination
https://developer.zendesk.com/api-reference/introduction/rate-limits (429 + Retry-After)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from connectors.base import Connector, register
from connectors.retry import MAX_ATTEMPTS, Retry, attempts_text, call_with_retries, retry_for_status
from pulse.kernel.clock import epoch_seconds
from pulse.kernel.config import ConfigError, PulseConfig, ZendeskSourceConfig
from pulse.kernel.errors import UserFacingError
from pulse.kernel.records import Batch
from storage.models import CLOSED_TICKET_STATUSES, TICKET_STATUSES

PAGE_SIZE = 100
OVERLAP_SECONDS = 3600
TIMEOUT = 60
PRIORITIES = {"low", "normal", "high", "urgent"}
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts ``ZENDESK_URL`` may name over plain http: this machine only."""
SENTIMENT_TAGS = {
    "sentiment_negative": "negative",
    "sentiment_neutral": "neutral",
    "sentiment_positive": "positive",
}


class ZendeskSyncError(UserFacingError):
    """A Zendesk call failed for good (after the shared retry policy gave up)."""

    def __init__(self, problem: str, fix: str = "", call: str = "") -> None:
        super().__init__("Zendesk", call, problem, fix)


class ZendeskAuthError(ZendeskSyncError):
    """Zendesk refused the credentials (401) or the user's access (403): not retried."""


def classify_requests_error(exc: BaseException) -> Retry | None:
    """429/5xx responses (with ``Retry-After``) and dropped connections are retried."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return retry_for_status(exc.response.status_code, exc.response.headers.get("Retry-After"))
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return Retry(f"connection error ({type(exc).__name__})")
    return None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def _score(value: str | None) -> str | None:
    value = (value or "").lower()
    if value.startswith("good"):
        return "good"
    if value.startswith("bad"):
        return "bad"
    return None  # offered / unoffered


def map_organization(org: dict[str, Any]) -> dict[str, Any]:
    domains = [d for d in (org.get("domain_names") or []) if d]
    return {
        "external_id": str(org["id"]),
        "zendesk_org_id": str(org["id"]),
        "name": org.get("name") or f"Zendesk organization {org['id']}",
        "domain": domains[0].strip().lower() if domains else None,
    }


def _base_url(url: str) -> str:
    """``ZENDESK_URL`` without its trailing slash; https only (basic auth sends the API
    token with every request), but for a server on this machine (a test double)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"ZENDESK_URL '{url}' is not a URL (e.g. https://yourcompany.zendesk.com)")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise ConfigError(
            f"ZENDESK_URL '{url}' is http: the API token would cross the network in clear; "
            "use https://")
    return url.rstrip("/")


def map_ticket(
    ticket: dict[str, Any],
    solved_at: dict[int, str],
    ratings: dict[int, str],
) -> dict[str, Any]:
    status = (ticket.get("status") or "open").lower()
    priority = (ticket.get("priority") or "normal").lower()
    solved = _time(solved_at.get(ticket["id"]))
    if solved is None and status in CLOSED_TICKET_STATUSES:
        solved = _time(ticket.get("updated_at"))
    rating = ratings.get(ticket["id"]) or _score(
        (ticket.get("satisfaction_rating") or {}).get("score")
    )
    sentiment = None
    for tag in ticket.get("tags") or []:
        sentiment = SENTIMENT_TAGS.get(str(tag).lower(), sentiment)
    requester = ticket.get("requester_id")
    return {
        "external_id": str(ticket["id"]),
        "account_external_id": str(ticket["organization_id"]),
        "contact_external_id": str(requester) if requester is not None else None,
        "subject": (ticket.get("subject") or ticket.get("raw_subject") or None),
        "priority": priority if priority in PRIORITIES else "normal",
        "status": status if status in TICKET_STATUSES else "open",
        "created_at": _time(ticket.get("created_at")),
        "solved_at": solved if status in CLOSED_TICKET_STATUSES else None,
        "satisfaction": rating,
        "sentiment": sentiment,
    }


def _dump(state: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in state.items() if v is not None}, separators=(",", ":"))


@register
class ZendeskConnector(Connector):
    """Pull Zendesk organizations, then tickets via the incremental export."""

    name: ClassVar[str] = "zendesk"

    def __init__(
        self,
        config: PulseConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = MAX_ATTEMPTS,
        clock: Callable[[], float] = epoch_seconds,
        page_size: int = PAGE_SIZE,
    ) -> None:
        super().__init__(config)
        self.settings = config.sources.zendesk or ZendeskSourceConfig()
        self._sleep = sleep
        self._attempts = attempts
        self._clock = clock
        self._page_size = page_size
        self._session: requests.Session | None = None
        self._base = ""

    # --- HTTP ----------------------------------------------------------------------------

    def _connect(self) -> None:
        env = {
            k: os.environ.get(k, "").strip()
            for k in ("ZENDESK_URL", "ZENDESK_EMAIL", "ZENDESK_API_TOKEN")
        }
        missing = [k for k, v in env.items() if not v]
        if missing:
            raise ConfigError(f"Zendesk sync needs {', '.join(missing)} in the environment")
        self._base = _base_url(env["ZENDESK_URL"])
        session = requests.Session()
        session.auth = (f"{env['ZENDESK_EMAIL']}/token", env["ZENDESK_API_TOKEN"])
        session.headers["Accept"] = "application/json"
        self._session = session

    def _get(self, path: str, params: dict[str, Any], what: str) -> dict[str, Any]:
        assert self._session is not None
        url = f"{self._base}{path}"

        def call() -> dict[str, Any]:
            assert self._session is not None
            resp = self._session.get(url, params=params, timeout=TIMEOUT)
            if resp.status_code == 401:
                raise ZendeskAuthError(
                    "Zendesk refused ZENDESK_EMAIL/ZENDESK_API_TOKEN (HTTP 401)",
                    "Check the email and that the API token is active",
                    call=what,
                )
            if resp.status_code == 403:  # authenticated, not allowed
                raise ZendeskAuthError(
                    "Zendesk denied the user of ZENDESK_EMAIL access to this (HTTP 403)",
                    "The incremental ticket export and the satisfaction ratings are for "
                    "admins: use an admin's email and API token",
                    call=what,
                )
            resp.raise_for_status()
            return resp.json()

        try:
            return call_with_retries(
                call,
                classify_requests_error,
                what=f"Zendesk {what}",
                attempts=self._attempts,
                sleep=self._sleep,
            )
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise ZendeskSyncError(
                f"HTTP {status}{attempts_text(exc)}",
                "Zendesk may be down or busy (https://status.zendesk.com); the next run "
                "tries again",
                call=what,
            ) from exc

    # --- pull ----------------------------------------------------------------------------

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        self.warnings = []
        self._connect()
        state: dict[str, Any] = json.loads(cursor) if cursor else {}
        if full:  # start over, but keep the tickets cursor until the tickets are reached
            state = {key: state[key] for key in ("t", "r") if key in state}
        state.setdefault("p", "orgs")
        state.setdefault("r", self.settings.start_time)
        if state["p"] == "orgs":
            yield from self._organizations(state)
        if full:  # a full pull reads every ticket and rating from the configured start
            state.pop("t", None)
            state["r"] = self.settings.start_time
        yield from self._tickets(state)

    def _organizations(self, state: dict[str, Any]) -> Iterator[Batch]:
        while True:
            params: dict[str, Any] = {"page[size]": self._page_size}
            if state.get("o"):
                params["page[after]"] = state["o"]
            page = self._get("/api/v2/organizations.json", params, "organizations")
            records = [map_organization(o) for o in page.get("organizations") or []]
            meta = page.get("meta") or {}
            more = bool(meta.get("has_more")) and bool(meta.get("after_cursor"))
            if more:
                state.update(p="orgs", o=meta["after_cursor"])
            else:
                state.update(p="tickets", o=None)
            yield Batch("accounts", records, cursor=_dump(state))
            if not more:
                return

    def _ratings(self, since: int) -> dict[int, str]:
        """Latest received rating per ticket, from ``since`` on."""
        latest: dict[int, tuple[str, str]] = {}
        params: dict[str, Any] = {
            "score": "received",
            "start_time": since,
            "page[size]": self._page_size,
        }
        while True:
            page = self._get("/api/v2/satisfaction_ratings.json", params, "satisfaction ratings")
            for rating in page.get("satisfaction_ratings") or []:
                score = _score(rating.get("score"))
                ticket = rating.get("ticket_id")
                if score is None or ticket is None:
                    continue
                stamp = rating.get("updated_at") or rating.get("created_at") or ""
                if ticket not in latest or stamp >= latest[ticket][0]:
                    latest[ticket] = (stamp, score)
            meta = page.get("meta") or {}
            if not (meta.get("has_more") and meta.get("after_cursor")):
                break
            params = {**params, "page[after]": meta["after_cursor"]}
        return {ticket: score for ticket, (_, score) in latest.items()}

    def _tickets(self, state: dict[str, Any]) -> Iterator[Batch]:
        run_start = int(self._clock())
        ratings = self._ratings(int(state["r"]))
        no_org = 0
        while True:
            params: dict[str, Any] = {"include": "metric_sets"}
            if state.get("t"):
                params["cursor"] = state["t"]
            else:
                params["start_time"] = self.settings.start_time
            page = self._get("/api/v2/incremental/tickets/cursor.json", params, "tickets")
            solved_at = {
                m["ticket_id"]: m.get("solved_at")
                for m in page.get("metric_sets") or []
                if m.get("ticket_id") is not None
            }
            records = []
            for ticket in page.get("tickets") or []:
                if ticket.get("organization_id") is None:
                    no_org += 1
                else:
                    records.append(map_ticket(ticket, solved_at, ratings))
            done = bool(page.get("end_of_stream")) or not page.get("after_cursor")
            if page.get("after_cursor"):
                state["t"] = page["after_cursor"]
            if done:
                cursor = _dump({"t": state.get("t"), "r": max(0, run_start - OVERLAP_SECONDS)})
            else:
                cursor = _dump({**state, "p": "tickets"})
            yield Batch("tickets", records, cursor=cursor,
                        unlinked_ok=frozenset({"contact_external_id"}))
            if done:
                break
        if no_org:
            self.warnings.append(f"{no_org} ticket(s) without an organization were skipped")
