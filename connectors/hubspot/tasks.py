"""HubSpot tasks for playbooks: a task on the company for its owner."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from hubspot import HubSpot

from connectors.hubspot.client import Sleep, call, make_client

SUBJECT_MAX = 255
"""Characters of the task subject sent; longer subjects are cut."""
TASK_TO_COMPANY = 192
"""HubSpot-defined association type of a task to a company (default association type ids,
https://developers.hubspot.com/docs/api/crm/associations)."""


def create_task(
    *,
    subject: str,
    description: str,
    due: datetime,
    owner_id: str | None,
    company_id: str | None,
    client: HubSpot | None = None,
    sleep: Sleep = time.sleep,
) -> str:
    """Create a task (``POST /crm/v3/objects/tasks``) on the company for its owner.

    ``hs_timestamp`` (required) is the due date; ``hubspot_owner_id`` assigns it
    (https://developers.hubspot.com/docs/api/crm/tasks). Returns the task id.
    """
    client = client or make_client()
    properties = {
        "hs_timestamp": hubspot_time(due),
        "hs_task_subject": subject[:SUBJECT_MAX],
        "hs_task_body": description,
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": "HIGH",
        "hs_task_type": "TODO",
    }
    return create_on_company(client.crm.objects.tasks.basic_api, properties, owner_id,
                             company_id, TASK_TO_COMPANY, "HubSpot create task", sleep)


def hubspot_time(at: datetime) -> str:
    """``at`` (naive UTC) as HubSpot's ``hs_timestamp`` wants it: ISO 8601, seconds, Z."""
    return at.replace(microsecond=0).isoformat() + "Z"


def create_on_company(
    api: Any,
    properties: dict[str, Any],
    owner_id: str | None,
    company_id: str | None,
    association_type: int,
    what: str,
    sleep: Sleep,
) -> str:
    """Create an activity (a task, a note) through ``api`` (its ``basic_api``) with
    ``properties``, assigned to ``owner_id`` when known and associated with the company
    ``company_id`` (HubSpot-defined ``association_type``) when given; returns its id."""
    if owner_id:
        properties = {**properties, "hubspot_owner_id": owner_id}
    body: dict[str, Any] = {"properties": properties}
    if company_id:
        body["associations"] = [
            {
                "to": {"id": company_id},
                "types": [
                    {"associationCategory": "HUBSPOT_DEFINED",
                     "associationTypeId": association_type}
                ],
            }
        ]
    data = call(
        lambda: api.create(simple_public_object_input_for_create=body, _preload_content=False),
        what,
        sleep,
    )
    return str(data.get("id"))
