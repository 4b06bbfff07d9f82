"""HubSpot notes: a note logged from Slack, on the company's timeline.

``POST /crm/v3/objects/notes`` with ``hs_note_body``, ``hs_timestamp`` (required: where the
note sits on the timeline) and ``hubspot_owner_id`` (shown as the note's creator), created
with its association to the company
(https://developers.hubspot.com/docs/api/crm/notes). Needs the private app's
``crm.objects.contacts.write`` scope, which HubSpot's notes API asks for.
"""

from __future__ import annotations

import time
from datetime import datetime

from hubspot import HubSpot

from connectors.hubspot.client import Sleep, make_client
from connectors.hubspot.tasks import create_on_company, hubspot_time

NOTE_BODY_MAX = 65_536
"""Characters of ``hs_note_body`` HubSpot accepts; longer notes are cut."""
NOTE_TO_COMPANY = 190
"""HubSpot-defined association type of a note to a company (default association type ids,
https://developers.hubspot.com/docs/api/crm/associations)."""


def create_note(
    *,
    text: str,
    at: datetime,
    owner_id: str | None,
    company_id: str,
    client: HubSpot | None = None,
    sleep: Sleep = time.sleep,
) -> str:
    """Create a note on the company ``company_id`` by ``owner_id`` (when known), timestamped
    ``at`` (naive UTC); returns the note id."""
    client = client or make_client()
    properties = {"hs_timestamp": hubspot_time(at), "hs_note_body": text[:NOTE_BODY_MAX]}
    return create_on_company(client.crm.objects.notes.basic_api, properties, owner_id,
                             company_id, NOTE_TO_COMPANY, "HubSpot create note", sleep)
