"""pulse.services.notes: who may log a note, where it goes, and as whom.

Through the real CRM clients against the local Salesforce and HubSpot fakes.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from fakes.hubspot_api import FakeHubSpot
from fakes.salesforce import FakeSalesforce
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig, parse_config
from pulse.services.access import resolve_viewer
from pulse.services.notes import log_note, note_target
from storage.models import Account, AuditLog, Owner

NOW = datetime(2026, 11, 25, 9, 30)


def _config(*systems: str, timezone: str = "UTC") -> PulseConfig:
    return parse_config({"sources": {system: {} for system in systems},
                         "workspace": {"timezone": timezone}})


def _account(session: Session, system: str, record: str | None) -> Account:
    owner = Owner(source=system, external_id="crm-owner-1", name="Dana CSM",
                  email="dana@vendor.io", crm_owner_id="0051" if system == "salesforce"
                  else "77", slack_user_id="UCSM")
    session.add(owner)
    session.flush()
    ids = {f"{system}_id": record} if record else {}
    account = Account(source=system, external_id=record or "x", name="Globex",
                      owner_id=owner.id, lifecycle="paid", do_not_contact=False, custom={},
                      **ids)
    session.add(account)
    session.flush()
    return account


def test_the_salesforce_task_is_owned_by_the_author_and_dated_the_local_day(
    session: Session, salesforce_org: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in salesforce_org.env_token.items():
        monkeypatch.setenv(name, value)
    config = _config("salesforce", timezone="America/Los_Angeles")
    account = _account(session, "salesforce", "001G")
    dana = resolve_viewer(session, config, "UCSM", "dana@vendor.io")
    evening = datetime(2026, 11, 26, 3, 0)  # 19:00 on the 25th in Los Angeles
    reply = log_note(session, config, dana, account.id, "  Renewal call went well  ", evening)
    assert reply.kind == "logged" and reply.note == "Renewal call went well"
    [task] = salesforce_org.tasks.values()
    assert task == {"Subject": "Note from Slack", "Description": "Renewal call went well",
                    "ActivityDate": "2026-11-25", "Status": "Completed", "WhatId": "001G",
                    "OwnerId": "0051"}
    audit = session.scalars(select(AuditLog)).one()
    assert audit.detail["crm_id"] in salesforce_org.tasks and audit.actor == "UCSM"


def test_the_hubspot_note_is_by_the_author_at_the_time(
    session: Session, hubspot_portal: FakeHubSpot
) -> None:
    config = _config("hubspot")
    hubspot_portal.put("companies", "501", NOW, name="Globex")
    account = _account(session, "hubspot", "501")
    dana = resolve_viewer(session, config, "UCSM", "dana@vendor.io")
    assert log_note(session, config, dana, account.id, "QBR booked", NOW).kind == "logged"
    [note] = hubspot_portal.notes.values()
    assert note["properties"] == {"hs_timestamp": "2026-11-25T09:30:00Z",
                                  "hs_note_body": "QBR booked", "hubspot_owner_id": "77"}


def test_where_a_note_cannot_go_is_said_plainly(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    account = _account(session, "hubspot", "501")
    dana = resolve_viewer(session, _config("hubspot"), "UCSM", "dana@vendor.io")
    with pytest.raises(LookupError, match="HUBSPOT_ACCESS_TOKEN is not set"):
        note_target(session, _config("hubspot"), dana, account.id)
    with pytest.raises(LookupError, match="no record in a CRM Pulse writes to"):
        note_target(session, _config("salesforce"), dana, account.id)
    stranger = resolve_viewer(session, _config("hubspot"), "UOTHER", "x@elsewhere.io")
    for account_id in (account.id, 99999):
        with pytest.raises(PermissionError, match="You cannot log a note on this account"):
            note_target(session, _config("hubspot"), stranger, account_id)
    with pytest.raises(ValueError, match="Type a note first"):
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-x")
        log_note(session, _config("hubspot"), dana, account.id, " \n ", NOW)
    assert session.scalars(select(AuditLog)).all() == []
