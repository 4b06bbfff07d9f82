"""Send webhooks to Pulse exactly as Stripe, Zendesk, HubSpot and Salesforce send them.

Signatures are computed here from each sender's documentation, independently of
``pulse.jobs.live.signatures`` (Stripe's with the ``stripe`` package's own test helper), and
at send time, because Pulse checks them against the real clock:

* Stripe: ``Stripe-Signature: t=...,v1=...`` (``stripe.WebhookSignature.
  generate_signature_header``; https://docs.stripe.com/webhooks#verify-events).
* Zendesk: base64 HMAC-SHA256 of timestamp + body, ISO 8601 timestamp
  (https://developer.zendesk.com/documentation/webhooks/verifying/).
* HubSpot v3: base64 HMAC-SHA256 of method + URI + body + millisecond timestamp
  (https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation).
* Salesforce: an Outbound Message SOAP envelope, unsigned, carrying the OrganizationId
  (https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import requests
import stripe

STRIPE_SECRET = "whsec_test_live_rescoring_secret"
ZENDESK_SECRET = "dGhpc19pc19hX3plbmRlc2tfc2VjcmV0"
HUBSPOT_SECRET = "hubspot-app-client-secret-0001"
SALESFORCE_ORG = "00D5e000000KQ2eEAG"
SECRETS = {
    "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
    "ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET,
    "HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
    "SALESFORCE_ORG_ID": SALESFORCE_ORG,
}


def _b64_hmac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def stripe_event(event_id: str, kind: str, obj: dict[str, Any], created: int) -> bytes:
    return json.dumps({"id": event_id, "object": "event", "api_version": "2024-06-20",
                       "created": created, "type": kind, "livemode": False,
                       "pending_webhooks": 1, "data": {"object": obj}}).encode()


def stripe_headers(body: bytes, secret: str = STRIPE_SECRET, *, age: int = 0) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=int(time.time()) - age)
    return {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header}


def zendesk_event(event_id: str, kind: str, detail: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "account_id": 12514403, "id": event_id,
                       "time": "2026-03-02T08:59:00Z", "zendesk_event_version": "2022-06-20",
                       "subject": f"zen:ticket:{detail.get('id')}", "detail": detail,
                       "event": {}}).encode()


def zendesk_headers(body: bytes, secret: str = ZENDESK_SECRET, *, age: int = 0) -> dict[str, str]:
    stamp = datetime.fromtimestamp(time.time() - age, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature-Timestamp": stamp,
            "X-Zendesk-Webhook-Signature": _b64_hmac(secret, stamp.encode() + body),
            "X-Zendesk-Webhook-Id": "01F1KRFQ6BG29CNWFR60NK5FNY"}


def hubspot_events(*events: dict[str, Any]) -> bytes:
    return json.dumps(list(events)).encode()


def hubspot_event(event_id: int, object_id: str, kind: str = "company.propertyChange"
                  ) -> dict[str, Any]:
    return {"eventId": event_id, "subscriptionId": 2101, "portalId": 62515, "appId": 54321,
            "occurredAt": int(time.time() * 1000), "subscriptionType": kind,
            "attemptNumber": 0, "objectId": int(object_id), "changeSource": "CRM",
            "propertyName": "annualrevenue", "propertyValue": "125000"}


def hubspot_headers(url: str, body: bytes, secret: str = HUBSPOT_SECRET, *, age: int = 0
                    ) -> dict[str, str]:
    stamp = str(int((time.time() - age) * 1000))
    signature = _b64_hmac(secret, b"POST" + url.encode() + body + stamp.encode())
    return {"Content-Type": "application/json", "X-HubSpot-Signature-v3": signature,
            "X-HubSpot-Request-Timestamp": stamp}


def salesforce_message(org_id: str, notifications: list[tuple[str, str, dict[str, str]]]
                       ) -> bytes:
    """``notifications``: (notification Id, sObject type, fields)."""
    parts = []
    for note_id, kind, fields in notifications:
        values = "".join(f"<sf:{k}>{escape(v)}</sf:{k}>" for k, v in fields.items())
        parts.append(f'<Notification><Id>{note_id}</Id><sObject xsi:type="sf:{kind}" '
                     f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{values}</sObject>'
                     "</Notification>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org_id}</OrganizationId><ActionId>04k5e000000CaRkAAK</ActionId>"
        '<SessionId xsi:nil="true"/>'
        "<EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/61.0/00D5e</EnterpriseUrl>"
        "<PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/61.0/00D5e</PartnerUrl>"
        + "".join(parts) + "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


SALESFORCE_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=body, headers=headers, timeout=10)
