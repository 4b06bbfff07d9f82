"""How each sender signs its webhooks, and the checks Pulse runs before trusting a byte.

Every check works on the exact body bytes received, compares in constant time
(:func:`hmac.compare_digest`) and refuses timestamps outside :data:`TOLERANCE_SECONDS`, so
a captured request cannot be replayed later. A refusal raises :class:`Refused` with the
HTTP status to answer and the reason to log; the caller stores nothing.

* **Stripe** (https://docs.stripe.com/webhooks#verify-events): ``Stripe-Signature:
  t=<unix>,v1=<hex HMAC-SHA256(whsec secret, "<t>.<body>")>``, verified by the ``stripe``
  package itself (:func:`stripe.WebhookSignature.verify_header`, 300 s tolerance). That
  check only refuses timestamps too old; Pulse refuses ``t`` too far in the future too,
  so every source has the same window both ways.
* **Zendesk** (https://developer.zendesk.com/documentation/webhooks/verifying/):
  ``X-Zendesk-Webhook-Signature = base64(HMAC-SHA256(secret, timestamp + body))`` with
  ``X-Zendesk-Webhook-Signature-Timestamp`` an ISO 8601 time such as
  ``2021-03-25T05:09:27Z``
  (https://developer.zendesk.com/documentation/webhooks/anatomy-of-a-webhook-request).
  Zendesk names no replay window; Pulse applies the same 5 minutes as the others.
* **HubSpot** v3 (https://developers.hubspot.com/docs/apps/developer-platform/build-apps/
  authentication/request-validation): ``X-HubSpot-Signature-v3 = base64(HMAC-SHA256(app
  client secret, method + URI + body + timestamp))``, ``X-HubSpot-Request-Timestamp`` in
  milliseconds, rejected when older than 5 minutes; the URI is the full URL HubSpot
  called, with the characters of HubSpot's table (``%3A`` ...) decoded.
* **Salesforce** Outbound Messages are not signed
  (https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html):
  the check is that the SOAP ``notifications`` element carries the expected
  ``OrganizationId``. That proves little on its own (an org id is not a secret), so
  docs/live.md recommends terminating the route at a proxy that requires Salesforce's
  client certificate and allows only Salesforce's IP ranges.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from xml.etree import ElementTree

import stripe
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

from pulse.kernel.clock import epoch_seconds

TOLERANCE_SECONDS = 300

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
HUBSPOT_DECODE = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}
"""The URL-encoded characters HubSpot decodes in the URI before signing (its docs' table)."""


class Refused(Exception):
    """The request is not proven to come from the sender: answer ``status``, log ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (WSGI and test clients spell them differently)."""
    want = name.lower()
    for key, value in headers.items():
        if key.lower() == want:
            return value
    return None


def _fresh(age_seconds: float, tolerance: int, what: str) -> None:
    if abs(age_seconds) > tolerance:
        raise Refused(
            400, f"{what} is {age_seconds:+.0f}s old, outside the {tolerance}s window (replay?)"
        )


def verify_stripe(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    tolerance: int = TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> None:
    """Stripe's own check (``stripe.WebhookSignature.verify_header``) of ``Stripe-Signature``,
    after its ``t=`` is checked to be within ``tolerance`` of now, either way."""
    header = _header(headers, "Stripe-Signature")
    if not header:
        raise Refused(400, "no Stripe-Signature header (unsigned)")
    stamps = [part.strip()[2:] for part in header.split(",") if part.strip().startswith("t=")]
    if len(stamps) != 1 or not stamps[0].isdigit():
        raise Refused(400, "no readable t= in Stripe-Signature")
    _fresh((now if now is not None else epoch_seconds()) - int(stamps[0]), tolerance,
           "Stripe signature timestamp")
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        message = str(exc.user_message or exc)
        raise Refused(400, f"Stripe signature refused: {message}") from None


def hmac_base64(secret: str, message: bytes) -> str:
    """base64 of HMAC-SHA256 (Zendesk and HubSpot v3 both encode it so)."""
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac_base64(secret, timestamp.encode() + body)


def verify_zendesk(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    given = _header(headers, "X-Zendesk-Webhook-Signature")
    stamp = _header(headers, "X-Zendesk-Webhook-Signature-Timestamp")
    if not given or not stamp:
        raise Refused(401, "no X-Zendesk-Webhook-Signature(-Timestamp) header (unsigned)")
    try:
        sent = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Refused(400, f"unreadable Zendesk signature timestamp {stamp[:40]!r}") from None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    _fresh((now if now is not None else epoch_seconds()) - sent.timestamp(), tolerance,
           "Zendesk signature timestamp")
    if not hmac.compare_digest(zendesk_signature(secret, stamp, body), given.strip()):
        raise Refused(401, "Zendesk signature does not match the body (forged or wrong secret)")


def hubspot_uri(url: str) -> str:
    """The URI as HubSpot signs it: its listed URL-encoded characters decoded."""
    for encoded, plain in HUBSPOT_DECODE.items():
        url = url.replace(encoded, plain).replace(encoded.lower(), plain)
    return url


def hubspot_signature(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + hubspot_uri(url).encode() + body + timestamp.encode()
    return hmac_base64(secret, message)


def verify_hubspot(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    method: str,
    url: str,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """``url`` is the full URL HubSpot called (scheme, host, path, query)."""
    given = _header(headers, "X-HubSpot-Signature-v3")
    stamp = _header(headers, "X-HubSpot-Request-Timestamp")
    if not given or not stamp:
        raise Refused(401, "no X-HubSpot-Signature-v3 / X-HubSpot-Request-Timestamp (unsigned)")
    try:
        sent_ms = int(stamp.strip())
    except ValueError:
        raise Refused(400, f"unreadable HubSpot timestamp {stamp[:40]!r}") from None
    _fresh((now if now is not None else epoch_seconds()) - sent_ms / 1000, tolerance,
           "HubSpot request timestamp")
    expected = hubspot_signature(secret, method, url, body, stamp.strip())
    if not hmac.compare_digest(expected, given.strip()):
        raise Refused(401, "HubSpot v3 signature does not match (forged, wrong secret or URL)")


def salesforce_notifications(body: bytes, org_id: str) -> ElementTree.Element:
    """The ``notifications`` element of an Outbound Message from the expected org.

    The body is untrusted (Outbound Messages are not signed), so it is parsed with
    defusedxml (https://github.com/tiran/defusedxml) with ``forbid_dtd``: a document type
    declaration is refused before anything is expanded (SOAP 1.1 messages must not carry
    one, and it is where entity-expansion and external-entity attacks live), and so are
    entity declarations and external references. The org id is compared on its first 15
    characters, as Salesforce ids are equal in 15- and 18-character form.
    """
    try:
        root = safe_fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise Refused(400, f"SOAP message refused: {type(exc).__name__}") from None
    except ElementTree.ParseError as exc:
        raise Refused(400, f"not a SOAP message: {exc}") from None
    found = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
    if found is None:
        raise Refused(400, "no Outbound Message notifications element in the SOAP body")
    given = (found.findtext(f"{{{OUTBOUND_NS}}}OrganizationId") or "").strip()
    if not given:
        raise Refused(401, "Outbound Message without OrganizationId")
    if not hmac.compare_digest(given[:15].encode(), org_id.strip()[:15].encode()):
        raise Refused(401, f"Outbound Message from organization {given}, not SALESFORCE_ORG_ID")
    return found


ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
).encode()
"""The acknowledgement Salesforce waits for; without it the message is resent for 24 h
(https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html,
``notificationsResponse``)."""
