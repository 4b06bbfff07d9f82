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
        "hs_timestamp": due.replace(microsecond=0).isoformat() + "Z",
        "hs_task_subject": subject[:SUBJECT_MAX],
        "hs_task_body": description,
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": "HIGH",
        "hs_task_type": "TODO",
    }
    if owner_id:
        properties["hubspot_owner_id"] = owner_id
    body: dict[str, Any] = {"properties": properties}
    if company_id:
        body["associations"] = [
            {
                "to": {"id": company_id},
                "types": [
                    {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_COMPANY}
                ],
            }
        ]
    api = client.crm.objects.tasks.basic_api
    data = call(
        lambda: api.create(simple_public_object_input_for_create=body, _preload_content=False),
        "HubSpot create task",
        sleep,
    )
    return str(data.get("id"))
