"""Writing many Salesforce records at once: one Bulk API 2.0 ingest job.

Above ``bulk_threshold`` records one ingest job (``update``, CSV) replaces the sObject
Collections requests, and its ``failedResults`` give the per-record errors
(https://developer.salesforce.com/docs/platform/api-asynch/guide/bulk-api-2-0-ingest.html).
"""

from __future__ import annotations

import csv
import io
from typing import Any

import requests

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.fields import WRITEBACK_FIELDS
from connectors.writeback import WritebackItem, WritebackReport

BULK_DONE_STATES = {"JobComplete", "Failed", "Aborted"}
"""Job states after which polling stops."""
BULK_POLL_SECONDS = (1.0, 2.0, 5.0, 10.0)
"""Pauses between job status polls; the last one repeats."""
BULK_MAX_WAIT = 1800.0
"""Seconds of polling after which a job still running is given up (TimeoutError)."""


def _bulk_csv(items: list[WritebackItem]) -> str:
    """Job data: Id plus every changed field; an empty cell leaves the field unchanged,
    ``#N/A`` clears it (Bulk API 2.0 "Prepare Data to Ingest")."""
    keys = [k for k in WRITEBACK_FIELDS if any(k in i.changed for i in items)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Id", *(WRITEBACK_FIELDS[k] for k in keys)])
    for item in items:
        row = [item.record_id]
        for key in keys:
            if key not in item.changed:
                row.append("")
            else:
                value = item.changed[key]
                row.append("#N/A" if value in (None, "") else str(value))
        writer.writerow(row)
    return out.getvalue()


def bulk_update(
    client: SalesforceClient, items: list[WritebackItem], report: WritebackReport
) -> list[tuple[WritebackItem, str | None]]:
    """Update the records with one Bulk API 2.0 ingest job: create, upload CSV, close,
    poll, read failedResults
    (https://developer.salesforce.com/docs/platform/api-asynch/guide/bulk-api-2-0-ingest.html,
    https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/get_job_failed_results.htm).
    """

    def request(method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        report.requests += 1
        return client.call(
            lambda sf: sf._call_salesforce(method, sf.base_url + path, name=what, **kwargs),
            what=f"Salesforce bulk writeback: {what}",
        )

    job = request(
        "POST",
        "jobs/ingest",
        "create job",
        json={"object": "Account", "operation": "update", "contentType": "CSV", "lineEnding": "LF"},
    ).json()
    job_path = f"jobs/ingest/{job['id']}"
    request(
        "PUT",
        f"{job_path}/batches",
        "upload",
        data=_bulk_csv(items).encode("utf-8"),
        headers={"Content-Type": "text/csv"},
    )
    request("PATCH", job_path, "close job", json={"state": "UploadComplete"})
    waited, polls = 0.0, 0
    while True:
        info = request("GET", job_path, "job status").json()
        if info.get("state") in BULK_DONE_STATES:
            break
        if waited >= BULK_MAX_WAIT:
            raise TimeoutError(f"Bulk API job {job['id']} not done after {waited:.0f}s")
        delay = BULK_POLL_SECONDS[min(polls, len(BULK_POLL_SECONDS) - 1)]
        client.sleep(delay)
        waited += delay
        polls += 1
    if info.get("state") != "JobComplete":
        reason = f"bulk job {info.get('state')}: {info.get('errorMessage') or 'no message'}"
        return [(item, reason) for item in items]
    failed_csv = request("GET", f"{job_path}/failedResults/", "failed results").text
    failures: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(failed_csv)):
        record_id = row.get("sf__Id") or row.get("Id") or ""
        failures[record_id] = (row.get("sf__Error") or "failed").rstrip(":-")
    return [(item, failures.get(item.record_id)) for item in items]
