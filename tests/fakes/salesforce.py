"""A fake Salesforce org: HTTPS servers on 127.0.0.1 answering the documented shapes.

The org's hosts are real local listeners, each on its own port, all serving one
self-signed certificate (:func:`write_certificate`) that the test trusts through
``REQUESTS_CA_BUNDLE`` (requests honours it, and simple-salesforce and Pulse's token
requests go through requests): :attr:`FakeSalesforce.login_url` stands for
https://login.salesforce.com, :attr:`~FakeSalesforce.sandbox_url` for
https://test.salesforce.com and :attr:`~FakeSalesforce.instance_url` for the org's My Domain
(https://pulse-test.my.salesforce.com), which serves the REST API. Tests point
``SALESFORCE_INSTANCE_URL`` / ``SALESFORCE_LOGIN_URL`` at those ``https://127.0.0.1:PORT``
URLs (:attr:`~FakeSalesforce.env_token`). The legacy SOAP login cannot be given a URL:
simple-salesforce's ``SalesforceLogin`` builds
``https://{domain}.salesforce.com/services/Soap/u/...`` from its ``domain`` (Pulse passes
``SALESFORCE_DOMAIN``, or the login URL's host without ``.salesforce.com``; a
``127.0.0.1:PORT`` domain would make the port ``PORT.salesforce.com``), and Pulse's default
login URL is https://login.salesforce.com. Those names reach the listeners through a local
CONNECT proxy (:class:`fakes.https.ConnectProxy`, set as ``HTTPS_PROXY`` by
:attr:`~FakeSalesforce.client_env`, with ``NO_PROXY=127.0.0.1``): the certificate also
names login.salesforce.com, test.salesforce.com and the My Domain, so TLS is verified end
to end and nothing is intercepted; any other host gets a 502, so no test reaches the real
Salesforce.

The org serves SOQL queries (paged through ``nextRecordsUrl`` like the REST Query
resource), sObject Describe, sObject Collections PATCH and retrieve, Task creation, Bulk
API 2.0 ingest jobs and the SOAP login, filters queries on ``SystemModstamp > literal`` (or
``>=``) like the org would, and lets a test queue failures (429/503 with Retry-After, 500s,
401 ``INVALID_SESSION_ID``) per object. Every request and its answer is in
:attr:`~FakeSalesforce.calls`.

It is also the org's OAuth 2.0 token endpoint on every host (JWT bearer and client
credentials, :mod:`fakes.salesforce_oauth`); Bulk API 2.0 jobs are in
:mod:`fakes.salesforce_bulk`. ``calls_per_token`` makes every token expire after that many
API calls.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlparse

from .https import Answer, Call, ConnectProxy, HttpsListener, Request, Response, serve, stop
from .salesforce_bulk import BulkIngest
from .salesforce_oauth import TokenEndpoint
from .tls import write_self_signed

VERSION = "59.0"
API = f"/services/data/v{VERSION}"
"""The REST API's path on the instance."""
TOKEN = "00Dfake!access-token"
MY_DOMAIN = "pulse-test.my.salesforce.com"
HOSTS = {"login.salesforce.com": "login", "test.salesforce.com": "test", MY_DOMAIN: "instance"}
"""The org's host names, and the listener standing for each (the proxy's routes)."""

ENV_LOGIN = {
    "SALESFORCE_USERNAME": "pulse@example.com",
    "SALESFORCE_PASSWORD": "secret",
    "SALESFORCE_SECURITY_TOKEN": "tok",
}

Failure = tuple[int, dict[str, str], Any]  # status, headers, JSON body

ACCOUNT_FIELDS: dict[str, tuple[str, int]] = {
    "Id": ("id", 18),
    "Name": ("string", 255),
    "Website": ("url", 255),
    "OwnerId": ("reference", 18),
    "IsDeleted": ("boolean", 0),
    "MasterRecordId": ("reference", 18),
    "Tier__c": ("picklist", 255),
    "Segment__c": ("picklist", 255),
    "ARR__c": ("currency", 0),
    "Renewal_Date__c": ("date", 0),
    "Health_Score__c": ("double", 0),
    "Health_Tier__c": ("picklist", 255),
    "Health_Reasons__c": ("textarea", 255),
    "Expansion_Score__c": ("double", 0),
    "Renewal_Risk__c": ("picklist", 255),
    "Health_Updated__c": ("datetime", 0),
}
NUMBER_FIELDS: dict[str, tuple[int, int]] = {
    "ARR__c": (18, 2),
    "Health_Score__c": (4, 1),
    "Expansion_Score__c": (4, 1),
}
"""Describe ``precision`` and ``scale`` of the numeric Account fields (others: 0, 0)."""
RETRIEVE_MAX = 2000
"""Ids an sObject Collections retrieve accepts in its body."""


def stamp(day: int, hour: int = 0, minute: int = 0) -> str:
    """A SystemModstamp as Salesforce returns it, on a day of November 2026."""
    return f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:00.000+0000"


def _parse(value: str) -> datetime:
    text = value.replace("Z", "+0000")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").replace(tzinfo=None)


def error(code: str, message: str) -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code}]


def expired() -> Failure:
    return (401, {}, error("INVALID_SESSION_ID", "Session expired or invalid"))


def write_certificate(directory: Path) -> tuple[Path, Path]:
    """The org's self-signed certificate (for 127.0.0.1 and the :data:`HOSTS`) and key."""
    return write_self_signed(directory, "salesforce", tuple(HOSTS))


Route = tuple[str, str, frozenset[str], Callable[[Request], Answer]]
ANY_HOST = frozenset(HOSTS.values())
INSTANCE_ONLY = frozenset({"instance"})


@dataclass
class FakeSalesforce(TokenEndpoint, BulkIngest):
    """The org's records per object, and what the test saw go over the wire.

    ``with FakeSalesforce(cert, key) as org:`` serves until the block ends; the test sets
    :attr:`client_env` in the environment (the ``salesforce_org`` fixture does both).
    """

    cert: Path
    key: Path
    page_size: int = 2000
    records: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"User": [], "Account": [], "Contact": [], "Opportunity": []}
    )
    account_fields: dict[str, tuple[str, int]] = field(default_factory=lambda: dict(ACCOUNT_FIELDS))
    number_fields: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(NUMBER_FIELDS))
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    record_errors: dict[str, tuple[str, str]] = field(default_factory=dict)
    valid_tokens: set[str] = field(default_factory=lambda: {TOKEN})
    queries: list[str] = field(default_factory=list)
    collection_bodies: list[dict[str, Any]] = field(default_factory=list)
    logins: int = 0
    updated: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Record id -> the fields written to it (by writeback, or by hand with :meth:`edit`)."""
    retrieve_bodies: list[dict[str, Any]] = field(default_factory=list)
    bulk_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    bulk_polls_in_progress: int = 1
    public_key: str | None = None  # PEM of the certificate uploaded to the connected app
    calls_per_token: int | None = None
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    tokens_issued: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    """Every request the org's hosts received, with the answer, in order."""
    audiences: dict[str, str] = field(default_factory=dict)
    """Listener name -> the JWT ``aud`` its token endpoint wants instead of the URL posted
    to (a login host known to Salesforce by another name, as behind a proxy)."""
    server_errors: list[BaseException] = field(default_factory=list)
    _token_calls: dict[str, int] = field(default_factory=dict)
    _locators: dict[str, tuple[list[dict[str, Any]], int]] = field(default_factory=dict)
    _listeners: dict[str, HttpsListener] = field(default_factory=dict)
    _proxy: ConnectProxy | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- the servers -----------------------------------------------------------------

    def start(self) -> Self:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        for name in HOSTS.values():
            self._listeners[name] = HttpsListener(name, self.dispatch, context)
            serve(self._listeners[name])
        self._proxy = ConnectProxy({host: self._listeners[name].port
                                    for host, name in HOSTS.items()})
        serve(self._proxy)
        return self

    def stop(self) -> None:
        proxy = [self._proxy] if self._proxy is not None else []
        stop(*self._listeners.values(), *proxy)
        self._listeners.clear()
        self._proxy = None
        if self.server_errors:
            raise AssertionError(f"the fake org failed: {self.server_errors[0]!r}") from (
                self.server_errors[0])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def instance_url(self) -> str:
        """The My Domain (``https://127.0.0.1:PORT``): the REST API and a token endpoint."""
        return self._listeners["instance"].url

    @property
    def instance(self) -> str:
        """The instance's host and port, as in a Host header."""
        return self.instance_url.removeprefix("https://")

    @property
    def login_url(self) -> str:
        """Stands for https://login.salesforce.com."""
        return self._listeners["login"].url

    @property
    def sandbox_url(self) -> str:
        """Stands for https://test.salesforce.com."""
        return self._listeners["test"].url

    @property
    def env_token(self) -> dict[str, str]:
        """The bare-token login to this org."""
        return {"SALESFORCE_INSTANCE_URL": self.instance_url, "SALESFORCE_ACCESS_TOKEN": TOKEN}

    @property
    def client_env(self) -> dict[str, str]:
        """What the process environment needs to reach the org: the certificate to trust,
        and the proxy for the Salesforce host names (127.0.0.1 is reached directly)."""
        assert self._proxy is not None, "FakeSalesforce not started"
        proxy, direct = self._proxy.url, "127.0.0.1,localhost"
        return {"REQUESTS_CA_BUNDLE": str(self.cert), "HTTPS_PROXY": proxy,
                "https_proxy": proxy, "NO_PROXY": direct, "no_proxy": direct}

    def _routes(self) -> list[Route]:
        jobs = API + "/jobs/ingest"
        return [
            ("GET", API + r"/query/?", INSTANCE_ONLY, self._query),
            ("GET", API + r"/query/01g[\w-]+", INSTANCE_ONLY, self._query_more),
            ("GET", API + r"/queryAll/?", INSTANCE_ONLY, self._query_all),
            ("GET", API + r"/queryAll/01g[\w-]+", INSTANCE_ONLY, self._query_more),
            ("GET", API + r"/sobjects/(\w+)/describe/?", INSTANCE_ONLY, self._describe),
            ("PATCH", API + r"/composite/sobjects/?", INSTANCE_ONLY, self._collections),
            ("POST", API + r"/composite/sobjects/(\w+)", INSTANCE_ONLY, self._retrieve),
            ("POST", API + r"/sobjects/Task/?", INSTANCE_ONLY, self._create_task),
            ("POST", jobs, INSTANCE_ONLY, self._bulk_create),
            ("PUT", jobs + r"/(\w+)/batches/?", INSTANCE_ONLY, self._bulk_upload),
            ("PATCH", jobs + r"/(\w+)", INSTANCE_ONLY, self._bulk_close),
            ("GET", jobs + r"/(\w+)", INSTANCE_ONLY, self._bulk_status),
            ("GET", jobs + r"/(\w+)/failedResults/?", INSTANCE_ONLY, self._bulk_failed),
            ("POST", f"/services/Soap/u/{VERSION}", ANY_HOST, self._login),
            ("POST", "/services/oauth2/token", ANY_HOST, self._token),
        ]

    def dispatch(self, request: Request) -> Answer:
        """Answer ``request`` with its route's handler, and record both. A handler that
        raises answers 500 and fails the test when the fake stops."""
        path = urlparse(request.url).path
        with self._lock:
            for method, pattern, hosts, handler in self._routes():
                if (request.method == method and request.listener in hosts
                        and re.fullmatch(pattern, path)):
                    try:
                        answer = handler(request)
                    except Exception as exc:  # noqa: BLE001 - reported by stop()
                        self.server_errors.append(exc)
                        answer = (500, {}, json.dumps(error("UNKNOWN_EXCEPTION", repr(exc))))
                    break
            else:
                answer = (404, {}, json.dumps(error(
                    "NOT_FOUND", "The requested resource does not exist")))
            self.calls.append(Call(request, Response(*answer)))
        return answer

    # --- test set-up -----------------------------------------------------------------

    def add(self, sobject: str, *records: dict[str, Any]) -> None:
        self.records[sobject].extend(records)

    def fail(self, key: str, *failures: Failure) -> None:
        """Queue responses for the next requests of ``key``: an object name (its query and
        further pages), "describe", "collections", "retrieve" or "any"."""
        self.failures.setdefault(key, []).extend(failures)

    def expire_session(self) -> None:
        """Every current token is now invalid (401 INVALID_SESSION_ID)."""
        self.valid_tokens.clear()

    def delete(self, sobject: str, record_id: str, at: str, merged_into: str | None = None
               ) -> None:
        """Someone deletes the record ``record_id`` at ``at`` (a SystemModstamp), or merges
        it into ``merged_into``: Query no longer returns it, QueryAll does, ``IsDeleted``
        true and ``MasterRecordId`` naming the survivor."""
        record = next(r for r in self.records[sobject] if r["Id"] == record_id)
        record.update(IsDeleted=True, SystemModstamp=at, MasterRecordId=merged_into)

    def edit(self, record_id: str, **fields: Any) -> None:
        """Someone edits the Account ``record_id`` by hand in Salesforce: ``fields`` now
        hold these values (as the REST API returns them: numbers as numbers)."""
        self.updated.setdefault(record_id, {}).update(fields)

    def current(self, record_id: str) -> dict[str, Any] | None:
        """The Account as the org holds it now, or None for an id it does not know: its
        record (if added) with every field written or edited since."""
        base = next((r for r in self.records["Account"] if r["Id"] == record_id), None)
        if base is None and record_id not in self.updated:
            return None
        record = {"Id": record_id, **(base or {})}
        for name, value in self.updated.get(record_id, {}).items():
            record[name] = self._typed(name, value)
        return record

    @property
    def collection_requests(self) -> int:
        return len(self.collection_bodies)

    @property
    def retrieve_requests(self) -> int:
        return len(self.retrieve_bodies)

    # --- plumbing --------------------------------------------------------------------

    def _gate(self, request: Request, key: str) -> Answer | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token in self.valid_tokens and self.calls_per_token is not None:
            self._token_calls[token] = self._token_calls.get(token, 0) + 1
            if self._token_calls[token] > self.calls_per_token:
                self.valid_tokens.discard(token)
        if token not in self.valid_tokens:
            status, headers, body = expired()
            return status, headers, json.dumps(body)
        for name in (key, "any"):
            queue = self.failures.get(name)
            if queue:
                status, headers, body = queue.pop(0)
                return status, headers, json.dumps(body)
        return None

    def _page(self, rows: list[dict[str, Any]], offset: int) -> dict[str, Any]:
        page = rows[offset : offset + self.page_size]
        body: dict[str, Any] = {
            "totalSize": len(rows),
            "done": offset + self.page_size >= len(rows),
            "records": page,
        }
        if not body["done"]:
            locator = f"01gFAKE{len(self._locators):04d}-{offset + self.page_size}"
            self._locators[locator] = (rows, offset + self.page_size)
            body["nextRecordsUrl"] = f"/services/data/v{VERSION}/query/{locator}"
        return body

    def _query_all(self, request: Request) -> Answer:
        """QueryAll: the query with the records deleted or merged away (``IsDeleted``)."""
        return self._query(request, include_deleted=True)

    def _query(self, request: Request, include_deleted: bool = False) -> Answer:
        """Query: a deleted record (``IsDeleted`` true) is left out, as the org does."""
        soql = parse_qs(urlparse(request.url).query)["q"][0]
        sobject = re.search(r"\bFROM (\w+)", soql).group(1)  # type: ignore[union-attr]
        failed = self._gate(request, sobject)
        if failed:
            return failed
        self.queries.append(soql)
        fields = [f.strip() for f in soql.split(" FROM ")[0].removeprefix("SELECT ").split(",")]
        if sobject == "Account":
            unknown = [f for f in fields if f not in self.account_fields and f != "SystemModstamp"]
            if unknown:
                body = error("INVALID_FIELD", f"No such column '{unknown[0]}' on entity 'Account'")
                return 400, {}, json.dumps(body)
        rows = sorted(self.records[sobject], key=lambda r: _parse(r["SystemModstamp"]))
        if not include_deleted:
            rows = [r for r in rows if not r.get("IsDeleted")]
        since = re.search(r"SystemModstamp (>=?) (\S+)", soql)
        if since:
            after = _parse(since.group(2))
            inclusive = since.group(1) == ">="
            rows = [r for r in rows
                    if _parse(r["SystemModstamp"]) > after
                    or (inclusive and _parse(r["SystemModstamp"]) == after)]
        if "AccountId != null" in soql:
            rows = [r for r in rows if r.get("AccountId")]
        if "IsDeleted" in fields:  # the org always has a value
            rows = [{**r, "IsDeleted": bool(r.get("IsDeleted"))} for r in rows]
        shaped = [
            {
                "attributes": {
                    "type": sobject,
                    "url": f"/services/data/v{VERSION}/sobjects/{sobject}/{r['Id']}",
                },
                **{f: r.get(f) for f in fields},
            }
            for r in rows
        ]
        return 200, {}, json.dumps(self._page(shaped, 0))

    def _query_more(self, request: Request) -> Answer:
        locator = urlparse(request.url).path.rsplit("/", 1)[1]
        rows, offset = self._locators[locator]
        sobject = rows[0]["attributes"]["type"]
        failed = self._gate(request, sobject)
        if failed:
            return failed
        return 200, {}, json.dumps(self._page(rows, offset))

    def _describe(self, request: Request) -> Answer:
        failed = self._gate(request, "describe")
        if failed:
            return failed
        sobject = urlparse(request.url).path.split("/")[-2]
        fields = [
            {
                "name": name,
                "type": kind,
                "length": length,
                "precision": self.number_fields.get(name, (0, 0))[0],
                "scale": self.number_fields.get(name, (0, 0))[1],
                "updateable": name != "Id",
            }
            for name, (kind, length) in self.account_fields.items()
        ]
        return 200, {}, json.dumps({"name": sobject, "fields": fields})

    def _collections(self, request: Request) -> Answer:
        failed = self._gate(request, "collections")
        if failed:
            return failed
        body = json.loads(request.body)
        self.collection_bodies.append(body)
        results = []
        for record in body["records"]:
            record_id = record["id"]
            if record_id in self.record_errors:
                code, message = self.record_errors[record_id]
                results.append(
                    {
                        "success": False,
                        "errors": [{"statusCode": code, "message": message, "fields": []}],
                    }
                )
                continue
            values = {k: v for k, v in record.items() if k not in {"attributes", "id"}}
            self.updated.setdefault(record_id, {}).update(values)
            results.append({"id": record_id, "success": True, "errors": []})
        return 200, {}, json.dumps(results)

    def _typed(self, name: str, value: Any) -> Any:
        """A stored field value as the REST API returns it: a number field's value (from a
        Bulk API CSV it is text) as a number rounded to the field's scale, "" as null."""
        if value in (None, "", "#N/A"):
            return None
        kind = self.account_fields.get(name, ("string", 0))[0]
        if kind in ("double", "currency", "percent", "int"):
            scale = self.number_fields.get(name, (0, 0))[1]
            number = round(float(value), scale)
            return int(number) if scale == 0 else number
        return value

    def _retrieve(self, request: Request) -> Answer:
        """sObject Collections retrieve: the records in the order of ``ids``, with only
        ``fields``; null for an unknown id, 400 INVALID_FIELD for an unknown field."""
        failed = self._gate(request, "retrieve")
        if failed:
            return failed
        body = json.loads(request.body)
        self.retrieve_bodies.append(body)
        ids, fields = body.get("ids") or [], body.get("fields") or []
        if len(ids) > RETRIEVE_MAX:
            return 400, {}, json.dumps(error("INVALID_FIELD", "Too many ids (2000 at most)"))
        unknown = [f for f in fields if f not in self.account_fields]
        if unknown:
            body = error("INVALID_FIELD", f"No such column '{unknown[0]}' on entity 'Account'")
            return 400, {}, json.dumps(body)
        out: list[dict[str, Any] | None] = []
        for record_id in ids:
            record = self.current(record_id)
            if record is None:
                out.append(None)
                continue
            url = f"/services/data/v{VERSION}/sobjects/Account/{record_id}"
            shaped = {"attributes": {"type": "Account", "url": url}}
            out.append({**shaped, **{f: record.get(f) for f in fields}})
        return 200, {}, json.dumps(out)

    def _create_task(self, request: Request) -> Answer:
        """``POST /sobjects/Task/``: 201 with the new id; a required field missing is a 400
        error list, as the REST API answers."""
        failed = self._gate(request, "Task")
        if failed:
            return failed
        body = json.loads(request.body)
        if not body.get("Subject"):
            return 400, {}, json.dumps(error("REQUIRED_FIELD_MISSING",
                                             "Required fields are missing: [Subject]"))
        task_id = f"00T{len(self.tasks) + 1:015d}"
        self.tasks[task_id] = body
        return 201, {}, json.dumps({"id": task_id, "success": True, "errors": []})

    def _login(self, request: Request) -> Answer:
        self.logins += 1
        token = f"00Dfake!session-{self.logins}"
        self.valid_tokens.add(token)
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
            f"<serverUrl>{self.instance_url}/services/Soap/u/{VERSION}/00Dfake</serverUrl>"
            f"<sessionId>{token}</sessionId></result></loginResponse></soapenv:Body>"
            "</soapenv:Envelope>"
        )
        return 200, {"Content-Type": "text/xml"}, xml
