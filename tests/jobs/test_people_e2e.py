"""From a real CRM to the right people, end to end (issue 15's acceptance).

Each test starts from a CRM fake holding only what a real org holds: users/owners with
emails, and a manager hierarchy (Salesforce ``User.ManagerId``) or teams (HubSpot owner
teams, whose manager only pulse.yml's ``people.teams`` can name: the owners API's team
object has ``id``, ``name`` and ``primary``, no manager). No Slack id anywhere. The Slack
fake knows every person's email but one's (``users.lookupByEmail`` answers
``users_not_found`` for them).

Two scheduled mornings run through ``run_pipeline`` (what the scheduler and ``pulse run``
call) with the real ``SlackDelivery``. A CRM-only account is scored on its contract alone
("insufficient data": fine at best, a flag that raises no alert), so the tiers are set
tight (at risk below 95): the first morning raises nothing; between them the CRM moves one
renewal per CSM close, so the second morning raises one ``tier_crossed`` alert per CSM
(fine into at risk). Then: each card is in its owner's
DM, the unmatched owner's card is in the catch-all (the admin channel by default), each
manager's digest reaches the manager's DM with their team's accounts and counts the
catch-all alert, and ``pulse people`` lists the unmatched owner and why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.harness import TOKEN
from fakes.hubspot_api import FakeHubSpot
from fakes.salesforce import FakeSalesforce, stamp
from fakes.slack_api import FakeSlack
from sqlalchemy import select
from typer.testing import CliRunner

from bot.delivery import SlackDelivery, web_client
from pulse.cli.main import app as cli
from pulse.jobs.pipeline import run_pipeline
from pulse.kernel.config import PulseConfig, parse_config
from storage.db import session_factory
from storage.models import Account, Alert

DAY1 = datetime(2026, 11, 24, 6, 5)
DAY2 = datetime(2026, 11, 25, 6, 5)
FAR, NEAR = "2027-09-01", "2026-12-01"
ADMIN = "C0ADMIN"
SLACK_USERS = {  # the Slack workspace: everyone but Uma
    "U0MARIA": ("maria@vendor.io", "Maria Manager"),
    "U0NICK": ("nick@vendor.io", "Nick Lead"),
    "U0CARL": ("carl@vendor.io", "Carl Csm"),
    "U0DANA": ("dana@vendor.io", "Dana Csm"),
}
CSM_DM = {"carl": "D0CARL", "dana": "D0DANA"}  # the fake's DM channel of each user


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as fake:
        for user_id, (email, name) in SLACK_USERS.items():
            fake.add_user(user_id, email, name)
        yield fake


def _config(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            data: dict[str, Any]) -> PulseConfig:
    """pulse.yml on disk (for `pulse people`) and the same config for the pipeline."""
    data = {"slack": {"admin_channel": ADMIN}, "schedule": {"retry_seconds": 0},
            "scoring": {"tiers": {"healthy": 99, "at_risk": 95}}, **data}
    path = tmp_path / "pulse.yml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("PULSE_CONFIG", str(path))
    monkeypatch.setenv("DATABASE_URL", url)
    return parse_config(data, str(path)).model_copy(update={"database_url": url})


def _two_mornings(cfg: PulseConfig, slack: FakeSlack, move_renewals: Any) -> dict[str, str]:
    delivery = SlackDelivery(web_client(TOKEN, slack.base_url))
    first = run_pipeline(cfg, now=DAY1, kind="scheduled", delivery=delivery)
    assert first is not None
    steps = {s["name"]: s for s in first.steps}
    assert steps["alerts"]["detail"].startswith("0 raised"), steps["alerts"]
    move_renewals()
    slack.reset()
    second = run_pipeline(cfg, now=DAY2, kind="scheduled", delivery=delivery)
    assert second is not None
    details = {s["name"]: f"{s['status']}: {s['detail']}" for s in second.steps}
    for name in ("sync", "people", "score", "alerts", "digests"):
        assert details[name].startswith("ok"), details
    return details


def _posts(slack: FakeSlack) -> list[dict[str, Any]]:
    return [c.args for c in slack.calls_to("chat.postMessage")]


def _alert_cards(url: str) -> dict[str, tuple[str | None, bool]]:
    """Account name -> (channel its alert card went to, whether that is the catch-all)."""
    with session_factory(url)() as s:
        rows = s.execute(select(Account.name, Alert.slack_channel, Alert.catch_all)
                         .join(Alert, Alert.account_id == Account.id)).all()
    return {name: (channel, bool(catch_all)) for name, channel, catch_all in rows}


def _digest_to(slack: FakeSlack, channel: str, kind: str) -> dict[str, Any]:
    """The digest posted in ``channel`` whose fallback text starts with ``kind``."""
    found = [a for a in _posts(slack) if a["channel"] == channel
             and str(a.get("text", "")).startswith(kind)]
    assert len(found) == 1, [(a["channel"], a.get("text", "")[:60]) for a in _posts(slack)]
    return found[0]


def _people(monkeypatch: pytest.MonkeyPatch, slack: FakeSlack) -> str:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack.base_url)
    calls = len(slack.calls)
    result = CliRunner().invoke(cli, ["people"], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    assert len(slack.calls) == calls  # listing asks Slack nothing
    return result.output


def _assert_people_reached(url: str, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch,
                           team_names: dict[str, str]) -> None:
    """What both CRMs must end in: cards in DMs, Uma's in the catch-all, the digests."""
    cards = _alert_cards(url)
    assert cards == {
        "Carl One": ("D0CARL", False),
        "Dana One": ("D0DANA", False),
        "Uma One": (ADMIN, True),  # Uma has no Slack user: the catch-all, not nowhere
    }
    maria = _digest_to(slack, "D0MARIA", "Portfolio health")
    text = json.dumps(maria["blocks"])
    assert maria["text"].startswith(f"Portfolio health for {team_names['maria']} on 2026-11-25: "
                                    "4 accounts")
    assert "Carl One" in text and "Uma One" in text and "Dana" not in text
    assert "1 open alert(s)* went to <#C0ADMIN>" in text and "Uma Unmatched" in text
    nick = _digest_to(slack, "D0NICK", "Portfolio health")
    assert nick["text"].startswith(f"Portfolio health for {team_names['nick']} on 2026-11-25: "
                                   "2 accounts")
    assert "Dana One" in json.dumps(nick["blocks"])
    assert "catch-all" not in json.dumps(nick["blocks"])
    for csm in ("carl", "dana"):
        _digest_to(slack, CSM_DM[csm], "Morning list")
    assert not any(a["channel"] in ("D0UMA", "U0UMA") for a in _posts(slack))

    output = _people(monkeypatch, slack)
    assert "Uma Unmatched <uma@vendor.io>: users_not_found" in output
    assert "1 owner(s) without a Slack user" in output
    for user_id in SLACK_USERS:
        assert user_id in output
    assert "email lookup" in output


# --- Salesforce ---------------------------------------------------------------------------


def _user(uid: str, name: str, manager: str | None, day: int) -> dict[str, Any]:
    email = f"{name.split()[0].lower()}@vendor.io"
    return {"Id": uid, "Name": name, "Email": email, "ManagerId": manager, "IsActive": True,
            "SystemModstamp": stamp(day)}


def _sf_account(aid: str, name: str, owner: str) -> dict[str, Any]:
    return {"Id": aid, "Name": name, "Website": f"https://{name.split()[0].lower()}{aid}.com",
            "OwnerId": owner, "Tier__c": "enterprise", "Segment__c": "Enterprise",
            "ARR__c": 100000.0, "Renewal_Date__c": FAR, "SystemModstamp": stamp(3)}


def test_salesforce_owners_reach_slack_by_email_and_managers_get_their_team(
    db_url: str, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    salesforce_org: FakeSalesforce,
) -> None:
    for key, value in salesforce_org.env_token.items():
        monkeypatch.setenv(key, value)
    cfg = _config(db_url, tmp_path, monkeypatch, {"sources": {"salesforce": {}}})
    org = salesforce_org
    org.add("User",
            _user("005MARIA", "Maria Manager", None, 1),
            _user("005NICK", "Nick Lead", None, 1),
            _user("005CARL", "Carl Csm", "005MARIA", 2),
            _user("005UMA", "Uma Unmatched", "005MARIA", 2),
            _user("005DANA", "Dana Csm", "005NICK", 2))
    for csm in ("Carl", "Uma", "Dana"):
        owner = f"005{csm.upper()}"
        org.add("Account", _sf_account(f"001{csm}1", f"{csm} One", owner),
                _sf_account(f"001{csm}2", f"{csm} Two", owner))

    def move_renewals() -> None:
        for row in org.records["Account"]:
            if row["Name"].endswith("One"):
                row.update(Renewal_Date__c=NEAR, SystemModstamp=stamp(24, 12))

    details = _two_mornings(cfg, slack, move_renewals)
    assert "3 raised" in details["alerts"] and "1 of them to the catch-all" in details["alerts"]
    lookups = [c.args["email"] for c in slack.calls_to("users.lookupByEmail", ok_only=False)]
    # the second morning asks again: a found match is a day old, a not-found is re-checked
    assert sorted(lookups) == sorted(f"{n}@vendor.io" for n in ("maria", "nick", "carl", "uma",
                                                                 "dana"))
    _assert_people_reached(db_url, slack, monkeypatch,
                           {"maria": "Maria Manager's team", "nick": "Nick Lead's team"})


# --- HubSpot ------------------------------------------------------------------------------


def test_hubspot_owners_reach_slack_by_email_and_configured_team_managers_get_their_team(
    db_url: str, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeHubSpot() as hub:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", hub.token)
        monkeypatch.setenv("HUBSPOT_API_URL", hub.base_url)
        hub.add_owner("201", "maria@vendor.io", "Maria", "Manager", team="EMEA")
        hub.add_owner("202", "nick@vendor.io", "Nick", "Lead")
        hub.add_owner("203", "carl@vendor.io", "Carl", "Csm", team="EMEA")
        hub.add_owner("204", "uma@vendor.io", "Uma", "Unmatched", team="EMEA")
        hub.add_owner("205", "dana@vendor.io", "Dana", "Csm", team="Americas")
        for n, (csm, owner) in enumerate((("Carl", "203"), ("Uma", "204"), ("Dana", "205"))):
            for k, suffix in enumerate(("One", "Two")):
                hub.put("companies", f"9{n}{k}", DAY1.replace(hour=1), name=f"{csm} {suffix}",
                        domain=f"{csm.lower()}{k}.example", hubspot_owner_id=owner,
                        tier="Gold", segment="Enterprise", annualrevenue="100000",
                        renewal_date=FAR)
        cfg = _config(db_url, tmp_path, monkeypatch, {
            "sources": {"hubspot": {}},
            # HubSpot teams name no manager: pulse.yml does, by email or by owner id
            "people": {"teams": [{"name": "EMEA", "manager": "maria@vendor.io"},
                                 {"name": "Americas", "manager": "202"}]},
        })

        def move_renewals() -> None:
            for n in range(3):
                hub.put("companies", f"9{n}0", DAY2.replace(hour=1), renewal_date=NEAR)

        details = _two_mornings(cfg, slack, move_renewals)
    assert "3 raised" in details["alerts"]
    _assert_people_reached(db_url, slack, monkeypatch, {"maria": "EMEA", "nick": "Americas"})
