"""One webhook request -> the events in it, each with the id its sender gives it.

The id is what makes a redelivery recognisable (``webhook_events`` is unique on
``(source, event_id)``):

* Stripe: the Event's ``id`` (``evt_...``); one event per request
  (https://docs.stripe.com/api/events/object).
* Zendesk: the event's ``id`` (a UUID) of the event-subscription schema
  (https://developer.zendesk.com/api-reference/webhooks/event-types/webhook-event-types/);
  one per request.
* HubSpot: the body is an array of up to 100 events, each with its own ``eventId``
  (https://developers.hubspot.com/docs/api/webhooks); the array is split.
* Salesforce: each ``Notification`` (up to 100 a message) has its own ``Id``, which
  Salesforce tells receivers to use to recognise a resent notification
  (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_notifications.htm).

Parsing happens only after the signature check, on bytes already proven to come from
the sender; a body that is still not the documented shape is a :class:`Refused` 400.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

from pulse.jobs.live.signatures import OUTBOUND_NS, Refused

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
SOURCES = ("stripe", "zendesk", "hubspot", "salesforce")


@dataclass(frozen=True)
class LiveEvent:
    source: str
    event_id: str
    kind: str  # the sender's event type
    payload: dict[str, Any]  # what the worker needs to apply it, JSON-serialisable


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise Refused(400, f"body is not JSON: {exc}") from None


def stripe_events(body: bytes) -> list[LiveEvent]:
    event = _json(body)
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise Refused(400, "not a Stripe event (no id or type)")
    obj = (event.get("data") or {}).get("object")
    if not isinstance(obj, dict):
        raise Refused(400, f"Stripe event {event['id']} has no data.object")
    payload = {"object": obj, "created": event.get("created")}
    return [LiveEvent("stripe", str(event["id"]), str(event["type"]), payload)]


def zendesk_events(body: bytes) -> list[LiveEvent]:
    event = _json(body)
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise Refused(400, "not a Zendesk event (no id or type)")
    payload = {"detail": event.get("detail") or {}, "time": event.get("time")}
    return [LiveEvent("zendesk", str(event["id"]), str(event["type"]), payload)]


def hubspot_events(body: bytes) -> list[LiveEvent]:
    events = _json(body)
    if not isinstance(events, list):
        raise Refused(400, "HubSpot webhook body is not an array of events")
    out = []
    for item in events:
        if not isinstance(item, dict) or item.get("eventId") is None:
            raise Refused(400, "HubSpot event without eventId")
        kind = str(item.get("subscriptionType") or item.get("eventType") or "unknown")
        out.append(LiveEvent("hubspot", str(item["eventId"]), kind, dict(item)))
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def salesforce_events(notifications: ElementTree.Element) -> list[LiveEvent]:
    """Each Notification's Id, the sObject's type (``sf:Account`` ...) and its fields."""
    out = []
    for note in notifications.findall(f"{{{OUTBOUND_NS}}}Notification"):
        note_id = (note.findtext(f"{{{OUTBOUND_NS}}}Id") or "").strip()
        sobject = note.find(f"{{{OUTBOUND_NS}}}sObject")
        if not note_id or sobject is None:
            raise Refused(400, "Outbound Message Notification without Id or sObject")
        kind = (sobject.get(XSI_TYPE) or "sObject").split(":")[-1]
        fields = {_local(child.tag): (child.text or "").strip() for child in sobject}
        out.append(LiveEvent("salesforce", note_id, kind, {"fields": fields}))
    if not out:
        raise Refused(400, "Outbound Message without notifications")
    return out
