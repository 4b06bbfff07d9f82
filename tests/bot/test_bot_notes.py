"""Log a note from Slack, end to end: the health card's "Log a note" button, the modal on
the Slack fake, the signed view_submission, the note in the Salesforce or HubSpot fake on
the account, the audit row, and the author's DM. Someone who may not act is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from fakes.harness import SECRET, BotHarness, load_sample_workspace, prepare_database
from fakes.harness import start_bot as start_harness
from fakes.hubspot_api import FakeHubSpot
from fakes.salesforce import FakeSalesforce
from slack_signing import SlackSender, block_actions_body, view_submission_payload
from sqlalchemy import select

from digests.limits import validate_message, validate_modal
from digests.note_blocks import NOTE_VIEW
from pulse.kernel.config import parse_config
from storage.db import get_engine, session_factory
from storage.models import Account, AuditLog, Owner

CONFIG = parse_config(
    {"access": {"read_only": ["U0READONLY"]}, "sources": {"salesforce": {}, "hubspot": {}}}
)
READ_ONLY = "U0READONLY"
PORTAL = "4242"


@dataclass(frozen=True)
class Target:
    account_id: int
    name: str
    owner: str  # the owner's Slack user id
    salesforce_id: str | None
    hubspot_id: str | None


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bot(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotHarness]:
    """The sample workspace scored, with Salesforce and HubSpot configured, bot serving."""
    url = prepare_database(request, request.param, tmp_path_factory.mktemp("bot_notes"))
    load_sample_workspace(url, CONFIG)
    harness = start_harness(url, CONFIG)
    harness.fake.add_user(READ_ONLY, "ro@pulse-demo.example", "Rory Reader")
    yield harness
    harness.close()
    if request.param == "sqlite":
        get_engine(url).dispose()


@pytest.fixture
def slack(bot: BotHarness) -> SlackSender:
    return SlackSender(bot.events_url, SECRET)


def _target(url: str, *, salesforce: bool, exclude: str | None = None) -> Target:
    """An account with a Salesforce id (or a HubSpot id and none in Salesforce) whose owner
    is in Slack and owns no other account of the same name."""
    with session_factory(url)() as s:
        query = (
            select(Account, Owner.slack_user_id)
            .join(Owner, Owner.id == Account.owner_id)
            .where(Owner.slack_user_id.is_not(None), Owner.is_manager.is_(False))
            .order_by(Account.id)
        )
        if salesforce:
            query = query.where(Account.salesforce_id.is_not(None))
        else:
            query = query.where(Account.salesforce_id.is_(None), Account.hubspot_id.is_not(None))
        for account, slack_id in s.execute(query):
            if slack_id != exclude:
                return Target(account.id, account.name, slack_id, account.salesforce_id,
                              account.hubspot_id)
    raise AssertionError("the sample workspace has no such account")


def _card(bot: BotHarness, slack: SlackSender, target: Target, key: str) -> dict[str, Any]:
    """``/health NAME`` as the owner: the card, as the owner sees it."""
    url = bot.fake.response_url(key)
    assert slack.command(target.name, user_id=target.owner, response_url=url).ok
    return bot.wait_response(key).args


def _open_modal(bot: BotHarness, slack: SlackSender, target: Target, key: str) -> dict[str, Any]:
    """Click the card's "Log a note": the modal opened on the Slack fake."""
    card = _card(bot, slack, target, key)
    buttons = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    (note,) = [e for e in buttons if e["action_id"] == "note_open"]
    assert note["text"]["text"] == "Log a note" and note["value"] == str(target.account_id)
    assert any(e.get("text", {}).get("text") == "Open in CRM" for e in buttons)
    before = len(bot.fake.calls_to("views.open"))
    assert slack.action(
        {"action_id": "note_open", "type": "button", "value": note["value"],
         "block_id": f"health_card_{target.account_id}"},
        user_id=target.owner, response_url=bot.fake.response_url(key + "-click"),
    ).status_code == 200
    view: dict[str, Any] = bot.fake.wait_for("views.open", before + 1)[-1].args["view"]
    assert view["callback_id"] == NOTE_VIEW and target.name in json.dumps(view["blocks"])
    assert validate_modal(view) == []
    return view


def _submit(slack: SlackSender, view: dict[str, Any], text: str, user: str) -> requests.Response:
    values = {"note_block": {"note_input": {"type": "plain_text_input", "value": text}}}
    body = block_actions_body(view_submission_payload(view, values, user_id=user))
    return slack.post(body, "application/x-www-form-urlencoded")


def _dm(bot: BotHarness, before: int, user: str) -> dict[str, Any]:
    posted = bot.fake.wait_for("chat.postMessage", before + 1)
    dms = [c.args for c in posted[before:] if c.args.get("channel") != "C0PULSE001"]
    assert dms, "no DM to the author"
    payload = dms[-1]
    assert validate_message(payload) == []
    return payload


def _audits(url: str, account_id: int) -> list[AuditLog]:
    with session_factory(url)() as s:
        return list(s.scalars(select(AuditLog).where(
            AuditLog.action == "note_logged", AuditLog.account_id == account_id
        ).order_by(AuditLog.id)))


def test_a_note_becomes_a_completed_salesforce_task_on_the_account(
    bot: BotHarness, slack: SlackSender, salesforce_org: FakeSalesforce,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in salesforce_org.env_token.items():
        monkeypatch.setenv(name, value)
    target = _target(bot.url, salesforce=True)
    view = _open_modal(bot, slack, target, "sf")

    empty = _submit(slack, view, "   ", target.owner)
    assert empty.json()["errors"] == {"note_block": "Type a note first."}
    note = "Call with <Jane> & the CFO: renewal *likely*, wants SSO before signing"
    before = len(bot.fake.calls_to("chat.postMessage"))
    assert _submit(slack, view, note, target.owner).status_code == 200
    dm = _dm(bot, before, target.owner)

    [task] = salesforce_org.tasks.values()
    assert task["WhatId"] == target.salesforce_id and task["Description"] == note
    assert task["Status"] == "Completed" and task["Subject"] == "Note from Slack"
    text = json.dumps(dm["blocks"])
    assert f"Note logged on *{target.name.replace('&', '&amp;')}*" in text
    assert "&lt;Jane&gt; &amp; the CFO" in text and "/lightning/r/Account/" in text
    [audit] = _audits(bot.url, target.account_id)
    assert (audit.actor, audit.outcome) == (target.owner, "ok")
    assert audit.detail["note"] == note and audit.detail["system"] == "salesforce"


def test_a_note_becomes_a_hubspot_note_on_the_company(
    bot: BotHarness, slack: SlackSender, hubspot_portal: FakeHubSpot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUBSPOT_PORTAL_ID", PORTAL)
    target = _target(bot.url, salesforce=False)
    assert target.hubspot_id is not None
    hubspot_portal.put("companies", target.hubspot_id, bot.clock(), name=target.name)
    view = _open_modal(bot, slack, target, "hs")
    before = len(bot.fake.calls_to("chat.postMessage"))
    assert _submit(slack, view, "QBR booked for 12 March", target.owner).status_code == 200
    dm = _dm(bot, before, target.owner)

    [note] = hubspot_portal.notes.values()
    assert note["properties"]["hs_note_body"] == "QBR booked for 12 March"
    assert note["properties"]["hs_timestamp"].endswith("Z")
    [link] = note["associations"]
    assert link["to"] == {"id": target.hubspot_id}
    assert link["types"] == [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 190}]
    assert f"https://app.hubspot.com/contacts/{PORTAL}/company/{target.hubspot_id}" in json.dumps(
        dm["blocks"]
    )
    [audit] = _audits(bot.url, target.account_id)
    assert audit.outcome == "ok" and audit.detail["system"] == "hubspot"

    # HubSpot refusing the note: the author is told why and the note is kept
    hubspot_portal.objects["companies"].pop(target.hubspot_id)
    before = len(bot.fake.calls_to("chat.postMessage"))
    assert _submit(slack, view, "Second note, refused", target.owner).status_code == 200
    failed = json.dumps(_dm(bot, before, target.owner)["blocks"])
    assert "could not be logged in HubSpot" in failed and "Second note, refused" in failed
    audits = _audits(bot.url, target.account_id)
    assert [a.outcome for a in audits] == ["ok", "failed"]
    assert audits[-1].detail["note"] == "Second note, refused"


def test_someone_who_may_not_act_on_the_account_is_refused(
    bot: BotHarness, slack: SlackSender, salesforce_org: FakeSalesforce,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in salesforce_org.env_token.items():
        monkeypatch.setenv(name, value)
    target = _target(bot.url, salesforce=True)
    other = _target(bot.url, salesforce=True, exclude=target.owner).owner
    opened = len(bot.fake.calls_to("views.open"))
    audited = len(_audits(bot.url, target.account_id))
    for user, key in ((other, "other"), (READ_ONLY, "ro")):
        assert slack.action(
            {"action_id": "note_open", "type": "button", "value": str(target.account_id)},
            user_id=user, response_url=bot.fake.response_url(key),
        ).status_code == 200
        reply = bot.wait_response(key).args
        assert "You cannot log a note on this account." in json.dumps(reply["blocks"])
    # a crafted submission naming the account is refused the same way, and nothing is logged
    view = {"type": "modal", "callback_id": NOTE_VIEW,
            "private_metadata": str(target.account_id)}
    before = len(bot.fake.calls_to("chat.postMessage"))
    assert _submit(slack, view, "sneaky note", other).status_code == 200
    assert "You cannot log a note" in json.dumps(_dm(bot, before, other)["blocks"])
    assert len(bot.fake.calls_to("views.open")) == opened
    assert salesforce_org.tasks == {} and len(_audits(bot.url, target.account_id)) == audited
