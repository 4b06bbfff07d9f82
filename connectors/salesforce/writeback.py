"""Writing health values to Salesforce Account records.

Before writing, the Account health fields of every scored record are read back with the
sObject Collections retrieve, ``POST /composite/sobjects/Account`` with ``ids`` and
``fields``, up to 2,000 records a request; an id the user cannot see comes back as null
(https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-retrieve-post.html).
A value someone edited by hand in Salesforce is then sent again
(:func:`connectors.writeback.reconcile`).

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
from functools import partial
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
from connectors.salesforce.fields import WRITEBACK_FIELDS, score_decimals
from connectors.writeback import (
    SCORE_DECIMALS,
    WritebackItem,
    WritebackReport,
    pending_writeback,
    reconcile,
    record_outcomes,
    scored_records,
)
from pulse.kernel.config import PulseConfig

SYSTEM = "salesforce"
COLLECTION_SIZE = 200  # sObject Collections accept up to 200 records a request
READ_SIZE = 2000
"""Records per sObject Collections retrieve (POST with the ids in the body: up to 2,000)."""
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
    """Send Salesforce Account records the health values they do not show (of
    ``account_ids`` only, when given: live rescoring).

    With no scored account that has a Salesforce id, no request is made. Otherwise one
    describe checks the fields (and their length and decimals), the records' current
    values are read back, 2,000 a request (``report.read_requests``), and each record gets
    the values it shows differently from the latest score: a changed score, or a value
    edited by hand (``report.restored``). Records go by sObject Collections, 200 a request
    with ``allOrNone`` false, or by one Bulk API 2.0 job when there are more than
    ``bulk_threshold``; a per-record error (``ENTITY_IS_DELETED``,
    ``FIELD_CUSTOM_VALIDATION_EXCEPTION`` ...) is recorded for that record and the rest go
    through. ``report.requests`` counts the write requests (a bulk job counts each of its
    calls). Outcomes are flushed to ``session``; the caller commits.
    """
    settings = source_config(config)
    if not settings.writeback:
        return pending_writeback(
            session, SYSTEM, DEFAULT_REASONS_LENGTH, account_ids=account_ids
        )[1]
    scored, report = scored_records(
        session, SYSTEM, DEFAULT_REASONS_LENGTH, account_ids=account_ids
    )
    if not scored:
        return report
    client = as_client(sf, settings.api_version)
    fields = client.fields("Account")
    missing = [f for f in WRITEBACK_FIELDS.values() if f not in fields]
    if missing:
        raise SalesforceConfigError(
            "Salesforce Account lacks the health fields "
            + ", ".join(missing)
            + " (run `pulse crm check`)"
        )
    reasons_max = int(fields[WRITEBACK_FIELDS["reasons"]].get("length") or 0)
    reasons_max = reasons_max or DEFAULT_REASONS_LENGTH
    decimals = score_decimals(fields)
    if reasons_max != DEFAULT_REASONS_LENGTH or decimals != SCORE_DECIMALS:
        scored, report = scored_records(
            session, SYSTEM, reasons_max, account_ids=account_ids, decimals=decimals
        )
    report.setup_requests += 1  # the describe
    current = read_current(client, [item.record_id for item in scored], report)
    items = reconcile(scored, current, report)
    if len(items) > settings.bulk_threshold:
        outcomes = bulk_update(client, items, report)
        record_outcomes(session, SYSTEM, outcomes, now, report)
        return report
    for start in range(0, len(items), COLLECTION_SIZE):
        chunk = items[start : start + COLLECTION_SIZE]
        outcomes = _update_collection(client, chunk, start, report)
        record_outcomes(session, SYSTEM, outcomes, now, report)
    return report


def read_current(
    client: SalesforceClient, record_ids: list[str], report: WritebackReport
) -> dict[str, dict[str, Any]]:
    """Record id -> its health values as Salesforce holds them now (by Pulse's keys), read
    :data:`READ_SIZE` records a request; a record Salesforce returns null for is left out."""
    names = list(WRITEBACK_FIELDS.values())
    current: dict[str, dict[str, Any]] = {}
    for start in range(0, len(record_ids), READ_SIZE):
        chunk = record_ids[start : start + READ_SIZE]
        body = {"ids": chunk, "fields": ["Id", *names]}
        report.read_requests += 1
        records = client.call(
            partial(_retrieve, body=body),
            what=f"Salesforce health read-back ({start + 1}-{start + len(chunk)})",
        )
        for record_id, record in zip(chunk, records or [], strict=False):
            if record:
                current[record_id] = {k: record.get(f) for k, f in WRITEBACK_FIELDS.items()}
    return current


def _retrieve(sf: Salesforce, body: dict[str, Any]) -> list[dict[str, Any] | None]:
    """One sObject Collections retrieve: the records in the order of ``body["ids"]``."""
    records = sf.restful("composite/sobjects/Account", method="POST", json=body)
    return list(records or [])


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
