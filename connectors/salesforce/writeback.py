"""Writing health values to Salesforce Account records.

Writing back uses sObject Collections ``PATCH /composite/sobjects`` with ``allOrNone``
false, 200 records a request, so a deleted record or a validation rule fails only its own
record
(https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-update.html).
Above ``bulk_threshold`` records one Bulk API 2.0 ingest job is used instead
(:mod:`connectors.salesforce.bulk`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from sqlalchemy.orm import Session

from connectors.salesforce.bulk import bulk_update
from connectors.salesforce.client import (
    SalesforceClient,
    SalesforceConfigError,
    as_client,
    error_code,
    source_config,
)
from connectors.salesforce.fields import WRITEBACK_FIELDS
from connectors.writeback import (
    WritebackItem,
    WritebackReport,
    pending_writeback,
    record_outcomes,
)
from pulse.kernel.config import PulseConfig

SYSTEM = "salesforce"
COLLECTION_SIZE = 200  # sObject Collections accept up to 200 records a request
DEFAULT_REASONS_LENGTH = 255
"""Reasons are cut to this length unless the org's Health_Reasons__c says otherwise."""


def write_back(
    session: Session,
    config: PulseConfig,
    sf: Salesforce | SalesforceClient | None = None,
    *,
    now: datetime,
    account_ids: Collection[int] | None = None,
) -> WritebackReport:
    """Send the changed health values to Salesforce Account records (``account_ids``
    only, when given: live rescoring).

    Only values :func:`connectors.writeback.pending_writeback` reports as changed are sent,
    so a run with no score change makes no request at all (not even a describe). Records
    go by sObject Collections, 200 a request with ``allOrNone`` false, or by one Bulk API
    2.0 job when there are more than ``bulk_threshold``; a per-record error
    (``ENTITY_IS_DELETED``, ``FIELD_CUSTOM_VALIDATION_EXCEPTION`` ...) is recorded for that
    record and the rest go through. ``report.requests`` counts the write requests (a bulk
    job counts each of its calls). Outcomes are flushed to ``session``; the caller commits.
    """
    settings = source_config(config)
    items, report = pending_writeback(
        session, SYSTEM, DEFAULT_REASONS_LENGTH, account_ids=account_ids
    )
    if not settings.writeback or not items:
        return report
    client = as_client(sf, settings.api_version)
    fields = client.fields("Account")
    report.setup_requests += 1  # the describe
    missing = [f for f in WRITEBACK_FIELDS.values() if f not in fields]
    if missing:
        raise SalesforceConfigError(
            "Salesforce Account lacks the health fields "
            + ", ".join(missing)
            + " (run `pulse crm check`)"
        )
    reasons_max = int(fields[WRITEBACK_FIELDS["reasons"]].get("length") or 0)
    if reasons_max and reasons_max != DEFAULT_REASONS_LENGTH:
        items, report = pending_writeback(session, SYSTEM, reasons_max, account_ids=account_ids)
    if len(items) > settings.bulk_threshold:
        outcomes = bulk_update(client, items, report)
        record_outcomes(session, SYSTEM, outcomes, now, report)
        return report
    for start in range(0, len(items), COLLECTION_SIZE):
        chunk = items[start : start + COLLECTION_SIZE]
        outcomes = _update_collection(client, chunk, start, report)
        record_outcomes(session, SYSTEM, outcomes, now, report)
    return report


def _update_collection(
    client: SalesforceClient, chunk: list[WritebackItem], start: int, report: WritebackReport
) -> list[tuple[WritebackItem, str | None]]:
    """One sObject Collections update of ``chunk`` (items ``start`` on): each record's error,
    or None; a refusal of the whole request is every record's error."""
    body = {"allOrNone": False, "records": [_collection_record(i) for i in chunk]}
    report.requests += 1
    try:
        results = client.call(
            lambda sf: sf.restful("composite/sobjects", method="PATCH", json=body),
            what=f"Salesforce writeback ({start + 1}-{start + len(chunk)})",
        )
    except SalesforceError as exc:
        if isinstance(exc, SalesforceExpiredSession):
            raise
        code, message = error_code(exc)
        error = f"{code or exc.status}: {message}".strip()
        return [(item, error) for item in chunk]
    results = list(results or [])
    return [
        (item, _result_error(results[n]) if n < len(results) else "no result returned")
        for n, item in enumerate(chunk)
    ]


def _collection_record(item: WritebackItem) -> dict[str, Any]:
    record: dict[str, Any] = {"attributes": {"type": "Account"}, "id": item.record_id}
    for key, value in item.changed.items():
        record[WRITEBACK_FIELDS[key]] = value
    return record


def _result_error(result: dict[str, Any]) -> str | None:
    if result.get("success"):
        return None
    errors = result.get("errors") or []
    if not errors:
        return "failed without an error message"
    return "; ".join(
        f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}".rstrip(": ") for e in errors
    )
