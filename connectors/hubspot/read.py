"""Reading HubSpot: owners, companies, contacts and deals changed since the cursor.

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

Each search page becomes one :class:`~pulse.kernel.records.Batch` whose cursor is a compact
JSON object holding one last-modified time (epoch ms) per object, e.g.
``{"companies":1764064800000,"contacts":1764064800000,"deals":null}``. The sync service
stores it with the batch, so a run that dies after companies resumes contacts and deals
from their own points, and companies from where they were.

The search API returns at most 10,000 results per query (paging past that answers 400;
see the "Limitations" section of the search guide above). When the next page would
cross that limit the query is restarted with the cursor moved to the last modified time
seen, skipping the records of that exact millisecond already yielded. More than 10,000
records sharing one millisecond cannot be paged and raise :class:`HubSpotError`.

Companies and deals deleted (archived) in HubSpot, and companies merged away, are marked
deleted (:mod:`connectors.hubspot.gone`), after each object's search.

Contacts take their company from the ``associatedcompanyid`` property (the primary
company). Deals have no such property: their companies come from the v4 associations
batch read (``POST /crm/v4/associations/deals/companies/batch/read``, through
``crm.associations.v4.batch_api.get_page``;
https://developers.hubspot.com/docs/api-reference/legacy/crm/associations/associate-records/batch/get-associations).
Each request names at most :data:`ASSOCIATION_BATCH_SIZE` deals (``{"inputs":[{"id":..}]}``;
the limit: https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api);
each answer's ``results[]`` give ``from.id`` and ``to[]`` (``toObjectId`` with its
``associationTypes``), and a deal with more companies than one page has a
``paging.next.after`` that is asked for again as ``{"id":..,"after":..}``. A deal linked
to several companies belongs to the one whose association is "Primary" (deal-to-company
type 5), else to the first listed. Contacts and deals without a company cannot be stored
(Pulse's contacts and opportunities belong to an account); they are counted in one
warning rather than listed as rejections.

A deal's amount is its ``deal_arr_property`` (default ``hs_arr``, the annual recurring
revenue HubSpot calculates from the deal's recurring line items), else its ``amount``:
what an account's ARR is summed from when it comes from deals (:mod:`pulse.kernel.arr`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from hubspot import HubSpot

from connectors.base import Connector, register
from connectors.hubspot.client import HubSpotError, Sleep, call, make_client
from connectors.hubspot.gone import MERGED_IDS_PROPERTY, archived, merged_away
from connectors.hubspot.values import (
    as_bool,
    as_date,
    as_float,
    as_text,
    column_converter,
    deal_kind,
    epoch_ms,
)
from pulse.kernel.config import HubSpotSourceConfig, PulseConfig
from pulse.kernel.records import Batch, Entity

log = logging.getLogger("pulse.connectors.hubspot")

SEARCH_PAGE_SIZE = 100
"""Records asked for per search page."""
SEARCH_RESULT_LIMIT = 10_000
"""Results one search query can page through; past it the query restarts from a cursor."""
OWNERS_PAGE_SIZE = 500
"""Owners asked for per page of the owners API."""
MAX_WARNINGS = 50
"""Warnings kept per pull; one "further HubSpot warnings omitted" line stands for the rest."""
ASSOCIATION_BATCH_SIZE = 100
"""Deals named per associations batch read (HubSpot refuses more than 100 ids)."""
PRIMARY_DEAL_COMPANY = 5
"""HubSpot-defined association type id of a deal's primary company."""


@dataclass(frozen=True)
class _Object:
    key: str  # cursor key and CRM object type
    entity: Entity
    modified: str
    properties: tuple[str, ...]


COMPANY_PROPERTIES = ("name", "domain", "hubspot_owner_id", "industry", "hs_lastmodifieddate",
                      MERGED_IDS_PROPERTY)
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
            state = parse_cursor(cursor)  # a full pull keeps the objects it has not reached
        except (ValueError, TypeError):
            self._warn(f"unreadable HubSpot cursor {cursor!r}; reading everything again")
            state = parse_cursor(None)
        owners, pages = self._owners()
        yield Batch("owners", owners, pages=pages)
        objects = (
            _Object("companies", "accounts", "hs_lastmodifieddate", self._company_properties()),
            _Object("contacts", "contacts", "lastmodifieddate", CONTACT_PROPERTIES),
            _Object("deals", "opportunities", "hs_lastmodifieddate", self._deal_properties()),
        )
        for obj in objects:
            yield from self._search(obj, state, full=full)
            if obj.key in ("companies", "deals"):
                gone, pages = archived(self.client, obj.key, self.sleep)
                yield Batch(obj.entity, gone, cursor=dump_cursor(state), pages=pages)

    # owners ---------------------------------------------------------------------------

    def _owners(self) -> tuple[list[dict[str, Any]], int]:
        """Every active owner, and how many pages they were read from."""
        api = self.client.crm.owners.owners_api
        records: list[dict[str, Any]] = []
        after: str | None = None
        pages = 0
        while True:
            pages += 1
            kwargs: dict[str, Any] = {"limit": self.owners_page_size, "archived": False}
            if after:
                kwargs["after"] = after
            data = call(
                partial(api.get_page, **kwargs, _preload_content=False),
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
                return records, pages

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
        return call(
            lambda: api.do_search(public_object_search_request=body, _preload_content=False),
            f"HubSpot {obj.key} search",
            self.sleep,
        )

    def _search(
        self, obj: _Object, state: dict[str, int | None], *, full: bool = False
    ) -> Iterator[Batch]:
        floor = None if full else state.get(obj.key)
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
                    modified = epoch_ms(props.get(obj.modified) or item.get("updatedAt"))
                except ValueError:
                    modified = None
                rows.append((item, modified))
                if modified is not None:
                    if modified != last_ms:
                        last_ms, at_last = modified, set()
                    at_last.add(str(item["id"]))
            records = self._convert(obj, [item for item, _ in rows])
            without_company += len(rows) - len(records)
            if obj.key == "companies":  # the companies merged into these: gone
                records += [gone for item, _ in rows
                            for gone in merged_away(str(item["id"]), item.get("properties") or {})]
            if rows:
                state[obj.key] = last_ms
                yield Batch(obj.entity, records, cursor=dump_cursor(state))
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

    def _deal_properties(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*DEAL_PROPERTIES, self.settings.deal_arr_property)))

    def fetch_company(self, company_id: str) -> dict[str, Any]:
        """One company as an ``accounts`` record (live rescoring: a webhook names only the
        id). ``GET /crm/v3/objects/companies/{id}`` with the mapped properties, through the
        same retry policy as the sync."""
        api = self.client.crm.companies.basic_api
        item = call(
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
            "domain": as_text(props.get("domain")),
            "hubspot_id": ext,
            "owner_external_id": as_text(props.get("hubspot_owner_id")),
            "industry": as_text(props.get("industry")),
            "deleted_at": None,  # found by the search: not archived (or restored)
        }
        custom: dict[str, Any] = {}
        for column, prop in self.settings.company_properties.items():
            convert = column_converter(column)
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
        if any(column_converter(c) is None for c in self.settings.company_properties):
            record["custom"] = custom
        return record

    def _contact(self, item: dict[str, Any]) -> dict[str, Any] | None:
        props = item.get("properties") or {}
        company = as_text(props.get("associatedcompanyid"))
        if not company:
            return None
        name = " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p).strip()
        try:
            created = as_date(props.get("createdate"))
        except ValueError:
            created = None
        return {
            "external_id": str(item["id"]),
            "account_external_id": company,
            "email": as_text(props.get("email")),
            "name": name or None,
            "created_on": created,
        }

    def _deal_companies(self, deal_ids: list[str]) -> dict[str, str]:
        """Each deal's company (the primary one when it has several), read in batches of
        :data:`ASSOCIATION_BATCH_SIZE` and following each deal's ``paging.next.after``."""
        targets: dict[str, list[dict[str, Any]]] = {}
        pending: list[dict[str, str]] = [{"id": i} for i in deal_ids]
        asked: set[tuple[str, str]] = set()  # (deal, after) pages already asked for
        while pending:
            inputs, pending = pending[:ASSOCIATION_BATCH_SIZE], pending[ASSOCIATION_BATCH_SIZE:]
            asked.update((i["id"], i.get("after", "")) for i in inputs)
            data = self._associations_page(inputs)
            for result in data.get("results") or []:
                deal = str((result.get("from") or {}).get("id"))
                targets.setdefault(deal, []).extend(result.get("to") or [])
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after and (deal, str(after)) not in asked:
                    pending.append({"id": deal, "after": str(after)})
        return {deal: _primary_company(tos) for deal, tos in targets.items() if tos}

    def _associations_page(self, inputs: list[dict[str, str]]) -> dict[str, Any]:
        api = self.client.crm.associations.v4.batch_api
        return call(
            lambda: api.get_page(
                from_object_type="deals",
                to_object_type="companies",
                batch_input_public_fetch_associations_batch_request={"inputs": inputs},
                _preload_content=False,
            ),
            "HubSpot deal associations",
            self.sleep,
        )

    def _deal(self, item: dict[str, Any], company: str | None) -> dict[str, Any] | None:
        if not company:
            return None
        props = item.get("properties") or {}
        ext = str(item["id"])
        stage = as_text(props.get("dealstage"))
        amount = self._deal_amount(ext, props)
        try:
            close = as_date(props.get("closedate"))
        except ValueError:
            close = None
        closed = as_bool(props.get("hs_is_closed"))
        won = as_bool(props.get("hs_is_closed_won"))
        return {
            "external_id": ext,
            "account_external_id": company,
            "owner_external_id": as_text(props.get("hubspot_owner_id")),
            "name": as_text(props.get("dealname")),
            "kind": deal_kind(props.get("dealtype"), props.get("pipeline")),
            "stage": stage,
            "amount": amount,
            "close_date": close,
            "is_closed": closed if closed is not None else stage in ("closedwon", "closedlost"),
            "is_won": won if won is not None else stage == "closedwon",
            "deleted_at": None,  # found by the search: not archived (or restored)
        }

    def _deal_amount(self, ext: str, props: dict[str, Any]) -> float | None:
        """The deal's ``deal_arr_property``, else its ``amount`` (None when neither is a
        number)."""
        for prop in dict.fromkeys((self.settings.deal_arr_property, "amount")):
            raw = props.get(prop)
            try:
                value = as_float(raw)
            except ValueError:
                self._warn(f"HubSpot deal {ext}: {prop} {raw!r} is not a number")
                continue
            if value is not None:
                return value
        return None


def _primary_company(targets: list[dict[str, Any]]) -> str:
    """The company of the "Primary" association among ``targets``, else the first."""
    primary = next(
        (
            t
            for t in targets
            if any(
                (a.get("category") == "HUBSPOT_DEFINED" and a.get("typeId") == PRIMARY_DEAL_COMPANY)
                or (a.get("label") or "").lower() == "primary"
                for a in t.get("associationTypes") or []
            )
        ),
        targets[0],
    )
    return str(primary["toObjectId"])
