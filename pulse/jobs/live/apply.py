"""Bring one event's record into storage the way a sync does, and find its Pulse account.

Records go through the connectors' own mapping functions and ``storage.loader.
load_batch`` (an upsert on ``(source, external_id)``), so a webhook and the next sync
agree to the column and applying an event twice changes nothing:

* Stripe ``invoice.*`` -> :func:`connectors.stripe_billing.map_invoice`,
  ``customer.subscription.*`` -> :func:`~connectors.stripe_billing.map_subscription`.
* Zendesk ``zen:event-type:ticket.*`` -> :func:`connectors.zendesk.map_ticket` on the
  event's ``detail`` (the ticket's fields,
  https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events); a
  ticket deleted or marked as spam is stored ``deleted`` (:data:`ZENDESK_DELETING_EVENTS`).

Stripe customers and Zendesk organisations are *linked-only* accounts: their records
reach the customer's CRM account through identity resolution. When the event's customer
or organisation is not stored yet (it arrived before the next sync), a minimal account
is created from what the event carries (the id; Stripe's ``customer_name`` and
``customer_email`` on invoices) so the record is not rejected; an existing one is left
as the sync stored it. The worker then runs :func:`pulse.services.identity.resolve_identities`
once per batch of events and reads the record's account after linking.

HubSpot and Salesforce record-change events are not refetched: the event names the
company / Account (HubSpot ``objectId`` of ``company.*`` events; the Outbound Message's
``sObject`` ``Id`` for an Account, or its ``AccountId`` for a related object), and that
account is rescored from what is stored. Their field changes reach storage with the next
sync (docs/live.md says so).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from connectors.stripe_billing import email_domain, map_invoice, map_subscription
from connectors.zendesk import map_ticket
from pulse.jobs.live.inbox import Claimed
from pulse.kernel.clock import from_epoch_ms
from pulse.kernel.config import PulseConfig
from pulse.kernel.records import Batch, Entity
from storage.loader import load_batch
from storage.models import (
    DELETED_TICKET_STATUS,
    LINKED_ONLY_SOURCES,
    Account,
    Base,
    Invoice,
    Subscription,
    Ticket,
)

log = logging.getLogger("pulse.jobs.live")

ENTITY_MODEL: dict[str, type[Base]] = {
    "invoices": Invoice,
    "subscriptions": Subscription,
    "tickets": Ticket,
}


ZENDESK_DELETING_EVENTS = frozenset({
    "zen:event-type:ticket.soft_deleted",
    "zen:event-type:ticket.permanently_deleted",
    "zen:event-type:ticket.marked_as_spam",
})
"""Zendesk ticket events after which the ticket counts nowhere (stored ``deleted``, as
the incremental export brings deleted tickets); ``ticket.undeleted`` brings its status
back."""


class ApplyError(Exception):
    """The event's record could not be stored (the loader rejected it)."""


@dataclass
class Applied:
    """What one event did: records stored (looked up after linking) or accounts named."""

    status: str = "done"  # done | ignored
    note: str | None = None
    records: list[tuple[str, str, str]] = field(default_factory=list)  # (entity, source, ext)
    accounts: set[int] = field(default_factory=set)


def apply_event(session: Session, event: Claimed, config: PulseConfig | None = None) -> Applied:
    """Store the event's record or name its account; the caller commits.

    With ``config`` naming HubSpot as a synced source, a company event fetches the
    company first, so the rescoring sees the changed fields (not only the next sync).
    """
    if event.source == "hubspot" and config is not None and _syncs_hubspot(config):
        refreshed = _hubspot_refetch(session, config, event.kind, event.payload)
        if refreshed is not None:
            return refreshed
    if event.source == "salesforce" and config is not None and event.kind == "Account":
        stored = _salesforce_account_fields(session, config, event.payload)
        if stored is not None:
            return stored
    handler = {
        "stripe": _stripe,
        "zendesk": _zendesk,
        "hubspot": _hubspot,
        "salesforce": _salesforce,
    }[event.source]
    return handler(session, event.kind, event.payload)


def _salesforce_account_fields(
    session: Session, config: PulseConfig, payload: dict[str, Any]
) -> Applied | None:
    """Store the Account fields an Outbound Message carries (the admin picks which), as
    the sync maps them; fields the message does not carry are left as stored.

    Only for an Account Pulse already holds from a Salesforce sync (a new one comes with
    the next sync, complete). None when not applicable: the caller then rescores from
    what is stored.
    """
    from connectors.salesforce import SalesforceConnector

    settings = config.sources.salesforce
    fields = {k: v for k, v in (payload.get("fields") or {}).items() if v != ""}
    record_id = fields.get("Id")
    if settings is None or not getattr(settings, "sync", True) or not record_id:
        return None
    stored = session.scalars(
        select(Account).where(Account.source == "salesforce", Account.external_id == record_id)
    ).first()
    if stored is None:
        return None
    mapping = {c: f for c, f in settings.account_fields.items() if f in fields}
    converted = SalesforceConnector._convert("accounts", fields, mapping)
    carried = {"name": "Name", "domain": "Website", "owner_external_id": "OwnerId"}
    record = {k: v for k, v in converted.items() if k not in carried or carried[k] in fields}
    record.pop("_where", None)
    if "owner_external_id" not in record:
        # The loader treats an absent owner as "no owner": keep the stored one.
        record["owner_external_id"] = stored.owner.external_id if stored.owner else None
    return _load(session, "salesforce", "accounts", record)


def _syncs_hubspot(config: PulseConfig) -> bool:
    hubspot = config.sources.hubspot
    return hubspot is not None and getattr(hubspot, "sync", True)


def _hubspot_refetch(
    session: Session, config: PulseConfig, kind: str, payload: dict[str, Any]
) -> Applied | None:
    """Fetch and store the company a ``company.*`` event names; None when not applicable."""
    from connectors.hubspot import HubSpotConnector

    company = str(payload.get("objectId") or "").strip()
    if not kind.startswith("company.") or not company or kind == "company.deletion":
        return None
    record = HubSpotConnector(config).fetch_company(company)
    return _load(session, "hubspot", "accounts", record)


def _load(session: Session, source: str, entity: Entity, record: dict[str, Any]) -> Applied:
    result = load_batch(session, source, Batch(entity, [record]))
    refused = [r for r in result.skipped if not r.imported]
    if refused:
        raise ApplyError("; ".join(f"{r.where}: {r.reason}" for r in refused))
    for stored in result.skipped:  # stored, only a reference it names is not known (yet)
        log.info("webhook %s %s: %s", source, stored.where, stored.reason)
    return Applied(records=[(entity, source, str(record["external_id"]))])


def ensure_linked_account(session: Session, source: str, record: dict[str, Any]) -> None:
    """Create the Stripe customer / Zendesk organisation account if none is stored."""
    found = session.scalar(
        select(Account.id).where(
            Account.source == source, Account.external_id == record["external_id"]
        )
    )
    if found is None:
        _load(session, source, "accounts", record)


def _stripe(session: Session, kind: str, payload: dict[str, Any]) -> Applied:
    obj = payload.get("object") or {}
    entity: Entity
    if kind.startswith("invoice."):
        entity, record = "invoices", map_invoice(obj)
    elif kind.startswith("customer.subscription."):
        entity, record = "subscriptions", map_subscription(obj)[0]
    else:
        return Applied("ignored", f"Stripe {kind} does not change a score")
    customer = record.get("account_external_id")
    if not customer:
        return Applied("ignored", f"Stripe {kind} without a customer")
    ensure_linked_account(
        session,
        "stripe",
        {
            "external_id": customer,
            "stripe_customer_id": customer,
            "name": obj.get("customer_name") or obj.get("customer_email") or customer,
            "domain": email_domain(obj.get("customer_email")),
            "custom": {"crm_account_id": None},
        },
    )
    return _load(session, "stripe", entity, record)


def _zendesk(session: Session, kind: str, payload: dict[str, Any]) -> Applied:
    if not kind.startswith("zen:event-type:ticket."):
        return Applied("ignored", f"Zendesk {kind} is not a ticket event")
    detail = dict(payload.get("detail") or {})
    org = str(detail.get("organization_id") or "").strip()
    if not detail.get("id") or org in ("", "0", "None"):
        return Applied("ignored", "Zendesk ticket without an organization: no account to score")
    if kind in ZENDESK_DELETING_EVENTS:  # the detail still carries the ticket's last status
        detail["status"] = DELETED_TICKET_STATUS
    record = map_ticket(detail, {}, {})
    ensure_linked_account(
        session,
        "zendesk",
        {
            "external_id": org,
            "zendesk_org_id": org,
            "name": f"Zendesk organization {org}",
        },
    )
    return _load(session, "zendesk", "tickets", record)


def _crm_account(session: Session, source: str, column: Any, record_id: str) -> int | None:
    return session.scalar(
        select(Account.id)
        .where(
            Account.source.not_in(LINKED_ONLY_SOURCES),
            or_(
                column == record_id,
                (Account.source == source) & (Account.external_id == record_id),
            ),
        )
        .order_by(Account.id)
        .limit(1)
    )


def _hubspot(session: Session, kind: str, payload: dict[str, Any]) -> Applied:
    if not kind.startswith("company."):
        return Applied("ignored", f"HubSpot {kind}: only company events name an account")
    company = str(payload.get("objectId") or "").strip()
    account = _crm_account(session, "hubspot", Account.hubspot_id, company) if company else None
    if account is None:
        return Applied("ignored", f"no Pulse account with HubSpot company id {company or '?'}")
    if kind == "company.deletion":
        return _deleted(session, account, _epoch_ms(payload.get("occurredAt")))
    return Applied(accounts={account})


def _epoch_ms(value: Any) -> datetime | None:
    """A webhook's epoch-milliseconds time as naive UTC; None when missing or not one."""
    try:
        return from_epoch_ms(int(value))
    except (TypeError, ValueError, OverflowError):
        return None


def _deleted(session: Session, account_id: int, at: datetime | None) -> Applied:
    """The account's CRM record was deleted at ``at``: it is no longer scored (the next
    sync agrees, or brings it back if it was restored)."""
    if at is None:
        return Applied("ignored", "deletion event without its time (occurredAt)")
    session.execute(update(Account).where(Account.id == account_id).values(deleted_at=at))
    return Applied(note=f"account {account_id} deleted in the CRM at {at:%Y-%m-%d %H:%M} UTC")


def _salesforce(session: Session, kind: str, payload: dict[str, Any]) -> Applied:
    fields = payload.get("fields") or {}
    record_id = fields.get("Id") if kind == "Account" else fields.get("AccountId")
    if not record_id:
        return Applied("ignored", f"Salesforce {kind} notification names no Account")
    account = _crm_account(session, "salesforce", Account.salesforce_id, str(record_id))
    if account is None:
        return Applied("ignored", f"no Pulse account with Salesforce id {record_id}")
    return Applied(accounts={account})


def linked_only_holders(session: Session, applied: Iterable[Applied]) -> set[int]:
    """The Stripe/Zendesk accounts holding the stored records of ``applied``: what
    identity resolution has to link (or re-point records of) after this batch."""
    holders: set[int] = set()
    for result in applied:
        for entity, source, ext in result.records:
            if source not in LINKED_ONLY_SOURCES:
                continue
            model = ENTITY_MODEL[entity]
            holder = session.scalar(
                select(model.account_id)  # type: ignore[attr-defined]
                .where(model.source == source, model.external_id == ext)  # type: ignore[attr-defined]
            )
            if holder is not None:
                holders.add(int(holder))
    return holders


def record_accounts(session: Session, applied: Applied) -> tuple[set[int], str | None]:
    """The scored accounts holding the stored records now (after identity resolution)."""
    accounts = set(applied.accounts)
    unlinked = []
    for entity, source, ext in applied.records:
        model = ENTITY_MODEL[entity]
        row = session.execute(
            select(Account.id, Account.source)
            .join(model, model.account_id == Account.id)  # type: ignore[attr-defined]
            .where(model.source == source, model.external_id == ext)  # type: ignore[attr-defined]
        ).first()
        if row is None:
            continue
        if row.source in LINKED_ONLY_SOURCES:
            unlinked.append(f"{source} {ext}")
        else:
            accounts.add(int(row.id))
    note = None
    if unlinked:
        note = "stored, not linked to a CRM account (see pulse identities): " + ", ".join(unlinked)
    return accounts, note
