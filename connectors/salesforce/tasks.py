"""Salesforce Tasks on an Account: a playbook's to-do for its owner, and a note logged
from Slack (a completed Task, so it shows in the Account's activity history).

Task fields: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm
"""

from __future__ import annotations

from datetime import date
from typing import Any

from simple_salesforce import Salesforce, SFType

from connectors.salesforce.client import SalesforceClient, as_client, source_config
from pulse.kernel.config import PulseConfig, SalesforceSourceConfig

SUBJECT_MAX = 255
"""Length of the Task ``Subject`` field; longer subjects are cut."""
DESCRIPTION_MAX = 32_000
"""Length of the Task ``Description`` (a long text area); longer descriptions are cut."""
NOTE_SUBJECT = "Note from Slack"
"""Subject of the Task a note logged from Slack becomes."""

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
    settings = source_config(config)
    client = as_client(sf, settings.api_version)
    body: dict[str, Any] = {
        "Subject": subject[:SUBJECT_MAX],
        "Description": description[:DESCRIPTION_MAX],
        "ActivityDate": due.isoformat(),
        "Status": "Not Started",
        "Priority": "High",
    }
    if account_id:
        body["WhatId"] = account_id
    return insert_task(client, body, owner_id, "create Salesforce Task")


def insert_task(
    client: SalesforceClient, body: dict[str, Any], owner_id: str | None, what: str
) -> str:
    """Insert a Task with ``body`` (``OwnerId`` set to ``owner_id`` when known) through
    the client's retries and session renewal; returns its id."""
    if owner_id:
        body = {**body, "OwnerId": owner_id}

    def create(sf: Salesforce) -> Any:
        task = sf.Task
        assert isinstance(task, SFType)  # every attribute but bulk and bulk2 is an sObject
        return task.create(body)

    return str(client.call(create, what=what)["id"])


def log_note(
    config: PulseConfig | SalesforceSourceConfig,
    *,
    text: str,
    day: date,
    owner_id: str | None,
    account_id: str,
    sf: Salesforce | SalesforceClient | None = None,
) -> str:
    """Log ``text`` on the Account as a completed Task (``POST /sobjects/Task/``).

    ``Status`` Completed, ``Subject`` "Note from Slack", ``Description`` the note,
    ``ActivityDate`` ``day`` (when it was logged), ``WhatId`` the Account and ``OwnerId`` the
    author's Salesforce user when known (else Salesforce assigns the API user).
    Returns the Task id.
    """
    settings = source_config(config)
    client = as_client(sf, settings.api_version)
    body: dict[str, Any] = {
        "Subject": NOTE_SUBJECT,
        "Description": text[:DESCRIPTION_MAX],
        "ActivityDate": day.isoformat(),
        "Status": "Completed",
        "WhatId": account_id,
    }
    return insert_task(client, body, owner_id, "log a note as a Salesforce Task")
