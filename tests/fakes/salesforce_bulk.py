"""The fake Salesforce org's Bulk API 2.0 ingest jobs: create, upload the CSV, close, poll
(``InProgress`` for ``bulk_polls_in_progress`` polls, then ``JobComplete``) and the failed
records' results
(https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/bulk_api_2_0.htm).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import urlparse

from .https import Answer, Request


class BulkIngest:
    """Mixed into :class:`fakes.salesforce.FakeSalesforce`, whose fields these are."""

    bulk_jobs: dict[str, dict[str, Any]]
    bulk_polls_in_progress: int
    record_errors: dict[str, tuple[str, str]]
    updated: dict[str, dict[str, Any]]

    def _gate(self, request: Request, key: str) -> Answer | None:
        raise NotImplementedError

    def _job_id(self, request: Request) -> str:
        parts = urlparse(request.url).path.rstrip("/").split("/")
        return parts[parts.index("ingest") + 1]

    def _bulk_create(self, request: Request) -> Answer:
        failed = self._gate(request, "bulk")
        if failed:
            return failed
        spec = json.loads(request.body)
        job_id = f"750FAKE{len(self.bulk_jobs):04d}"
        self.bulk_jobs[job_id] = {"spec": spec, "csv": "", "state": "Open", "polls": 0}
        return 200, {}, json.dumps({"id": job_id, "state": "Open", **spec})

    def _bulk_upload(self, request: Request) -> Answer:
        failed = self._gate(request, "bulk")
        if failed:
            return failed
        self.bulk_jobs[self._job_id(request)]["csv"] += request.body.decode()
        return 201, {}, ""

    def _bulk_close(self, request: Request) -> Answer:
        job = self.bulk_jobs[self._job_id(request)]
        job["state"] = json.loads(request.body)["state"]
        return 200, {}, json.dumps({"id": self._job_id(request), "state": job["state"]})

    def _bulk_status(self, request: Request) -> Answer:
        job = self.bulk_jobs[self._job_id(request)]
        job["polls"] += 1
        if job["state"] == "UploadComplete":
            job["state"] = "InProgress"
        if job["state"] == "InProgress" and job["polls"] > self.bulk_polls_in_progress:
            job["state"] = "JobComplete"
            for row in csv.DictReader(io.StringIO(job["csv"])):
                if row["Id"] not in self.record_errors:
                    values = {k: v for k, v in row.items() if k != "Id" and v != ""}
                    self.updated.setdefault(row["Id"], {}).update(values)
        return 200, {}, json.dumps({"id": self._job_id(request), "state": job["state"]})

    def _bulk_failed(self, request: Request) -> Answer:
        job = self.bulk_jobs[self._job_id(request)]
        rows = list(csv.DictReader(io.StringIO(job["csv"])))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        header = list(rows[0]) if rows else ["Id"]
        writer.writerow(["sf__Id", "sf__Error", *header])
        for row in rows:
            if row["Id"] in self.record_errors:
                code, message = self.record_errors[row["Id"]]
                writer.writerow([row["Id"], f"{code}:{message}:--", *row.values()])
        return 200, {"Content-Type": "text/csv"}, out.getvalue()
