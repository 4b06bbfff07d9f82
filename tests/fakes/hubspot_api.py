"""A fake HubSpot API on 127.0.0.1, good enough for hubspot-api-client.

Point the real client at it: ``HubSpot(access_token=..., host=fake.base_url)``. It answers
the documented JSON shapes of the endpoints Pulse uses:

* ``GET /crm/v3/owners`` (paged with ``after``),
* ``POST /crm/v3/objects/{companies|contacts|deals}/search`` (``filterGroups`` with
  GT/GTE/LT/LTE/EQ, ``sorts``, ``properties``, ``limit``, numeric ``after``; a query paged
  past ``result_limit`` answers 400 as HubSpot does past 10,000),
* ``POST /crm/v4/associations/deals/companies/batch/read`` (at most 100 ``inputs``, else
  400; each deal's ``to`` list paged by ``association_page_size`` with ``paging.next.after``,
  asked for again as ``{"id", "after"}``; companies are listed by id, the first company of
  ``deal_companies`` being the "Primary" association, type 5, the others unlabeled, type
  341; deals without a company get no result),
* ``GET``/``POST /crm/v3/properties/companies`` and ``.../companies/groups``,
* ``POST /crm/v3/objects/companies/batch/update`` (at most 100 inputs; unknown ids give a
  207 multi-status with ``errors``; undefined properties a 400 for the whole request),
* ``POST /crm/v3/objects/companies/batch/read`` (at most 100 inputs; each property asked for
  that the portal defines, as a string or null; unknown ids give a 207 with ``errors``),
* ``POST /crm/v3/objects/tasks`` and ``POST /crm/v3/objects/notes`` (kept in ``tasks`` and
  ``notes``; ``hs_timestamp`` required, a company association must name a known company).

:meth:`FakeHubSpot.edit` changes a company's properties as a user would in HubSpot.

Every request is recorded. ``fail(path_part, status, times, retry_after)`` makes the next
matching requests fail (429 with ``Retry-After``, 500, 401 ...), so the client's real
error handling and Pulse's retry policy run end to end.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .server import LocalFake

MODIFIED = {
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}
DATETIME_PROPS = {"hs_lastmodifieddate", "lastmodifieddate", "createdate", "closedate"}
STANDARD_COMPANY_PROPERTIES = (
    "name",
    "domain",
    "industry",
    "hubspot_owner_id",
    "annualrevenue",
    "hs_lastmodifieddate",
    "createdate",
)


ASSOCIATION_BATCH_LIMIT = 100
"""Ids one associations batch read may name (HubSpot answers 400 past it)."""


def _deal_company_type(primary: bool) -> dict[str, Any]:
    """A deal-to-company association type: "Primary" (5) or unlabeled (341)."""
    if primary:
        return {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"}
    return {"category": "HUBSPOT_DEFINED", "typeId": 341, "label": None}


def iso(moment: datetime) -> str:
    """HubSpot's datetime format: ISO 8601, milliseconds, Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ms(value: Any) -> int:
    text = str(value)
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


BATCH_MAX = 100
"""Inputs a CRM v3 batch read or update takes; more is a 400 VALIDATION_ERROR."""


def too_many_inputs() -> tuple[int, Any, dict[str, str]]:
    return 400, {"status": "error", "category": "VALIDATION_ERROR",
                 "message": f"Batch size must be at most {BATCH_MAX}"}, {}

@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    authorization: str | None


@dataclass
class _Failure:
    path_part: str
    status: int
    remaining: int
    retry_after: str | None
    body: dict[str, Any]
    when: Callable[[Any], bool] | None = None


@dataclass
class FakeHubSpot(LocalFake):
    token: str = "pat-test-token"
    result_limit: int = 10_000
    trailing_empty_page: bool = False
    owners: list[dict[str, Any]] = field(default_factory=list)
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"companies": {}, "contacts": {}, "deals": {}}
    )
    deal_companies: dict[str, list[str]] = field(default_factory=dict)
    association_page_size: int = 500
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        for name in STANDARD_COMPANY_PROPERTIES:
            kind = "datetime" if name in DATETIME_PROPS else "string"
            self.define_property(name, kind, group="companyinformation")

    # --- setup --------------------------------------------------------------------------

    def define_property(
        self,
        name: str,
        kind: str = "string",
        group: str = "companyinformation",
        field_type: str = "text",
    ) -> None:
        self.properties[name] = {
            "name": name,
            "label": name,
            "type": kind,
            "fieldType": field_type,
            "groupName": group,
        }

    def add_owner(
        self, oid: str, email: str, first: str, last: str, team: str | None = None
    ) -> None:
        teams = [{"id": f"t-{team}", "name": team, "primary": True}] if team else []
        self.owners.append(
            {
                "id": oid,
                "email": email,
                "firstName": first,
                "lastName": last,
                "userId": int(oid),
                "teams": teams,
                "archived": False,
                "createdAt": "2026-01-01T00:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z",
            }
        )

    def put(self, kind: str, oid: str, modified: datetime, **props: Any) -> None:
        """Create or update a record of ``kind`` with ``modified`` as last-modified time."""
        with self._lock:
            record = self.objects[kind].setdefault(
                oid, {"id": oid, "properties": {}, "createdAt": iso(modified), "archived": False}
            )
            record["properties"].update(
                {k: None if v is None else str(v) for k, v in props.items()}
            )
            record["properties"][MODIFIED[kind]] = iso(modified)
            record["properties"]["hs_object_id"] = oid
            record["updatedAt"] = iso(modified)

    def archive(self, oid: str, at: datetime, kind: str = "companies") -> None:
        """Someone deletes the record ``oid`` of ``kind`` at ``at``: the search no longer
        finds it, the list with ``archived=true`` does."""
        with self._lock:
            record = self.objects[kind][oid]
            record.update(archived=True, archivedAt=iso(at), updatedAt=iso(at))

    def edit(self, company_id: str, **props: Any) -> None:
        """Someone edits the company ``company_id`` by hand in HubSpot (its last-modified
        time moves to 2026-11-25 12:30 UTC)."""
        self.put("companies", company_id, datetime(2026, 11, 25, 12, 30), **props)

    def fail(
        self,
        path_part: str,
        status: int,
        times: int = 1,
        retry_after: str | None = None,
        body: dict[str, Any] | None = None,
        when: Callable[[Any], bool] | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose path contains ``path_part`` (and whose
        JSON body satisfies ``when``) with ``status``, plus ``Retry-After`` when given."""
        self.failures.append(
            _Failure(
                path_part,
                status,
                times,
                retry_after,
                body
                or {
                    "status": "error",
                    "message": f"injected {status}",
                    "category": "INJECTED",
                    "correlationId": "fake",
                },
                when,
            )
        )

    def calls(self, path_part: str = "", method: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if path_part in r.path and (method is None or r.method == method)
        ]

    # --- server -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeHubSpot:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                path = parts.path.rstrip("/") or "/"  # the client asks for /crm/v3/owners/
                status, payload, headers = fake._dispatch(
                    self.command, path, query, body, self.headers.get("Authorization")
                )
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self._serve(Handler)
        return self

    # --- routing ------------------------------------------------------------------------

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], body: Any, auth: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            status, payload, headers = self._route(method, path, query, body, auth)
            self.requests.append(Request(method, path, query, body, status, auth))
            return status, payload, headers

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any, auth: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        for failure in self.failures:
            if (
                failure.remaining > 0
                and failure.path_part in path
                and (failure.when is None or failure.when(body))
            ):
                failure.remaining -= 1
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                return failure.status, failure.body, headers
        if auth != f"Bearer {self.token}":
            return (
                401,
                {
                    "status": "error",
                    "category": "INVALID_AUTHENTICATION",
                    "message": "Authentication credentials not found.",
                    "correlationId": "fake",
                },
                {},
            )
        if method == "GET" and path == "/crm/v3/owners":
            return self._owners(query)
        if method == "POST" and path.startswith("/crm/v3/objects/") and path.endswith("/search"):
            return self._search(path.split("/")[4], body or {})
        if method == "GET" and path in ("/crm/v3/objects/companies", "/crm/v3/objects/deals"):
            return self._list(path.rsplit("/", 1)[1], query)
        if method == "GET" and path.startswith("/crm/v3/objects/companies/"):
            return self._get_company(path.rsplit("/", 1)[1], query)
        if method == "POST" and path == "/crm/v4/associations/deals/companies/batch/read":
            return self._associations(body or {})
        if path == "/crm/v3/properties/companies/groups":
            if method == "GET":
                return 200, {"results": list(self.groups.values())}, {}
            self.groups[body["name"]] = dict(body)
            return 201, dict(body), {}
        if path == "/crm/v3/properties/companies":
            if method == "GET":
                return 200, {"results": list(self.properties.values())}, {}
            if body["name"] in self.properties:
                return (
                    409,
                    {
                        "status": "error",
                        "category": "OBJECT_ALREADY_EXISTS",
                        "message": f"Property {body['name']} already exists",
                    },
                    {},
                )
            self.properties[body["name"]] = dict(body)
            return 201, dict(body), {}
        if method == "POST" and path == "/crm/v3/objects/companies/batch/update":
            return self._batch_update(body or {})
        if method == "POST" and path == "/crm/v3/objects/companies/batch/read":
            return self._batch_read(body or {})
        if method == "POST" and path == "/crm/v3/objects/tasks":
            return self._create_task(body or {})
        if method == "POST" and path == "/crm/v3/objects/notes":
            return self._create_note(body or {})
        return (
            404,
            {"status": "error", "message": f"no route {method} {path}", "category": "NOT_FOUND"},
            {},
        )

    def _create_task(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """``POST /crm/v3/objects/tasks``: ``hs_timestamp`` is required; associations must
        point at existing records (task -> company is association type 192)."""
        props = body.get("properties") or {}
        if not props.get("hs_timestamp"):
            return (
                400,
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "Property values were not valid: hs_timestamp is required",
                },
                {},
            )
        for assoc in body.get("associations") or []:
            target = str((assoc.get("to") or {}).get("id"))
            types = [t.get("associationTypeId") for t in assoc.get("types") or []]
            if 192 in types and target not in self.objects["companies"]:
                return (
                    400,
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": f"No company with id {target}",
                    },
                    {},
                )
        task_id = str(900000 + len(self.tasks) + 1)
        self.tasks[task_id] = dict(body)
        return (
            201,
            {
                "id": task_id,
                "properties": props,
                "archived": False,
                "createdAt": iso(datetime(2026, 11, 25, 12, 0)),
            },
            {},
        )

    def _create_note(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """``POST /crm/v3/objects/notes`` (https://developers.hubspot.com/docs/api/crm/notes):
        ``hs_timestamp`` is required, ``hs_note_body`` at most 65,536 characters, and a
        note -> company association (type 190) must name an existing company."""
        props = body.get("properties") or {}
        problem = None
        if not props.get("hs_timestamp"):
            problem = "Property values were not valid: hs_timestamp is required"
        elif len(props.get("hs_note_body") or "") > 65_536:
            problem = "Property values were not valid: hs_note_body is too long"
        for assoc in body.get("associations") or []:
            target = str((assoc.get("to") or {}).get("id"))
            types = [t.get("associationTypeId") for t in assoc.get("types") or []]
            if 190 in types and target not in self.objects["companies"]:
                problem = f"No company with id {target}"
        if problem:
            return 400, {"status": "error", "category": "VALIDATION_ERROR", "message": problem}, {}
        note_id = str(700000 + len(self.notes) + 1)
        self.notes[note_id] = dict(body)
        created = iso(datetime(2026, 11, 25, 12, 0))
        return (
            201,
            {"id": note_id, "properties": props, "archived": False, "createdAt": created,
             "updatedAt": created},
            {},
        )

    def _owners(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        limit = int(query.get("limit", 100))
        start = int(query.get("after", 0))
        page = self.owners[start : start + limit]
        out: dict[str, Any] = {"results": page}
        if start + limit < len(self.owners):
            out["paging"] = {"next": {"after": str(start + limit), "link": "?after="}}
        return 200, out, {}

    def _matches(self, record: dict[str, Any], flt: dict[str, Any]) -> bool:
        prop, op = flt["propertyName"], flt["operator"]
        value = record["properties"].get(prop)
        if value is None:
            return op == "NOT_HAS_PROPERTY"
        if prop in DATETIME_PROPS:
            have, want = _ms(value), _ms(flt["value"])
        else:
            have, want = value, flt.get("value")
        return {
            "GT": have > want,
            "GTE": have >= want,
            "LT": have < want,
            "LTE": have <= want,
            "EQ": have == want,
            "NEQ": have != want,
        }[op]

    def _list(self, kind: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        """``GET /crm/v3/objects/{kind}``: live records, or with ``archived=true`` the
        archived ones (with ``archivedAt``), paged on ``after``."""
        archived = query.get("archived", "").lower() == "true"  # the client sends "True"
        wanted = [p for p in query.get("properties", "").split(",") if p]
        rows = [r for r in self.objects[kind].values() if r["archived"] == archived]
        limit, start = int(query.get("limit", 10)), int(query.get("after", 0))
        page = [{**r, "properties": {p: r["properties"].get(p) for p in wanted}}
                for r in rows[start : start + limit]]
        out: dict[str, Any] = {"results": page}
        if start + limit < len(rows):
            out["paging"] = {"next": {"after": str(start + limit), "link": ""}}
        return 200, out, {}

    def _search(self, kind: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        groups = body.get("filterGroups") or []
        records = [
            r
            for r in self.objects[kind].values()
            if not r["archived"]  # the search never returns an archived record
            if not groups
            or any(all(self._matches(r, f) for f in g.get("filters") or []) for g in groups)
        ]
        for sort in reversed(body.get("sorts") or []):
            prop = sort["propertyName"]
            keyfn = (
                (lambda r, p=prop: _ms(r["properties"][p]))
                if prop in DATETIME_PROPS
                else (lambda r, p=prop: str(r["properties"].get(p) or ""))
            )
            records.sort(key=keyfn, reverse=sort.get("direction") == "DESCENDING")
        limit = int(body.get("limit") or 10)
        start = int(body.get("after") or 0)
        if start + limit > self.result_limit:
            return (
                400,
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": f"Search results are limited to {self.result_limit}",
                    "correlationId": "fake",
                },
                {},
            )
        page = records[start : start + limit]
        wanted = body.get("properties") or ["hs_object_id", MODIFIED[kind], "createdate"]
        results = [{**r, "properties": {p: r["properties"].get(p) for p in wanted}} for r in page]
        out: dict[str, Any] = {"total": len(records), "results": results}
        more = start + limit < len(records)
        if more or (self.trailing_empty_page and page):
            out["paging"] = {"next": {"after": str(start + limit), "link": ""}}
        return 200, out, {}

    def _get_company(
        self, company_id: str, query: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        """``GET /crm/v3/objects/companies/{id}``: the record; 404 ``OBJECT_NOT_FOUND`` for an
        unknown id. (HubSpot returns only the ``properties`` asked for; the client repeats
        that parameter, so the fake returns every stored property, a superset.)"""
        del query
        record = self.objects["companies"].get(company_id)
        if record is None:
            return (
                404,
                {
                    "status": "error",
                    "message": "resource not found",
                    "category": "OBJECT_NOT_FOUND",
                },
                {},
            )
        return 200, {**record, "properties": dict(record["properties"])}, {}

    def _associations(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """v4 batch read deals -> companies, in the documented shape
        (https://developers.hubspot.com/docs/api-reference/legacy/crm/associations/associate-records/batch/get-associations)."""
        inputs = body.get("inputs") or []
        if len(inputs) > ASSOCIATION_BATCH_LIMIT:
            return (
                400,
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": f"Batch read is limited to {ASSOCIATION_BATCH_LIMIT} inputs",
                    "correlationId": "fake",
                },
                {},
            )
        results = []
        for item in inputs:
            deal = str(item["id"])
            linked = self.deal_companies.get(deal) or []
            targets = sorted(linked, key=int)  # listed by id, the primary wherever it falls
            start = int(item.get("after") or 0)
            page = targets[start : start + self.association_page_size]
            if not page:
                continue
            result: dict[str, Any] = {
                "from": {"id": deal},
                "to": [
                    {
                        "toObjectId": int(company),
                        "associationTypes": [_deal_company_type(company == linked[0])],
                    }
                    for company in page
                ],
            }
            if start + self.association_page_size < len(targets):
                after = str(start + self.association_page_size)
                result["paging"] = {"next": {"after": after, "link": None}}
            results.append(result)
        now = iso(datetime(2026, 11, 25, 0, 0))
        return (
            200,
            {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now},
            {},
        )

    def _batch_read(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """Companies by id with the ``properties`` asked for that the portal defines (every
        value a string, as HubSpot returns them; a property asked for that does not exist
        is left out); ids that do not exist are named in a 207's ``errors``."""
        inputs = body.get("inputs") or []
        if len(inputs) > BATCH_MAX:
            return too_many_inputs()
        wanted = [p for p in body.get("properties") or [] if p in self.properties]
        results, missing = [], []
        for item in inputs:
            record = self.objects["companies"].get(str(item["id"]))
            if record is None:
                missing.append(str(item["id"]))
                continue
            props = record["properties"]
            results.append(
                {
                    "id": record["id"],
                    "properties": {
                        p: None if props.get(p) is None else str(props[p]) for p in wanted
                    },
                    "createdAt": record["createdAt"],
                    "updatedAt": record["updatedAt"],
                    "archived": False,
                }
            )
        now = iso(datetime(2026, 11, 25, 12, 0))
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        if not missing:
            return 200, out, {}
        out["numErrors"] = 1
        out["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some COMPANY objects, they may be deleted or not exist.",
                "context": {"ids": missing},
            }
        ]
        return 207, out, {}

    def _batch_update(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        inputs = body.get("inputs") or []
        if len(inputs) > BATCH_MAX:
            return too_many_inputs()
        unknown = sorted(
            {p for i in inputs for p in i.get("properties") or {} if p not in self.properties}
        )
        if unknown:
            return (
                400,
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": f"Property values were not valid: {unknown}",
                },
                {},
            )
        results, missing = [], []
        now = iso(datetime(2026, 11, 25, 12, 0))
        for item in inputs:
            record = self.objects["companies"].get(str(item["id"]))
            if record is None:
                missing.append(str(item["id"]))
                continue
            record["properties"].update(item.get("properties") or {})
            results.append(
                {
                    "id": record["id"],
                    "properties": dict(record["properties"]),
                    "createdAt": record["createdAt"],
                    "updatedAt": now,
                    "archived": False,
                }
            )
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        if missing:
            out["numErrors"] = 1
            out["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some COMPANY objects, they may be "
                    "deleted or not exist.",
                    "context": {"ids": missing},
                }
            ]
            return 207, out, {}
        return 200, out, {}
