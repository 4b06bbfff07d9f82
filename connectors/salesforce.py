"""Salesforce: owners, accounts, contacts and opportunities in; health values back out.

Reading uses SOQL through the REST Query resource: the first page comes from ``query`` and
every further page from ``query_more`` following ``nextRecordsUrl`` until ``done`` is true
(https://developer.salesforce.com/docs/platform/api-rest/guide/resources-query.md,
https://developer.salesforce.com/docs/platform/api-rest/guide/dome-query.md). Each page is
its own API call wrapped in the shared retry policy, so a throttled page 7 does not restart
the query at page 1.

Each object is pulled incrementally on ``SystemModstamp > cursor``. The stored cursor is
one string per source, so it is a compact JSON object with one timestamp per object
(``{"User": "...", "Account": "...", ...}``); a run that dies between objects resumes each
object from its own point, without gaps or duplicates.

Credentials come only from the environment: ``SALESFORCE_INSTANCE_URL`` and
``SALESFORCE_ACCESS_TOKEN``, or ``SALESFORCE_USERNAME`` / ``SALESFORCE_PASSWORD`` /
``SALESFORCE_SECURITY_TOKEN`` (optionally ``SALESFORCE_DOMAIN``, ``login`` or ``test``).
A session that expires mid-run answers 401 ``INVALID_SESSION_ID``; with a username and
password Pulse logs in again once and repeats the call, with a bare access token it stops
with a "token expired" error
(https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_error_handling_session_exp.htm).
429 and 5xx are retried by
:mod:`connectors.retry`; 403 ``REQUEST_LIMIT_EXCEEDED`` (the org's API request limit,
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm)
is retried only for the transient concurrent-request limit.

Writing back uses sObject Collections ``PATCH /composite/sobjects`` with ``allOrNone``
false, 200 records a request, so a deleted record or a validation rule fails only its own
record
(https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-update.html).
Field lengths and types come from the sObject Describe resource
(https://developer.salesforce.com/docs/platform/api-rest/guide/dome-sobject-describe.md).
Above ``bulk_threshold`` records one Bulk API 2.0 ingest job (``update``, CSV) is used
instead, and its ``failedResults`` give the per-record errors
(https://developer.salesforce.com/docs/platform/api-asynch/guide/bulk-api-2-0-ingest.html).
The client is simple-salesforce built from ``instance_url`` and ``session_id``
(https://pypi.org/project/simple-salesforce/).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import urlparse

import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from sqlalchemy.orm import Session

from connectors.base import Connector, register
from connectors.retry import Retry, call_with_retries, parse_retry_after, retry_for_status
from connectors.writeback import (
    WritebackItem,
    WritebackReport,
    pending_writeback,
    record_outcomes,
)
from pulse.kernel.config import PulseConfig, SalesforceSourceConfig
from pulse.kernel.records import Batch, Entity, Rejection
from storage.models import Account

log = logging.getLogger("pulse.connectors.salesforce")
T = TypeVar("T")

SYSTEM = "salesforce"
COLLECTION_SIZE = 200  # sObject Collections accept up to 200 records a request
DEFAULT_REASONS_LENGTH = 255

WRITEBACK_FIELDS: dict[str, str] = {
    "score": "Health_Score__c",
    "tier": "Health_Tier__c",
    "reasons": "Health_Reasons__c",
    "expansion_score": "Expansion_Score__c",
    "renewal_risk": "Renewal_Risk__c",
    "updated": "Health_Updated__c",
}
"""Pulse health value -> Salesforce Account field it is written to."""

EXPECTED_TYPES: dict[str, tuple[str, ...]] = {
    "Health_Score__c": ("double", "int", "percent"),
    "Health_Tier__c": ("picklist", "string"),
    "Health_Reasons__c": ("textarea", "string"),
    "Expansion_Score__c": ("double", "int", "percent"),
    "Renewal_Risk__c": ("picklist", "string"),
    "Health_Updated__c": ("datetime",),
}
"""Describe ``type`` values each writeback field may have (first one is the suggestion)."""


class SalesforceConfigError(Exception):
    """Missing credentials or an org that lacks what Pulse needs, worded for the admin."""


class SalesforceTokenExpired(Exception):
    """The access token expired and Pulse has no username/password to log in again."""


# --- credentials and client -------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """What the environment provides: an access token, or a username/password login."""

    instance_url: str | None = None
    access_token: str | None = None
    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    domain: str = "login"

    @property
    def can_login(self) -> bool:
        return bool(self.username and self.password is not None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Credentials:
        """Read the SALESFORCE_* variables; a missing one raises an error naming it."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        token, user = get("SALESFORCE_ACCESS_TOKEN"), get("SALESFORCE_USERNAME")
        domain = get("SALESFORCE_DOMAIN") or "login"
        if token:
            url = get("SALESFORCE_INSTANCE_URL")
            if not url:
                raise SalesforceConfigError(
                    "SALESFORCE_INSTANCE_URL is not set (it goes with SALESFORCE_ACCESS_TOKEN, "
                    "e.g. https://yourcompany.my.salesforce.com)"
                )
            return cls(instance_url=url, access_token=token, domain=domain)
        if user:
            for name in ("SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN"):
                if name not in env:
                    raise SalesforceConfigError(
                        f"{name} is not set (it goes with SALESFORCE_USERNAME)"
                    )
            return cls(
                instance_url=get("SALESFORCE_INSTANCE_URL"),
                username=user,
                password=env["SALESFORCE_PASSWORD"],
                security_token=env["SALESFORCE_SECURITY_TOKEN"],
                domain=domain,
            )
        if get("SALESFORCE_INSTANCE_URL"):
            raise SalesforceConfigError(
                "SALESFORCE_ACCESS_TOKEN is not set (or set SALESFORCE_USERNAME, "
                "SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN to log in)"
            )
        raise SalesforceConfigError(
            "SALESFORCE_INSTANCE_URL and SALESFORCE_ACCESS_TOKEN are not set (or set "
            "SALESFORCE_USERNAME, SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN)"
        )


def _error_code(exc: SalesforceError) -> tuple[str | None, str]:
    """The ``errorCode`` and ``message`` of a REST error body (a list of error objects)."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode"), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return content.get("errorCode"), str(content.get("message", ""))
    return None, str(content or "")


def classify_salesforce(exc: BaseException, retry_after: str | None = None) -> Retry | None:
    """Retry decision for a simple-salesforce / requests failure (see :mod:`connectors.retry`).

    429 and 5xx retry (honouring ``Retry-After``); 403 ``REQUEST_LIMIT_EXCEEDED`` retries
    only when it is the concurrent-request limit, because the daily total does not reset
    within a run; connection errors and timeouts retry; everything else (400, 401, 404,
    and 403 permission errors) does not.
    """
    if isinstance(exc, SalesforceExpiredSession):
        return None  # handled once, by logging in again, in SalesforceClient.call
    if isinstance(exc, SalesforceError):
        status = getattr(exc, "status", None)
        if status == 403:
            code, message = _error_code(exc)
            if code == "REQUEST_LIMIT_EXCEEDED" and "concurrent" in message.lower():
                return Retry("403 concurrent request limit", parse_retry_after(retry_after))
            return None
        return retry_for_status(status, retry_after)
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return Retry(f"network error ({type(exc).__name__})")
    return None


class SalesforceClient:
    """A simple-salesforce connection with the shared retries and one re-login on expiry.

    Every API call goes through :meth:`call`, the one place that retries (via
    :func:`connectors.retry.call_with_retries`) and handles an expired session.
    """

    def __init__(
        self,
        api_version: str = "59.0",
        *,
        credentials: Credentials | None = None,
        sf: Salesforce | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_version = api_version
        self.credentials = credentials
        self.sleep = sleep
        self.http = requests.Session()
        self.http.hooks["response"].append(self._remember_headers)
        self._retry_after: str | None = None
        if sf is not None:
            self._sf: Salesforce | None = sf
            sf.session.hooks["response"].append(self._remember_headers)
        else:
            self._sf = None

    @classmethod
    def from_env(
        cls,
        api_version: str = "59.0",
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> SalesforceClient:
        return cls(api_version, credentials=Credentials.from_env(env), sleep=sleep)

    def _remember_headers(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # simple-salesforce exceptions carry status and body but not headers: keep the
        # last response's Retry-After so the classifier can honour it.
        self._retry_after = response.headers.get("Retry-After")

    def _classify(self, exc: BaseException) -> Retry | None:
        return classify_salesforce(exc, self._retry_after)

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            self._connect()
        assert self._sf is not None
        return self._sf

    def _connect(self) -> None:
        creds = self.credentials
        if creds is None:
            raise SalesforceConfigError("no Salesforce credentials")
        if creds.access_token:
            self._sf = Salesforce(
                instance_url=creds.instance_url,
                session_id=creds.access_token,
                version=self.api_version,
                session=self.http,
            )
            return
        session_id, instance = call_with_retries(
            lambda: SalesforceLogin(
                username=creds.username,
                password=creds.password,
                security_token=creds.security_token,
                domain=creds.domain,
                sf_version=self.api_version,
                session=self.http,
            ),
            self._classify,
            what="Salesforce login",
            sleep=self.sleep,
        )
        self._sf = Salesforce(
            instance=instance, session_id=session_id, version=self.api_version, session=self.http
        )

    def call(self, fn: Callable[[Salesforce], T], *, what: str) -> T:
        """Run one API call with retries; on an expired session log in again once."""
        try:
            return call_with_retries(
                lambda: fn(self.sf), self._classify, what=what, sleep=self.sleep
            )
        except SalesforceExpiredSession as exc:
            if self.credentials is None or not self.credentials.can_login:
                raise SalesforceTokenExpired(
                    "Salesforce access token expired or invalid (401 INVALID_SESSION_ID) "
                    f"during {what}: set a fresh SALESFORCE_ACCESS_TOKEN, or set "
                    "SALESFORCE_USERNAME, SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN "
                    "so Pulse can log in again"
                ) from exc
            log.warning("%s: Salesforce session expired; logging in again", what)
            self._sf = None
            self._connect()
            return call_with_retries(
                lambda: fn(self.sf), self._classify, what=what, sleep=self.sleep
            )

    def query_pages(self, soql: str, *, what: str) -> Iterator[list[dict[str, Any]]]:
        """Yield the records of ``soql`` page by page, following ``nextRecordsUrl``."""
        page = self.call(lambda sf: sf.query(soql), what=what)
        n = 1
        while True:
            yield [_strip(r) for r in page.get("records", [])]
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            next_url = page["nextRecordsUrl"]
            n += 1
            page = self.call(
                lambda sf, u=next_url: sf.query_more(u, identifier_is_url=True),
                what=f"{what} (page {n})",
            )

    def describe(self, sobject: str) -> dict[str, Any]:
        return self.call(lambda sf: getattr(sf, sobject).describe(), what=f"describe {sobject}")

    def fields(self, sobject: str) -> dict[str, dict[str, Any]]:
        """Field name -> describe entry of ``sobject`` (fields visible to this user)."""
        return {f["name"]: f for f in self.describe(sobject).get("fields", [])}


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "attributes"}


def _as_client(sf: Salesforce | SalesforceClient | None, api_version: str) -> SalesforceClient:
    if isinstance(sf, SalesforceClient):
        return sf
    if sf is None:
        return SalesforceClient.from_env(api_version)
    return SalesforceClient(api_version, sf=sf)


def _source_config(config: PulseConfig | SalesforceSourceConfig) -> SalesforceSourceConfig:
    if isinstance(config, SalesforceSourceConfig):
        return config
    return config.sources.salesforce or SalesforceSourceConfig()


# --- values -----------------------------------------------------------------------------


def parse_timestamp(value: str) -> datetime:
    """A Salesforce dateTime (``2026-11-25T06:00:00.000+0000``) as naive UTC."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def format_timestamp(value: datetime) -> str:
    """A SOQL dateTime literal, UTC with milliseconds: ``2026-11-25T06:00:00.000Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def domain_of(website: str | None) -> str | None:
    """``https://www.Acme.com/about`` -> ``acme.com``."""
    if not website or not website.strip():
        return None
    text = website.strip()
    host = urlparse(text if "//" in text else "//" + text).hostname or ""
    host = host.lower().removeprefix("www.")
    return host or None


def opportunity_kind(kind: str | None) -> str:
    """Opportunity ``Type`` picklist -> renewal | expansion | new | other."""
    text = (kind or "").lower()
    if "renew" in text:
        return "renewal"
    if any(w in text for w in ("upgrade", "upsell", "expansion", "expand", "cross", "add-on")):
        return "expansion"
    if "new" in text:
        return "new"
    return "other"


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _account_value(column: str, value: Any) -> Any:
    """Convert a mapped Salesforce value to the Account column's Python type."""
    if value is None or value == "":
        return None
    python_type = Account.__table__.c[column].type.python_type
    if python_type is date:
        return _date(value)
    if python_type is float:
        return float(value)
    if python_type is int:
        return int(float(value))
    if python_type is bool:
        return bool(value)
    return str(value)


# --- pull -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Object:
    sobject: str
    entity: Entity
    fields: tuple[str, ...]
    where: str = ""


OBJECTS: tuple[_Object, ...] = (
    # Standard users only (no portal, Chatter or automated users). IsActive is read but not
    # used to drop anyone: a deactivated user may still own accounts.
    _Object(
        "User", "owners", ("Id", "Name", "Email", "ManagerId", "IsActive"), "UserType = 'Standard'"
    ),
    _Object("Account", "accounts", ("Id", "Name", "Website", "OwnerId")),
    _Object(
        "Contact",
        "contacts",
        ("Id", "AccountId", "Email", "Name", "Title", "Department", "LastActivityDate"),
        "AccountId != null",
    ),
    _Object(
        "Opportunity",
        "opportunities",
        (
            "Id",
            "AccountId",
            "OwnerId",
            "Name",
            "Type",
            "StageName",
            "Amount",
            "CloseDate",
            "IsClosed",
            "IsWon",
        ),
        "AccountId != null",
    ),
)


def parse_cursor(cursor: str | None) -> dict[str, str]:
    """The per-object cursor; a plain timestamp (older format) applies to every object."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {o.sobject: cursor for o in OBJECTS}
    if isinstance(data, dict):
        return {str(k): str(v) for k, v in data.items() if v}
    return {}


def dump_cursor(cursors: dict[str, str]) -> str:
    ordered = {o.sobject: cursors[o.sobject] for o in OBJECTS if o.sobject in cursors}
    return json.dumps(ordered, separators=(",", ":"))


def build_soql(obj: _Object, fields: list[str], since: str | None) -> str:
    conditions = [obj.where] if obj.where else []
    if since:
        conditions.append(f"SystemModstamp > {format_timestamp(parse_timestamp(since))}")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    columns = ", ".join(dict.fromkeys([*fields, "SystemModstamp"]))
    return f"SELECT {columns} FROM {obj.sobject}{where} ORDER BY SystemModstamp ASC"


@register
class SalesforceConnector(Connector):
    """Users, Accounts, Contacts and Opportunities from Salesforce, incrementally."""

    name = "salesforce"

    def __init__(
        self,
        config: PulseConfig,
        *,
        client: SalesforceClient | None = None,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(config)
        self.settings = _source_config(config)
        self._client = client
        self._env = env
        self._sleep = sleep

    @property
    def client(self) -> SalesforceClient:
        if self._client is None:
            self._client = SalesforceClient.from_env(
                self.settings.api_version, self._env, sleep=self._sleep
            )
        return self._client

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        self.warnings = []
        cursors = {} if full else parse_cursor(cursor)
        for obj in OBJECTS:
            fields = list(obj.fields)
            rejected: list[Rejection] = []
            mapping: dict[str, str] = {}
            if obj.sobject == "Account":
                mapping, rejected = self._account_mapping()
                fields += [f for f in mapping.values() if f not in fields]
            soql = build_soql(obj, fields, cursors.get(obj.sobject))
            records: list[dict[str, Any]] = []
            newest = cursors.get(obj.sobject)
            newest_at = parse_timestamp(newest) if newest else None
            for page in self.client.query_pages(soql, what=f"Salesforce {obj.sobject} query"):
                for raw in page:
                    stamp = raw.get("SystemModstamp")
                    if stamp:
                        at = parse_timestamp(stamp)
                        if newest_at is None or at > newest_at:
                            newest_at = at
                    records.append(self._convert(obj.entity, raw, mapping))
            if newest_at is not None:
                cursors[obj.sobject] = format_timestamp(newest_at)
            yield Batch(obj.entity, records, cursor=dump_cursor(cursors), rejected=rejected)

    def _account_mapping(self) -> tuple[dict[str, str], list[Rejection]]:
        """The configured account_fields that exist in the org; a Rejection per missing one."""
        wanted = dict(self.settings.account_fields)
        if not wanted:
            return {}, []
        present = self.client.fields("Account")
        mapping: dict[str, str] = {}
        rejected: list[Rejection] = []
        for column, field_name in wanted.items():
            if field_name in present:
                mapping[column] = field_name
                continue
            reason = (
                f"Account field '{field_name}' (mapped to {column}) does not exist in the org "
                f"or is not visible to this user; {column} not loaded, the rest still loads"
            )
            self.warnings.append(reason)
            rejected.append(Rejection(f"Account field {field_name}", reason))
        return mapping, rejected

    @staticmethod
    def _convert(entity: str, r: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
        where = f"{r.get('Id')}"
        if entity == "owners":
            return {
                "external_id": r["Id"],
                "name": r.get("Name") or r["Id"],
                "email": r.get("Email"),
                "crm_owner_id": r["Id"],
                "manager_external_id": r.get("ManagerId"),
                "_where": f"User {where}",
            }
        if entity == "accounts":
            record: dict[str, Any] = {
                "external_id": r["Id"],
                "name": r.get("Name") or r["Id"],
                "domain": domain_of(r.get("Website")),
                "salesforce_id": r["Id"],
                "owner_external_id": r.get("OwnerId"),
                "_where": f"Account {where}",
            }
            columns = set(Account.__table__.c.keys())
            custom: dict[str, Any] = {}
            for column, field_name in mapping.items():
                if column in columns and column not in {"id", "custom", "source"}:
                    record[column] = _account_value(column, r.get(field_name))
                else:
                    custom[column] = r.get(field_name)
            if custom:
                record["custom"] = custom
            return record
        if entity == "contacts":
            last = _date(r.get("LastActivityDate"))
            return {
                "external_id": r["Id"],
                "account_external_id": r.get("AccountId"),
                "email": r.get("Email"),
                "name": r.get("Name"),
                "department": r.get("Department") or r.get("Title"),
                "last_seen_at": datetime(last.year, last.month, last.day) if last else None,
                "_where": f"Contact {where}",
            }
        return {
            "external_id": r["Id"],
            "account_external_id": r.get("AccountId"),
            "owner_external_id": r.get("OwnerId"),
            "name": r.get("Name"),
            "kind": opportunity_kind(r.get("Type")),
            "stage": r.get("StageName"),
            "amount": float(r["Amount"]) if r.get("Amount") is not None else None,
            "close_date": _date(r.get("CloseDate")),
            "is_closed": bool(r.get("IsClosed")),
            "is_won": bool(r.get("IsWon")),
            "_where": f"Opportunity {where}",
        }


# --- field check and writeback ------------------------------------------------------------


@dataclass(frozen=True)
class FieldCheck:
    """One Account field Pulse reads or writes, as the org describes it."""

    name: str
    present: bool
    type: str | None
    length: int | None
    expected_type: str
    problem: str | None = None


def check_fields(sf: Salesforce | SalesforceClient | None, config: PulseConfig) -> list[FieldCheck]:
    """The writeback fields, then the mapped account fields: present, type, length."""
    settings = _source_config(config)
    client = _as_client(sf, settings.api_version)
    present = client.fields("Account")
    checks: list[FieldCheck] = []
    wanted = [(name, EXPECTED_TYPES[name]) for name in WRITEBACK_FIELDS.values()]
    wanted += [(name, ()) for name in settings.account_fields.values()]
    seen: set[str] = set()
    for name, expected in wanted:
        if name in seen:
            continue
        seen.add(name)
        expected_label = " or ".join(expected) if expected else "any"
        field = present.get(name)
        if field is None:
            create = f"create it as {expected[0]}" if expected else "fix account_fields"
            problem = f"missing on Account ({create})"
            checks.append(FieldCheck(name, False, None, None, expected_label, problem))
            continue
        kind, length = field.get("type"), field.get("length") or None
        problem = None
        if expected and kind not in expected:
            problem = f"type is {kind}, expected {expected_label}"
        elif name in WRITEBACK_FIELDS.values() and not field.get("updateable", True):
            problem = "not updateable by this user (field-level security)"
        checks.append(FieldCheck(name, True, kind, length, expected_label, problem))
    return checks


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


def write_back(
    session: Session,
    config: PulseConfig,
    sf: Salesforce | SalesforceClient | None = None,
    now: datetime | None = None,
    *,
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
    settings = _source_config(config)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    items, report = pending_writeback(
        session, SYSTEM, DEFAULT_REASONS_LENGTH, account_ids=account_ids
    )
    if not settings.writeback or not items:
        return report
    client = _as_client(sf, settings.api_version)
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
        outcomes = _bulk_update(client, items, report)
        record_outcomes(session, SYSTEM, outcomes, now, report)
        return report
    for start in range(0, len(items), COLLECTION_SIZE):
        chunk = items[start : start + COLLECTION_SIZE]
        body = {"allOrNone": False, "records": [_collection_record(i) for i in chunk]}
        report.requests += 1
        try:
            results = client.call(
                lambda sf, b=body: sf.restful("composite/sobjects", method="PATCH", json=b),
                what=f"Salesforce writeback ({start + 1}-{start + len(chunk)})",
            )
        except SalesforceError as exc:
            if isinstance(exc, SalesforceExpiredSession):
                raise
            code, message = _error_code(exc)
            error = f"{code or exc.status}: {message}".strip()
            outcomes = [(item, error) for item in chunk]
        else:
            results = list(results or [])
            outcomes = [
                (item, _result_error(results[n]) if n < len(results) else "no result returned")
                for n, item in enumerate(chunk)
            ]
        record_outcomes(session, SYSTEM, outcomes, now, report)
    return report


BULK_DONE_STATES = {"JobComplete", "Failed", "Aborted"}
BULK_POLL_SECONDS = (1.0, 2.0, 5.0, 10.0)
BULK_MAX_WAIT = 1800.0


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


def _bulk_update(
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


# --- tasks for playbooks -----------------------------------------------------------------


def create_task(
    config: PulseConfig | SalesforceSourceConfig,
    *,
    subject: str,
    description: str,
    due: date,
    owner_id: str | None,
    account_id: str | None,
    sf: Salesforce | SalesforceClient | None = None,
) -> str:
    """Create a Task (``POST /sobjects/Task/``) for the account's owner; returns its id.

    ``OwnerId`` is the CRM user the task is assigned to (the account owner's Salesforce
    user id), ``WhatId`` the Account it is about. Retries and an expired session are
    handled by :class:`SalesforceClient` like every other call.
    """
    settings = _source_config(config)
    client = _as_client(sf, settings.api_version)
    body: dict[str, Any] = {
        "Subject": subject[:255],
        "Description": description[:32000],
        "ActivityDate": due.isoformat(),
        "Status": "Not Started",
        "Priority": "High",
    }
    if owner_id:
        body["OwnerId"] = owner_id
    if account_id:
        body["WhatId"] = account_id
    result = client.call(lambda s: s.Task.create(body), what="create Salesforce Task")
    return str(result["id"])
