"""The ``hubspot`` source: owners, companies, contacts and deals, and health writeback.

Pulling
-------
Owners come from the owners API (``GET /crm/v3/owners``, 500 a page, following
``paging.next.after``; https://developers.hubspot.com/docs/api-reference/crm-crm-owners-v3/guide).
It has no "modified since" filter, so all active owners are read on every run (a portal
has tens of them, not thousands).

Companies, contacts and deals come from the CRM search API
(``POST /crm/v3/objects/{object}/search``;
https://developers.hubspot.com/docs/api-reference/2026-03/crm/search-the-crm), filtered on
the last-modified property (``hs_lastmodifieddate``; ``lastmodifieddate`` for contacts)
``GTE`` the object's cursor and sorted ascending on it, following ``paging.next.after``.
``GTE`` rather than ``GT``: several records can share one millisecond (imports,
workflows), and a run that stops between two of them must not skip the second; the one
record re-read at the boundary is upserted as *unchanged*, never duplicated.

Each search page becomes one :class:`~connectors.base.Batch` whose cursor is a compact JSON
object holding one last-modified time (epoch ms) per object, e.g.
``{"companies":1764064800000,"contacts":1764064800000,"deals":null}``. The sync service
stores it with the batch, so a run that dies after companies resumes contacts and deals
from their own points, and companies from where they were.

The search API returns at most 10,000 results per query (paging past that answers 400;
see the "Limitations" section of the search guide above). When the next page would
cross that limit the query is restarted with the cursor moved to the last modified time
seen, skipping the records of that exact millisecond already yielded. More than 10,000
records sharing one millisecond cannot be paged and raise :class:`HubSpotError`.

Contacts take their company from the ``associatedcompanyid`` property (the primary
company); deals from the v4 associations batch read
(``POST /crm/v4/associations/deals/companies/batch/read``;
https://developers.hubspot.com/docs/api-reference/legacy/crm/associations/associate-records/batch/get-associations),
preferring the "Primary" association. Contacts and deals without a company cannot be
stored (Pulse's contacts and opportunities belong to an account); they are counted in one
warning rather than listed as rejections.

Writeback
---------
:func:`write_back` sends only what :func:`connectors.writeback.pending_writeback` says
changed, 100 companies per ``POST /crm/v3/objects/companies/batch/update``
(https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/companies/batch/update-companies).
When HubSpot refuses a whole batch with a validation error that names no record (its
answer to properties it does not have), it makes sure the property group and the health
properties exist (``/crm/v3/properties/companies`` and ``.../companies/groups``;
https://developers.hubspot.com/docs/api/crm/properties), creates what is missing and
sends the batch again; a portal already set up pays no read for this. Per
record failures (a 207 multi-status ``errors`` entry, or a 4xx naming ids that no longer
exist) are stored with :func:`~connectors.writeback.record_outcomes` and retried next run;
the rest of the batch still goes through.

Client and retries
------------------
The official ``hubspot-api-client`` is built as ``HubSpot(access_token=..., host=...)``
(``host`` is set on every generated ``Configuration``; ``hubspot/discovery/discovery_base.py``)
with the token only from ``HUBSPOT_ACCESS_TOKEN`` and the host from ``HUBSPOT_API_URL``
(default ``https://api.hubapi.com``). Its own urllib3 retries (which would honour
``Retry-After`` on 429/503 by themselves) are switched off: every call goes through
:func:`connectors.retry.call_with_retries` with :func:`classify`, like every other source.
Responses are read as raw JSON (``_preload_content=False``) in the documented shapes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import urllib3
from hubspot import HubSpot
from sqlalchemy import Boolean, Date, DateTime, Float, Integer
from sqlalchemy.orm import Session
from urllib3.util.retry import Retry as Urllib3Retry

from connectors.base import Connector, register
from connectors.retry import Retry, call_with_retries, retry_for_status
from connectors.writeback import (
    WritebackItem,
    WritebackReport,
    pending_writeback,
    record_outcomes,
)
from pulse.kernel.config import HubSpotSourceConfig, PulseConfig
from pulse.kernel.records import Batch
from pulse.kernel.tiers import TIER_LABELS
from storage.models import Account

log = logging.getLogger("pulse.connectors.hubspot")
T = TypeVar("T")

DEFAULT_HOST = "https://api.hubapi.com"
SEARCH_PAGE_SIZE = 100
SEARCH_RESULT_LIMIT = 10_000
OWNERS_PAGE_SIZE = 500
BATCH_SIZE = 100
"""Inputs per batch update request (HubSpot's maximum for company batch endpoints)."""
REASONS_MAX = 1000
MAX_WARNINGS = 50
GROUP_LABEL = "Customer health"
NO_CLIENT_RETRIES = Urllib3Retry(total=0, redirect=False, respect_retry_after_header=False)

Sleep = Callable[[float], None]


class HubSpotError(Exception):
    """A HubSpot problem worded for the person running Pulse."""


# --- client and retry classification ---------------------------------------------------


def make_client() -> HubSpot:
    """A client for ``HUBSPOT_API_URL`` authenticated with ``HUBSPOT_ACCESS_TOKEN``."""
    token = os.environ.get("HUBSPOT_ACCESS_TOKEN", "").strip()
    if not token:
        raise HubSpotError(
            "HUBSPOT_ACCESS_TOKEN is not set: create a private app in HubSpot "
            "(Settings > Integrations > Private apps) and export its access token"
        )
    host = (os.environ.get("HUBSPOT_API_URL") or DEFAULT_HOST).rstrip("/")
    return HubSpot(access_token=token, host=host, retry=NO_CLIENT_RETRIES)


def _is_api_exception(exc: BaseException) -> bool:
    # every generated package (crm.companies, crm.owners, ...) has its own ApiException
    return type(exc).__module__.startswith("hubspot.") and hasattr(exc, "status")


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is None and isinstance(headers, dict):
        for key, val in headers.items():
            if str(key).lower() == name.lower():
                return str(val)
    return None if value is None else str(value)


def classify(exc: BaseException) -> Retry | None:
    """hubspot ``ApiException``: 429 and 5xx retry (after ``Retry-After`` when sent);
    connection-level urllib3 errors retry; everything else is final."""
    if _is_api_exception(exc):
        status = getattr(exc, "status", None)
        return retry_for_status(status, _header(getattr(exc, "headers", None), "Retry-After"))
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return Retry(f"connection error ({type(exc).__name__})")
    return None


def _error_body(exc: BaseException) -> dict[str, Any]:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return {"message": str(body)[:300]}
    return data if isinstance(data, dict) else {}


def _describe(exc: BaseException) -> str:
    data = _error_body(exc)
    status = getattr(exc, "status", None)
    message = data.get("message") or getattr(exc, "reason", None) or type(exc).__name__
    category = data.get("category")
    return f"{status} {category + ': ' if category else ''}{message}"


def _json(response: Any) -> dict[str, Any]:
    data = response.data if hasattr(response, "data") else response
    if not data:
        return {}
    parsed = json.loads(data)
    return parsed if isinstance(parsed, dict) else {}


def _call(fn: Callable[[], Any], what: str, sleep: Sleep) -> dict[str, Any]:
    """One API call under the shared retry policy, returning its JSON body."""
    try:
        return _json(call_with_retries(fn, classify, what=what, sleep=sleep))
    except Exception as exc:
        if _is_api_exception(exc) and getattr(exc, "status", None) == 401:
            raise HubSpotError(
                f"{what}: HubSpot rejected the access token (401 Unauthorized); check "
                "HUBSPOT_ACCESS_TOKEN (private app token, not expired or rotated)"
            ) from exc
        if _is_api_exception(exc) and getattr(exc, "status", None) == 403:
            raise HubSpotError(
                f"{what}: HubSpot refused the request (403 Forbidden: {_describe(exc)}); "
                "the private app needs the crm.objects.companies/contacts/deals, "
                "crm.objects.owners and crm.schemas.companies scopes"
            ) from exc
        raise


# --- value conversion -----------------------------------------------------------------


def _ms(value: Any) -> int | None:
    """HubSpot datetime (ISO 8601 or epoch ms) as epoch milliseconds."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _datetime(value: Any) -> datetime | None:
    ms = _ms(value)
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if len(text) == 10 and text[4] == "-":
        return date.fromisoformat(text)
    moment = _datetime(text)
    return None if moment is None else moment.date()


def _float(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(float(value))


def _bool(value: Any) -> bool | None:
    if value in (None, ""):
        return None
    return str(value).strip().lower() in ("true", "1", "yes")


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _converter(column: str) -> Callable[[Any], Any] | None:
    """How a company property value becomes the Account column ``column`` (None: custom)."""
    col = Account.__table__.c.get(column)  # type: ignore[attr-defined]
    if col is None or column in ("id", "source", "external_id", "updated_at", "custom"):
        return None
    kind = col.type
    if isinstance(kind, Float):
        return _float
    if isinstance(kind, Integer):
        return _int
    if isinstance(kind, DateTime):
        return _datetime
    if isinstance(kind, Date):
        return _date
    if isinstance(kind, Boolean):
        return _bool
    return _text


def _deal_kind(dealtype: str | None, pipeline: str | None) -> str:
    text = f"{dealtype or ''} {pipeline or ''}".lower()
    if "renew" in text:
        return "renewal"
    if "expan" in text or "upsell" in text or "cross" in text or dealtype == "existingbusiness":
        return "expansion"
    if dealtype == "newbusiness":
        return "new"
    return "other"


# --- pulling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Object:
    key: str  # cursor key and CRM object type
    entity: str
    modified: str
    properties: tuple[str, ...]


COMPANY_PROPERTIES = ("name", "domain", "hubspot_owner_id", "industry", "hs_lastmodifieddate")
CONTACT_PROPERTIES = (
    "firstname",
    "lastname",
    "email",
    "associatedcompanyid",
    "createdate",
    "lastmodifieddate",
)
DEAL_PROPERTIES = (
    "dealname",
    "dealtype",
    "dealstage",
    "pipeline",
    "amount",
    "closedate",
    "hubspot_owner_id",
    "hs_is_closed",
    "hs_is_closed_won",
    "hs_lastmodifieddate",
)
OBJECT_KEYS = ("companies", "contacts", "deals")


def parse_cursor(cursor: str | None) -> dict[str, int | None]:
    """The composite cursor as ``{object: epoch ms or None}`` (all None for no cursor)."""
    state: dict[str, int | None] = dict.fromkeys(OBJECT_KEYS)
    if not cursor:
        return state
    data = json.loads(cursor)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    for key in OBJECT_KEYS:
        value = data.get(key)
        state[key] = None if value is None else int(value)
    return state


def dump_cursor(state: dict[str, int | None]) -> str:
    return json.dumps({k: state.get(k) for k in OBJECT_KEYS}, separators=(",", ":"))


@register
class HubSpotConnector(Connector):
    """Pull HubSpot owners, companies, contacts and deals changed since the cursor."""

    name = "hubspot"

    def __init__(
        self,
        config: PulseConfig,
        client: HubSpot | None = None,
        *,
        sleep: Sleep = time.sleep,
        page_size: int = SEARCH_PAGE_SIZE,
        result_limit: int = SEARCH_RESULT_LIMIT,
    ) -> None:
        super().__init__(config)
        self.settings = config.sources.hubspot or HubSpotSourceConfig()
        self._client = client
        self.sleep = sleep
        self.page_size = page_size
        self.result_limit = result_limit
        self.owners_page_size = OWNERS_PAGE_SIZE

    @property
    def client(self) -> HubSpot:
        if self._client is None:
            self._client = make_client()
        return self._client

    def _warn(self, message: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)
        elif len(self.warnings) == MAX_WARNINGS:
            self.warnings.append("further HubSpot warnings omitted")

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        self.warnings = []
        try:
            state = parse_cursor(None if full else cursor)
        except (ValueError, TypeError):
            self._warn(f"unreadable HubSpot cursor {cursor!r}; reading everything again")
            state = parse_cursor(None)
        yield Batch("owners", self._owners())
        objects = (
            _Object("companies", "accounts", "hs_lastmodifieddate", self._company_properties()),
            _Object("contacts", "contacts", "lastmodifieddate", CONTACT_PROPERTIES),
            _Object("deals", "opportunities", "hs_lastmodifieddate", DEAL_PROPERTIES),
        )
        for obj in objects:
            yield from self._search(obj, state)

    # owners ---------------------------------------------------------------------------

    def _owners(self) -> list[dict[str, Any]]:
        api = self.client.crm.owners.owners_api
        records: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": self.owners_page_size, "archived": False}
            if after:
                kwargs["after"] = after
            data = _call(
                lambda kw=kwargs: api.get_page(**kw, _preload_content=False),
                "HubSpot owners",
                self.sleep,
            )
            for owner in data.get("results") or []:
                name = " ".join(
                    p for p in (owner.get("firstName"), owner.get("lastName")) if p
                ).strip()
                teams = owner.get("teams") or []
                team = next((t for t in teams if t.get("primary")), teams[0] if teams else None)
                records.append(
                    {
                        "external_id": str(owner["id"]),
                        "name": name or owner.get("email") or f"HubSpot owner {owner['id']}",
                        "email": owner.get("email"),
                        "crm_owner_id": str(owner["id"]),
                        "team": team.get("name") if team else None,
                    }
                )
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after or not data.get("results"):
                return records

    # search ---------------------------------------------------------------------------

    def _search_page(self, obj: _Object, floor: int | None, after: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "filterGroups": [],
            "sorts": [{"propertyName": obj.modified, "direction": "ASCENDING"}],
            "properties": list(obj.properties),
            "limit": self.page_size,
        }
        if floor is not None:
            body["filterGroups"] = [
                {
                    "filters": [
                        {"propertyName": obj.modified, "operator": "GTE", "value": str(floor)}
                    ]
                }
            ]
        if after:
            body["after"] = after
        api = getattr(self.client.crm, obj.key).search_api
        return _call(
            lambda: api.do_search(public_object_search_request=body, _preload_content=False),
            f"HubSpot {obj.key} search",
            self.sleep,
        )

    def _search(self, obj: _Object, state: dict[str, int | None]) -> Iterator[Batch]:
        floor = state.get(obj.key)
        skip: set[str] = set()  # ids of the boundary millisecond already yielded
        after: str | None = None
        last_ms: int | None = floor
        at_last: set[str] = set()
        without_company = 0
        while True:
            data = self._search_page(obj, floor, after)
            results = [r for r in data.get("results") or [] if str(r.get("id")) not in skip]
            rows: list[tuple[dict[str, Any], int | None]] = []
            for item in results:
                props = item.get("properties") or {}
                try:
                    modified = _ms(props.get(obj.modified) or item.get("updatedAt"))
                except ValueError:
                    modified = None
                rows.append((item, modified))
                if modified is not None:
                    if modified != last_ms:
                        last_ms, at_last = modified, set()
                    at_last.add(str(item["id"]))
            records = self._convert(obj, [item for item, _ in rows])
            missing = len(rows) - len(records)
            without_company += missing
            if rows:
                state[obj.key] = last_ms
                yield Batch(obj.entity, records, cursor=dump_cursor(state))  # type: ignore[arg-type]
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after or not data.get("results"):
                break
            if str(after).isdigit() and int(after) + self.page_size > self.result_limit:
                if last_ms is None or (last_ms == floor and at_last <= skip):
                    raise HubSpotError(
                        f"more than {self.result_limit} HubSpot {obj.key} share the "
                        f"modified time {last_ms}; the search API cannot page past them"
                    )
                log.info("HubSpot %s: search limit reached, continuing from %s", obj.key, last_ms)
                skip = at_last if last_ms != floor else skip | at_last
                floor, after = last_ms, None
        if without_company:
            self._warn(
                f"{without_company} HubSpot {obj.key} without an associated company were "
                "not imported"
            )

    def _company_properties(self) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(COMPANY_PROPERTIES + tuple(self.settings.company_properties.values()))
        )

    def fetch_company(self, company_id: str) -> dict[str, Any]:
        """One company as an ``accounts`` record (live rescoring: a webhook names only the
        id). ``GET /crm/v3/objects/companies/{id}`` with the mapped properties, through the
        same retry policy as the sync."""
        api = self.client.crm.companies.basic_api
        item = _call(
            lambda: api.get_by_id(
                company_id, properties=list(self._company_properties()), _preload_content=False
            ),
            f"HubSpot company {company_id}",
            self.sleep,
        )
        return self._company(item)

    def _convert(self, obj: _Object, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if obj.key == "companies":
            return [self._company(item) for item in items]
        if obj.key == "contacts":
            return [r for r in (self._contact(item) for item in items) if r is not None]
        companies = self._deal_companies([str(item["id"]) for item in items])
        return [
            r
            for r in (self._deal(item, companies.get(str(item["id"]))) for item in items)
            if r is not None
        ]

    def _company(self, item: dict[str, Any]) -> dict[str, Any]:
        props = item.get("properties") or {}
        ext = str(item["id"])
        record: dict[str, Any] = {
            "external_id": ext,
            "name": props.get("name") or props.get("domain") or f"HubSpot company {ext}",
            "domain": _text(props.get("domain")),
            "hubspot_id": ext,
            "owner_external_id": _text(props.get("hubspot_owner_id")),
            "industry": _text(props.get("industry")),
        }
        custom: dict[str, Any] = {}
        for column, prop in self.settings.company_properties.items():
            convert = _converter(column)
            raw = props.get(prop)
            if convert is None:
                custom[column] = raw
                continue
            try:
                record[column] = convert(raw)
            except (TypeError, ValueError):
                record[column] = None
                self._warn(
                    f"HubSpot company {ext}: property {prop}={raw!r} is not a valid "
                    f"{column}; left empty"
                )
        if any(_converter(c) is None for c in self.settings.company_properties):
            record["custom"] = custom
        return record

    def _contact(self, item: dict[str, Any]) -> dict[str, Any] | None:
        props = item.get("properties") or {}
        company = _text(props.get("associatedcompanyid"))
        if not company:
            return None
        name = " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p).strip()
        try:
            created = _date(props.get("createdate"))
        except ValueError:
            created = None
        return {
            "external_id": str(item["id"]),
            "account_external_id": company,
            "email": _text(props.get("email")),
            "name": name or None,
            "created_on": created,
        }

    def _deal_companies(self, deal_ids: list[str]) -> dict[str, str]:
        if not deal_ids:
            return {}
        api = self.client.crm.associations.v4.batch_api
        body = {"inputs": [{"id": i} for i in deal_ids]}
        data = _call(
            lambda: api.get_page(
                from_object_type="deals",
                to_object_type="companies",
                batch_input_public_fetch_associations_batch_request=body,
                _preload_content=False,
            ),
            "HubSpot deal associations",
            self.sleep,
        )
        found: dict[str, str] = {}
        for result in data.get("results") or []:
            targets = result.get("to") or []
            if not targets:
                continue
            primary = next(
                (
                    t
                    for t in targets
                    if any(
                        (a.get("label") or "").lower() == "primary"
                        for a in t.get("associationTypes") or []
                    )
                ),
                targets[0],
            )
            found[str((result.get("from") or {}).get("id"))] = str(primary["toObjectId"])
        return found

    def _deal(self, item: dict[str, Any], company: str | None) -> dict[str, Any] | None:
        if not company:
            return None
        props = item.get("properties") or {}
        ext = str(item["id"])
        stage = _text(props.get("dealstage"))
        try:
            amount = _float(props.get("amount"))
        except ValueError:
            amount = None
            self._warn(f"HubSpot deal {ext}: amount {props.get('amount')!r} is not a number")
        try:
            close = _date(props.get("closedate"))
        except ValueError:
            close = None
        closed = _bool(props.get("hs_is_closed"))
        won = _bool(props.get("hs_is_closed_won"))
        return {
            "external_id": ext,
            "account_external_id": company,
            "owner_external_id": _text(props.get("hubspot_owner_id")),
            "name": _text(props.get("dealname")),
            "kind": _deal_kind(props.get("dealtype"), props.get("pipeline")),
            "stage": stage,
            "amount": amount,
            "close_date": close,
            "is_closed": closed if closed is not None else stage in ("closedwon", "closedlost"),
            "is_won": won if won is not None else stage == "closedwon",
        }


# --- health properties ------------------------------------------------------------------


@dataclass(frozen=True)
class PropertySpec:
    name: str
    label: str
    type: str
    field_type: str
    options: tuple[str, ...] = ()


HEALTH_PROPERTIES: dict[str, PropertySpec] = {
    # writeback value key -> HubSpot company property
    "score": PropertySpec("health_score", "Health score", "number", "number"),
    "tier": PropertySpec(
        "health_tier", "Health tier", "enumeration", "select", tuple(TIER_LABELS.values())
    ),
    "reasons": PropertySpec("health_reasons", "Health reasons", "string", "textarea"),
    "expansion_score": PropertySpec("expansion_score", "Expansion score", "number", "number"),
    "renewal_risk": PropertySpec(
        "renewal_risk", "Renewal risk", "enumeration", "select", ("low", "medium", "high")
    ),
    "updated": PropertySpec("health_updated", "Health updated", "datetime", "date"),
}
COMPATIBLE_TYPES = {
    "enumeration": {"enumeration", "string"},
    "string": {"string"},
    "number": {"number"},
    "datetime": {"datetime", "date"},
}


@dataclass(frozen=True)
class PropertyCheck:
    """One line of ``pulse crm check``: a group or property Pulse needs, and its state."""

    name: str
    kind: str  # "group" | "writeback" | "read"
    expected: str | None  # HubSpot type expected (None: any)
    found: str | None  # type found in HubSpot; None when missing
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _groups_and_properties(
    client: HubSpot, sleep: Sleep
) -> tuple[set[str], dict[str, dict[str, Any]]]:
    props = client.crm.properties
    groups = _call(
        lambda: props.groups_api.get_all(object_type="companies", _preload_content=False),
        "HubSpot company property groups",
        sleep,
    )
    found = _call(
        lambda: props.core_api.get_all(object_type="companies", _preload_content=False),
        "HubSpot company properties",
        sleep,
    )
    return (
        {g.get("name") for g in groups.get("results") or []},
        {p.get("name"): p for p in found.get("results") or []},
    )


def check_properties(
    client: HubSpot | None, config: PulseConfig | HubSpotSourceConfig, *, sleep: Sleep = time.sleep
) -> list[PropertyCheck]:
    """What Pulse needs on HubSpot companies, and whether the portal has it (read only)."""
    settings = _settings(config)
    client = client or make_client()
    groups, found = _groups_and_properties(client, sleep)
    checks = [
        PropertyCheck(
            settings.property_group,
            "group",
            "property group",
            "property group" if settings.property_group in groups else None,
            None if settings.property_group in groups else "missing (created on first writeback)",
        )
    ]
    for spec in HEALTH_PROPERTIES.values():
        have = found.get(spec.name)
        kind = have.get("type") if have else None
        problem = None
        if have is None:
            problem = "missing (created on first writeback)"
        elif kind not in COMPATIBLE_TYPES[spec.type]:
            problem = f"has type {kind}, Pulse writes {spec.type}"
        checks.append(PropertyCheck(spec.name, "writeback", spec.type, kind, problem))
    for column, prop in settings.company_properties.items():
        have = found.get(prop)
        checks.append(
            PropertyCheck(
                prop,
                "read",
                None,
                have.get("type") if have else None,
                None if have else f"missing: account {column} will stay empty",
            )
        )
    return checks


def ensure_properties(
    client: HubSpot, config: PulseConfig | HubSpotSourceConfig, *, sleep: Sleep = time.sleep
) -> list[str]:
    """Create the property group and any missing health property; returns what was created."""
    settings = _settings(config)
    props = client.crm.properties
    groups, found = _groups_and_properties(client, sleep)
    created: list[str] = []
    if settings.property_group not in groups:
        body = {"name": settings.property_group, "label": GROUP_LABEL, "displayOrder": -1}
        _call(
            lambda: props.groups_api.create(
                object_type="companies", property_group_create=body, _preload_content=False
            ),
            "HubSpot create property group",
            sleep,
        )
        created.append(settings.property_group)
    for spec in HEALTH_PROPERTIES.values():
        if spec.name in found:
            continue
        body: dict[str, Any] = {
            "name": spec.name,
            "label": spec.label,
            "type": spec.type,
            "fieldType": spec.field_type,
            "groupName": settings.property_group,
            "description": "Written by Pulse (customer health scoring).",
        }
        if spec.options:
            body["options"] = [
                {
                    "label": o.capitalize() if o.islower() else o,
                    "value": o,
                    "displayOrder": i,
                    "hidden": False,
                }
                for i, o in enumerate(spec.options)
            ]
        _call(
            lambda b=body: props.core_api.create(
                object_type="companies", property_create=b, _preload_content=False
            ),
            f"HubSpot create property {spec.name}",
            sleep,
        )
        created.append(spec.name)
    if created:
        log.info("created HubSpot company properties: %s", ", ".join(created))
    return created


def _settings(config: PulseConfig | HubSpotSourceConfig) -> HubSpotSourceConfig:
    if isinstance(config, HubSpotSourceConfig):
        return config
    return config.sources.hubspot or HubSpotSourceConfig()


# --- writeback --------------------------------------------------------------------------


def _properties(changed: dict[str, Any]) -> dict[str, Any]:
    return {HEALTH_PROPERTIES[k].name: v for k, v in changed.items() if k in HEALTH_PROPERTIES}


def _failed_ids(data: dict[str, Any]) -> dict[str, str]:
    """Record id -> reason, from HubSpot's ``errors`` (207) or a whole-request error body."""
    failed: dict[str, str] = {}
    entries = data.get("errors") if isinstance(data.get("errors"), list) else [data]
    for err in entries or []:
        if not isinstance(err, dict):
            continue
        reason = " ".join(
            p
            for p in (
                f"{err.get('category')}:" if err.get("category") else "",
                err.get("message") or "rejected",
            )
            if p
        )
        context = err.get("context") or {}
        ids = context.get("ids") or context.get("id") or []
        for rid in [ids] if isinstance(ids, str) else ids:
            failed[str(rid)] = reason
    return failed


@dataclass
class _PropertyCheck:
    """Whether this writeback has made sure the health properties exist.

    The check costs two reads (and the creates, once per portal), so it runs only when a
    batch update is refused as a whole with a validation error that names no record,
    which is how HubSpot answers an update to a property it does not have; the refused
    chunk is then sent again. A portal already set up pays nothing.
    """

    client: HubSpot
    config: PulseConfig | HubSpotSourceConfig
    done: bool = False

    def ensure(self, report: WritebackReport, sleep: Sleep) -> bool:
        if self.done:
            return False
        self.done = True
        report.requests -= 1  # the refused update was the probe: count it as set-up
        report.setup_requests += 3  # that update, the group and the property listings
        report.setup_requests += len(ensure_properties(self.client, self.config, sleep=sleep))
        return True


def _update_chunk(
    client: HubSpot,
    chunk: list[WritebackItem],
    report: WritebackReport,
    sleep: Sleep,
    check: _PropertyCheck,
) -> list[tuple[WritebackItem, str | None]]:
    api = client.crm.companies.batch_api
    pending = list(chunk)
    outcomes: list[tuple[WritebackItem, str | None]] = []
    while pending:
        body = {
            "inputs": [{"id": i.record_id, "properties": _properties(i.changed)} for i in pending]
        }
        report.requests += 1
        try:
            data = _call(
                lambda b=body: api.update(
                    batch_input_simple_public_object_batch_input=b, _preload_content=False
                ),
                "HubSpot company batch update",
                sleep,
            )
        except Exception as exc:
            status = getattr(exc, "status", None) if _is_api_exception(exc) else None
            if status is None or not 400 <= status < 500 or status == 429:
                raise
            # the whole request was refused: drop the records it names and send the rest
            body_error = _error_body(exc)
            failed = _failed_ids(body_error)
            named = [i for i in pending if i.record_id in failed]
            if (
                not named
                and body_error.get("category") == "VALIDATION_ERROR"
                and check.ensure(report, sleep)
            ):
                continue  # the properties were missing (or are now verified): send again
            if not named:
                reason = _describe(exc)
                return outcomes + [(i, reason) for i in pending]
            outcomes += [(i, failed[i.record_id]) for i in named]
            pending = [i for i in pending if i.record_id not in failed]
            continue
        failed = _failed_ids(data)
        done = {str(r.get("id")) for r in data.get("results") or []}
        for item in pending:
            if item.record_id in failed:
                outcomes.append((item, failed[item.record_id]))
            elif item.record_id in done:
                outcomes.append((item, None))
            else:
                outcomes.append((item, "not in HubSpot's batch response"))
        pending = []
    return outcomes


def write_back(
    session: Session,
    config: PulseConfig | HubSpotSourceConfig,
    client: HubSpot | None = None,
    now: datetime | None = None,
    *,
    sleep: Sleep = time.sleep,
    account_ids: Collection[int] | None = None,
) -> WritebackReport:
    """Send changed health values to HubSpot companies; the caller commits ``session``.

    Nothing changed means no request at all; the property check runs only when HubSpot
    refuses an update for want of them (``_PropertyCheck``). ``account_ids`` limits the
    write to those accounts (live rescoring).
    """
    items, report = pending_writeback(
        session, "hubspot", reasons_max=REASONS_MAX, account_ids=account_ids
    )
    if not items:
        return report
    client = client or make_client()
    now = now or datetime.now(UTC).replace(tzinfo=None)
    check = _PropertyCheck(client, config)
    for start in range(0, len(items), BATCH_SIZE):
        chunk = items[start : start + BATCH_SIZE]
        outcomes = _update_chunk(client, chunk, report, sleep, check)
        record_outcomes(session, "hubspot", outcomes, now, report)
    return report


# --- tasks for playbooks -----------------------------------------------------------------

TASK_TO_COMPANY = 192
"""HubSpot-defined association type of a task to a company (default association type ids,
https://developers.hubspot.com/docs/api/crm/associations)."""


def create_task(
    *,
    subject: str,
    description: str,
    due: datetime,
    owner_id: str | None,
    company_id: str | None,
    client: HubSpot | None = None,
    sleep: Sleep = time.sleep,
) -> str:
    """Create a task (``POST /crm/v3/objects/tasks``) on the company for its owner.

    ``hs_timestamp`` (required) is the due date; ``hubspot_owner_id`` assigns it
    (https://developers.hubspot.com/docs/api/crm/tasks). Returns the task id.
    """
    client = client or make_client()
    properties = {
        "hs_timestamp": due.replace(microsecond=0).isoformat() + "Z",
        "hs_task_subject": subject[:255],
        "hs_task_body": description,
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": "HIGH",
        "hs_task_type": "TODO",
    }
    if owner_id:
        properties["hubspot_owner_id"] = owner_id
    body: dict[str, Any] = {"properties": properties}
    if company_id:
        body["associations"] = [
            {
                "to": {"id": company_id},
                "types": [
                    {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_COMPANY}
                ],
            }
        ]
    api = client.crm.objects.tasks.basic_api
    data = _call(
        lambda: api.create(simple_public_object_input_for_create=body, _preload_content=False),
        "HubSpot create task",
        sleep,
    )
    return str(data.get("id"))
