"""Writing health values to HubSpot companies.

:func:`write_back` first reads the health properties of the scored companies back, 100 a
``POST /crm/v3/objects/companies/batch/read`` with ``properties``, ``propertiesWithHistory``
and ``inputs`` (the same body as the dated path documented at
https://developers.hubspot.com/docs/api-reference/latest/crm/objects/objects/batch/get-objects;
a 207 multi-status lists ids that no longer exist under ``errors``), then sends each
company the values it shows differently from the latest score (a changed score, or a value
edited by hand in HubSpot: :func:`connectors.writeback.reconcile`), 100 companies per
``POST /crm/v3/objects/companies/batch/update``
(https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/companies/batch/update-companies).
HubSpot returns every property value as a string, and number properties keep decimals.
When HubSpot refuses a whole batch with a validation error that names no record (its
answer to properties it does not have), it makes sure the property group and the health
properties exist (:func:`connectors.hubspot.properties.ensure_properties`), creates what is
missing and sends the batch again; a portal already set up pays no read for this. Per
record failures (a 207 multi-status ``errors`` entry, or a 4xx naming ids that no longer
exist) are stored with :func:`~connectors.writeback.record_outcomes` and retried next run;
the rest of the batch still goes through.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from hubspot import HubSpot
from sqlalchemy.orm import Session

from connectors.hubspot.client import (
    Sleep,
    call,
    describe_error,
    error_body,
    is_api_exception,
    make_client,
)
from connectors.hubspot.properties import HEALTH_PROPERTIES, ensure_properties
from connectors.writeback import (
    WritebackItem,
    WritebackReport,
    reconcile,
    record_outcomes,
    scored_records,
)
from pulse.kernel.config import HubSpotSourceConfig, PulseConfig

SYSTEM = "hubspot"
BATCH_SIZE = 100
"""Inputs per batch read or update request (HubSpot's maximum for company batch endpoints)."""
REASONS_MAX = 1000
"""Health reasons are cut to this many characters."""


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
            data = call(
                partial(
                    api.update,
                    batch_input_simple_public_object_batch_input=body,
                    _preload_content=False,
                ),
                "HubSpot company batch update",
                sleep,
            )
        except Exception as exc:
            status = getattr(exc, "status", None) if is_api_exception(exc) else None
            if status is None or not 400 <= status < 500 or status == 429:
                raise
            # the whole request was refused: drop the records it names and send the rest
            body_error = error_body(exc)
            failed = _failed_ids(body_error)
            named = [i for i in pending if i.record_id in failed]
            if (
                not named
                and body_error.get("category") == "VALIDATION_ERROR"
                and check.ensure(report, sleep)
            ):
                continue  # the properties were missing (or are now verified): send again
            if not named:
                reason = describe_error(exc)
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


def read_current(
    client: HubSpot, record_ids: list[str], report: WritebackReport, sleep: Sleep
) -> dict[str, dict[str, Any]]:
    """Company id -> its health values as HubSpot holds them now (by Pulse's keys), read
    :data:`BATCH_SIZE` companies a request. A company HubSpot does not return (deleted,
    merged) is left out; a property the portal does not have yet reads as empty."""
    api = client.crm.companies.batch_api
    names = [spec.name for spec in HEALTH_PROPERTIES.values()]
    current: dict[str, dict[str, Any]] = {}
    for start in range(0, len(record_ids), BATCH_SIZE):
        chunk = record_ids[start : start + BATCH_SIZE]
        body = {
            "properties": names,
            "propertiesWithHistory": [],
            "inputs": [{"id": record_id} for record_id in chunk],
        }
        report.read_requests += 1
        data = call(
            partial(
                api.read,
                batch_read_input_simple_public_object_id=body,
                _preload_content=False,
            ),
            "HubSpot company batch read",
            sleep,
        )
        for record in data.get("results") or []:
            props = record.get("properties") or {}
            current[str(record.get("id"))] = {
                key: props.get(spec.name) for key, spec in HEALTH_PROPERTIES.items()
            }
    return current


def write_back(
    session: Session,
    config: PulseConfig | HubSpotSourceConfig,
    client: HubSpot | None = None,
    *,
    now: datetime,
    sleep: Sleep = time.sleep,
    account_ids: Collection[int] | None = None,
) -> WritebackReport:
    """Send HubSpot companies the health values they do not show; the caller commits
    ``session``.

    No scored account with a HubSpot id means no request at all. Otherwise the companies'
    current values are read back (``report.read_requests``) and each company gets the
    values it shows differently from the latest score, a hand edit included
    (``report.restored``). The property check runs only when HubSpot refuses an update for
    want of them (``_PropertyCheck``). ``account_ids`` limits the write to those accounts
    (live rescoring).
    """
    scored, report = scored_records(
        session, SYSTEM, reasons_max=REASONS_MAX, account_ids=account_ids
    )
    if not scored:
        return report
    client = client or make_client()
    current = read_current(client, [item.record_id for item in scored], report, sleep)
    items = reconcile(scored, current, report)
    check = _PropertyCheck(client, config)
    for start in range(0, len(items), BATCH_SIZE):
        chunk = items[start : start + BATCH_SIZE]
        outcomes = _update_chunk(client, chunk, report, sleep, check)
        record_outcomes(session, SYSTEM, outcomes, now, report)
    return report
