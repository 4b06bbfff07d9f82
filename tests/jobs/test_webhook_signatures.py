"""The signature checks' edge cases, without a server: what the HTTP tests don't reach.

Signatures here are built from the senders' documentation (see ``webhook_signing``),
not from the functions under test.
"""

from __future__ import annotations

import time

import pytest
from webhook_signing import (
    HUBSPOT_SECRET,
    SALESFORCE_ORG,
    hubspot_event,
    hubspot_events,
    hubspot_headers,
    salesforce_message,
    zendesk_event,
    zendesk_headers,
)

from pulse.jobs.live.events import salesforce_events
from pulse.jobs.live.signatures import (
    Refused,
    hubspot_uri,
    salesforce_notifications,
    verify_hubspot,
    verify_zendesk,
)

ZENDESK_SECRET = "zendesk-secret"


def test_hubspot_uri_decodes_the_characters_hubspot_lists() -> None:
    assert hubspot_uri("https://pulse.example.com/webhooks/hubspot?a=1%3A2%2Cb%40c") == (
        "https://pulse.example.com/webhooks/hubspot?a=1:2,b@c")
    assert hubspot_uri("https://x.example/p?q=%20") == "https://x.example/p?q=%20"  # kept


def test_hubspot_signature_covers_the_url() -> None:
    url = "https://pulse.example.com/webhooks/hubspot"
    body = hubspot_events(hubspot_event(1, "42"))
    headers = hubspot_headers(url, body, HUBSPOT_SECRET)
    verify_hubspot(body, headers, HUBSPOT_SECRET, method="POST", url=url)
    with pytest.raises(Refused) as refused:  # the same request, as seen without PULSE_PUBLIC_URL
        verify_hubspot(body, headers, HUBSPOT_SECRET, method="POST",
                       url="http://127.0.0.1:3000/webhooks/hubspot")
    assert refused.value.status == 401


def test_zendesk_timestamp_from_the_future_is_refused_too() -> None:
    body = zendesk_event("e1", "zen:event-type:ticket.created", {"id": "1"})
    headers = zendesk_headers(body, ZENDESK_SECRET, age=-900)
    with pytest.raises(Refused, match="window"):
        verify_zendesk(body, headers, ZENDESK_SECRET)
    verify_zendesk(body, headers, ZENDESK_SECRET, now=time.time() + 900)


def test_salesforce_org_id_matches_in_15_and_18_characters() -> None:
    body = salesforce_message(SALESFORCE_ORG[:15], [("04l1", "Account", {"Id": "001A"})])
    notes = salesforce_notifications(body, SALESFORCE_ORG)
    [event] = salesforce_events(notes)
    assert (event.event_id, event.kind, event.payload["fields"]["Id"]) == (
        "04l1", "Account", "001A")


def test_salesforce_message_with_a_dtd_is_refused() -> None:
    body = salesforce_message(SALESFORCE_ORG, [("04l1", "Account", {"Id": "001A"})])
    evil = body.replace(b"<soapenv:Envelope",
                        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><soapenv:Envelope', 1)
    with pytest.raises(Refused, match="DTD"):
        salesforce_notifications(evil, SALESFORCE_ORG)


def test_salesforce_entity_expansion_is_refused_before_expanding() -> None:
    entities = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e0 "lol">{entities}]>'
            f"<x>&e9;</x>").encode()
    with pytest.raises(Refused, match="DTDForbidden") as refused:
        salesforce_notifications(bomb, SALESFORCE_ORG)
    assert refused.value.status == 400
