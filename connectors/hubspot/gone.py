"""Companies and deals gone from HubSpot: archived (deleted) ones, and merged-away companies.

The search API never returns an archived record, so a company or deal deleted in HubSpot
would stay scored, alerted, written back or forecast in Pulse for good. Archived records
are listed through ``GET /crm/v3/objects/{companies,deals}?archived=true`` (each with its
``archivedAt``; deleted records can be restored within 90 days:
https://developers.hubspot.com/docs/api-reference/2026-03/crm/objects/companies/delete-company).
A merge leaves the ids of the companies merged away in the survivor's
``hs_merged_object_ids`` (semicolon separated), and the survivor may get a new id;
:func:`merged_away` marks those ids deleted as of the survivor's last modification,
merged into the survivor.

Each gone record is a tombstone (:func:`pulse.kernel.records.tombstone`): storage marks
the record it holds deleted and ignores one it never stored. A record restored in HubSpot
comes back through the search, ``deleted_at`` None.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from hubspot import HubSpot

from connectors.hubspot.client import Sleep, call
from connectors.hubspot.values import as_datetime
from pulse.kernel.records import tombstone

ARCHIVED_PAGE_SIZE = 100
"""Archived records asked for per page (the list endpoint's maximum)."""
MERGED_IDS_PROPERTY = "hs_merged_object_ids"


def archived(
    client: HubSpot, kind: str, sleep: Sleep, page_size: int = ARCHIVED_PAGE_SIZE
) -> tuple[list[dict[str, Any]], int]:
    """A tombstone for every archived record of ``kind`` (``companies`` or ``deals``), and
    how many pages they took."""
    api = getattr(client.crm, kind).basic_api
    records: list[dict[str, Any]] = []
    after: str | None = None
    pages = 0
    while True:
        pages += 1
        kwargs: dict[str, Any] = {"limit": page_size, "archived": True}
        if after:
            kwargs["after"] = after
        data = call(partial(api.get_page, **kwargs, _preload_content=False),
                    f"HubSpot archived {kind}", sleep)
        for item in data.get("results") or []:
            at = as_datetime(item.get("archivedAt") or item.get("updatedAt"))
            if item.get("archived") and at is not None:
                records.append(tombstone(str(item["id"]), at))
        after = ((data.get("paging") or {}).get("next") or {}).get("after")
        if not after or not data.get("results"):
            return records, pages


def merged_away(company_id: str, properties: dict[str, Any]) -> list[dict[str, Any]]:
    """Tombstones for the companies merged into ``company_id`` (its own id left out)."""
    at = as_datetime(properties.get("hs_lastmodifieddate"))
    if at is None:
        return []
    ids = str(properties.get(MERGED_IDS_PROPERTY) or "").split(";")
    return [tombstone(i.strip(), at, merged_into=company_id) for i in ids
            if i.strip() not in ("", company_id)]
