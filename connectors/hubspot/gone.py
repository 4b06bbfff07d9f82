"""Companies gone from HubSpot: archived (deleted) ones, and those merged into another.

The search API never returns an archived company, so a company deleted in HubSpot would
stay scored, alerted and written back in Pulse for good. Archived companies are listed
through ``GET /crm/v3/objects/companies?archived=true`` (each with its ``archivedAt``;
https://developers.hubspot.com/docs/api-reference/2026-03/crm/objects/companies/delete-company:
deleted companies can be restored within 90 days). A merge leaves the ids of the records
merged away in the surviving company's ``hs_merged_object_ids`` (semicolon separated), and
the survivor may get a new id; :func:`merged_away` marks those ids deleted as of the
survivor's last modification, under the survivor's name (a merge joins two records of one
company; the merged-away record's own name is not in the survivor's properties).

A gone company is a record ``{"external_id", "hubspot_id", "name", "deleted_at"}`` for
the accounts batch: storage keeps the account, with ``deleted_at`` set, and a company
restored in HubSpot comes back through the search with ``deleted_at`` None.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from hubspot import HubSpot

from connectors.hubspot.client import Sleep, call
from connectors.hubspot.values import as_datetime

ARCHIVED_PAGE_SIZE = 100
"""Archived companies asked for per page (the list endpoint's maximum)."""
MERGED_IDS_PROPERTY = "hs_merged_object_ids"


def gone_record(company_id: str, name: str | None, at: datetime | None) -> dict[str, Any]:
    """The accounts-batch record of a company no longer in HubSpot since ``at``."""
    return {
        "external_id": company_id,
        "hubspot_id": company_id,
        "name": name or f"HubSpot company {company_id}",
        "deleted_at": at,
        "_where": f"HubSpot company {company_id} (deleted)",
    }


def archived_companies(
    client: HubSpot, sleep: Sleep, page_size: int = ARCHIVED_PAGE_SIZE
) -> tuple[list[dict[str, Any]], int]:
    """Every archived company as a gone record, and how many pages they took."""
    api = client.crm.companies.basic_api
    records: list[dict[str, Any]] = []
    after: str | None = None
    pages = 0
    while True:
        pages += 1
        kwargs: dict[str, Any] = {"limit": page_size, "archived": True, "properties": ["name"]}
        if after:
            kwargs["after"] = after
        data = call(partial(api.get_page, **kwargs, _preload_content=False),
                    "HubSpot archived companies", sleep)
        for item in data.get("results") or []:
            if not item.get("archived"):
                continue
            name = (item.get("properties") or {}).get("name")
            at = as_datetime(item.get("archivedAt") or item.get("updatedAt"))
            records.append(gone_record(str(item["id"]), name, at))
        after = ((data.get("paging") or {}).get("next") or {}).get("after")
        if not after or not data.get("results"):
            return records, pages


def merged_away(company_id: str, properties: dict[str, Any]) -> list[dict[str, Any]]:
    """Gone records for the companies merged into ``company_id`` (its own id left out)."""
    ids = str(properties.get(MERGED_IDS_PROPERTY) or "").split(";")
    at = as_datetime(properties.get("hs_lastmodifieddate"))
    name = properties.get("name")
    return [gone_record(i.strip(), name, at) for i in ids if i.strip() not in ("", company_id)]
