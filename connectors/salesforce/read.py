"""Reading Salesforce: owners, accounts, contacts and opportunities, incrementally.

Reading uses SOQL through the REST Query resource, page by page
(:meth:`~connectors.salesforce.client.SalesforceClient.query_pages`).

Each object is pulled incrementally on ``SystemModstamp >= cursor``. ``>=`` rather than
``>``: ``SystemModstamp`` has one-second resolution, so a record saved in the same second
as the last one synced, after that sync read it, would never be fetched with ``>``. The
records of the boundary second are read again and upserted as *unchanged* (storage keys
them on ``(source, external_id)``), never duplicated. The stored cursor is one string per
source, so it is a compact JSON object with one timestamp per object
(``{"User": "...", "Account": "...", ...}``); a run that dies between objects resumes each
object from its own point, without gaps or duplicates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlparse

from connectors.base import Connector, register
from connectors.salesforce.client import SalesforceClient, source_config
from pulse.kernel.config import PulseConfig
from pulse.kernel.records import Batch, Entity, Rejection
from storage.models import Account

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


def _deleted_at(record: dict[str, Any]) -> datetime | None:
    """When a record read through QueryAll was deleted (its last ``SystemModstamp``), None
    for a live one: a record restored from the recycle bin comes back alive."""
    if not record.get("IsDeleted"):
        return None
    return parse_timestamp(record["SystemModstamp"])  # every query selects it


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
    include_deleted: bool = False
    """Read through QueryAll: deleted (and merged-away) records come too, ``IsDeleted``
    true, with the deletion's ``SystemModstamp``, so the cursor sees them."""


OBJECTS: tuple[_Object, ...] = (
    # Standard users only (no portal, Chatter or automated users). IsActive is read but not
    # used to drop anyone: a deactivated user may still own accounts.
    _Object(
        "User", "owners", ("Id", "Name", "Email", "ManagerId", "IsActive"), "UserType = 'Standard'"
    ),
    # Deleted and merged accounts are read too (QueryAll): they stop being scored, alerted
    # and written back (https://developer.salesforce.com/docs/platform/api-rest/guide/
    # dome-queryall.html; a merge deletes the losing records, MasterRecordId naming the
    # survivor). Records emptied from the recycle bin are no longer returned.
    _Object("Account", "accounts",
            ("Id", "Name", "Website", "OwnerId", "IsDeleted", "MasterRecordId"),
            include_deleted=True),
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
            "IsDeleted",
        ),
        "AccountId != null",
        include_deleted=True,  # a deleted opportunity stops counting in forecasts and ARR
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
        conditions.append(f"SystemModstamp >= {format_timestamp(parse_timestamp(since))}")
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
        self.settings = source_config(config)
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
        cursors = parse_cursor(cursor)  # a full pull keeps the objects it has not reached
        for obj in OBJECTS:
            fields = list(obj.fields)
            rejected: list[Rejection] = []
            mapping: dict[str, str] = {}
            if obj.sobject == "Account":
                mapping, rejected = self._account_mapping()
                fields += [f for f in mapping.values() if f not in fields]
            since = None if full else cursors.get(obj.sobject)
            soql = build_soql(obj, fields, since)
            records: list[dict[str, Any]] = []
            newest = since
            newest_at = parse_timestamp(newest) if newest else None
            pages = 0
            for page in self.client.query_pages(soql, what=f"Salesforce {obj.sobject} query",
                                                include_deleted=obj.include_deleted):
                pages += 1
                for raw in page:
                    stamp = raw.get("SystemModstamp")
                    if stamp:
                        at = parse_timestamp(stamp)
                        if newest_at is None or at > newest_at:
                            newest_at = at
                    records.append(self._convert(obj.entity, raw, mapping))
            if newest_at is not None:
                cursors[obj.sobject] = format_timestamp(newest_at)
            yield Batch(obj.entity, records, cursor=dump_cursor(cursors), rejected=rejected,
                        pages=pages)

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
                "deleted_at": _deleted_at(r),
                "merged_into": r.get("MasterRecordId") if r.get("IsDeleted") else None,
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
            "deleted_at": _deleted_at(r),
            "_where": f"Opportunity {where}",
        }
