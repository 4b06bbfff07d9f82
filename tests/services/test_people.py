"""People: CRM owners matched to Slack users (through the real slack_sdk client against the
Slack fake's ``users.lookupByEmail``), the lookup cache and its re-checks, overrides, and
managers and teams from Salesforce's hierarchy, HubSpot's teams and ``people.teams``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fakes.harness import TOKEN
from fakes.slack_api import FakeSlack
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.delivery import SlackDelivery, web_client
from pulse.kernel.config import PulseConfig, parse_config
from pulse.kernel.records import Batch
from pulse.services.people import (
    FOUND_RECHECK,
    SlackDirectory,
    apply_teams,
    match_slack_users,
    people,
)
from storage.loader import load_batch
from storage.models import Owner, SlackLookup

NOW = datetime(2026, 12, 7, 6, 0)
PLAIN = parse_config({})


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as fake:
        fake.add_user("U0ANA", "ana@vendor.io", "Ana")
        fake.add_user("U0BEN", "Ben@Vendor.io", "Ben")  # Slack keeps the case it was given
        yield fake


@pytest.fixture
def directory(slack: FakeSlack) -> SlackDirectory:
    return SlackDelivery(web_client(TOKEN, slack.base_url))


def _owners(session: Session, source: str, *rows: dict[str, Any]) -> None:
    """Owners as a CRM sync stores them (through the loader), without Slack ids."""
    records = [{"name": r["external_id"].title(), "crm_owner_id": r["external_id"], **r}
               for r in rows]
    load_batch(session, source, Batch("owners", records))
    session.flush()


def _by_name(session: Session) -> dict[str, Owner]:
    return {o.external_id: o for o in session.scalars(select(Owner))}


def _lookups(slack: FakeSlack) -> list[str]:
    return [c.args["email"] for c in slack.calls_to("users.lookupByEmail", ok_only=False)]


def _crm(session: Session) -> None:
    _owners(session, "salesforce",
            {"external_id": "ana", "email": "ana@vendor.io"},
            {"external_id": "ben", "email": "ben@vendor.io"},
            {"external_id": "uma", "email": "uma@vendor.io"},
            {"external_id": "nomail", "email": None})


# --- matching -----------------------------------------------------------------------------


def test_owners_are_matched_by_email_and_the_unmatched_say_why(
    session: Session, slack: FakeSlack, directory: SlackDirectory
) -> None:
    _crm(session)
    report = match_slack_users(session, PLAIN, directory, NOW)
    owners = _by_name(session)
    assert (owners["ana"].slack_user_id, owners["ana"].slack_user_source) == ("U0ANA", "email")
    assert owners["ben"].slack_user_id == "U0BEN"  # emails compare case-insensitively
    assert owners["uma"].slack_user_id is None and owners["nomail"].slack_user_id is None
    assert sorted(_lookups(slack)) == ["ana@vendor.io", "ben@vendor.io", "uma@vendor.io"]
    assert (report.matched, report.unmatched, report.lookups) == (2, 2, 3)
    cached = {r.email: (r.status, r.slack_user_id, r.checked_at)
              for r in session.scalars(select(SlackLookup))}
    assert cached["uma@vendor.io"] == ("not_found", None, NOW)
    assert cached["ana@vendor.io"] == ("found", "U0ANA", NOW)

    why = {p.name: p.unmatched_reason for p in people(session, slack_configured=True)}
    assert why["Uma"] == "users_not_found: no Slack user has this email"
    assert why["Nomail"] == "no email in the CRM"
    assert why["Ana"] is None


def test_found_matches_are_rechecked_daily_and_not_found_on_the_next_run(
    session: Session, slack: FakeSlack, directory: SlackDirectory
) -> None:
    _crm(session)
    match_slack_users(session, PLAIN, directory, NOW)
    slack.reset()
    match_slack_users(session, PLAIN, directory, NOW + timedelta(hours=2))
    assert _lookups(slack) == ["uma@vendor.io"]  # found ones are fresh; the not-found is asked

    slack.reset()
    slack.add_user("U0UMA", "uma@vendor.io", "Uma")  # Uma joins Slack
    slack.remove_user("U0BEN")  # Ben leaves Slack
    match_slack_users(session, PLAIN, directory, NOW + FOUND_RECHECK)
    assert sorted(_lookups(slack)) == ["ana@vendor.io", "ben@vendor.io", "uma@vendor.io"]
    owners = _by_name(session)
    assert owners["uma"].slack_user_id == "U0UMA"
    assert owners["ben"].slack_user_id is None and owners["ben"].slack_user_source is None


def test_overrides_win_by_email_or_crm_owner_id(
    session: Session, slack: FakeSlack, directory: SlackDirectory
) -> None:
    _crm(session)
    cfg = parse_config({"people": {"slack_users": {"ANA@vendor.io": "U0OTHER", "uma": "U0UMA2"}}})
    report = match_slack_users(session, cfg, directory, NOW)
    owners = _by_name(session)
    assert (owners["ana"].slack_user_id, owners["ana"].slack_user_source) == ("U0OTHER",
                                                                            "override")
    assert (owners["uma"].slack_user_id, owners["uma"].slack_user_source) == ("U0UMA2",
                                                                            "override")
    assert _lookups(slack) == ["ben@vendor.io"]  # nobody asks Slack about overridden owners
    assert report.overridden == 2
    listed = {p.name: p.slack_from for p in people(session, slack_configured=True)}
    assert listed["Ana"] == "override" and listed["Ben"] == "email lookup"


def test_a_lookup_error_stops_the_run_and_keeps_what_was_found(
    session: Session, slack: FakeSlack, directory: SlackDirectory
) -> None:
    _crm(session)
    match_slack_users(session, PLAIN, directory, NOW)
    slack.reset()
    slack.fail_next("users.lookupByEmail", error="missing_scope")
    report = match_slack_users(session, PLAIN, directory, NOW + FOUND_RECHECK)
    assert len(_lookups(slack)) == 1 and report.skipped == 2  # it would fail for everyone
    assert report.errors and report.errors[0][1] == "missing_scope"
    assert "lookup error missing_scope" in str(report)
    owners = _by_name(session)
    assert owners["ana"].slack_user_id == "U0ANA" and owners["ben"].slack_user_id == "U0BEN"


def test_a_lookup_error_is_listed_as_the_reason(
    session: Session, slack: FakeSlack, directory: SlackDirectory
) -> None:
    _owners(session, "hubspot", {"external_id": "uma", "email": "uma@vendor.io"})
    slack.fail_next("users.lookupByEmail", error="invalid_auth")
    match_slack_users(session, PLAIN, directory, NOW)
    (uma,) = people(session, slack_configured=True)
    assert uma.unmatched_reason == "lookup error: invalid_auth"
    assert uma.checked_at == NOW


def test_without_slack_only_the_cache_and_overrides_apply(
    session: Session, slack: FakeSlack, directory: SlackDirectory
) -> None:
    _owners(session, "salesforce", {"external_id": "ana", "email": "ana@vendor.io"})
    match_slack_users(session, PLAIN, directory, NOW)
    _owners(session, "salesforce", {"external_id": "cy", "email": "cy@vendor.io"})
    report = match_slack_users(session, PLAIN, None, NOW + timedelta(days=3))
    assert "Slack not configured" in str(report)
    owners = _by_name(session)
    assert owners["ana"].slack_user_id == "U0ANA"  # from the cache, even if old
    why = {p.name: p.unmatched_reason for p in people(session, slack_configured=False)}
    assert why["Cy"] == "Slack not configured (SLACK_BOT_TOKEN not set)"


def test_a_crm_resync_keeps_the_matched_slack_user(
    session: Session, directory: SlackDirectory
) -> None:
    _crm(session)
    match_slack_users(session, PLAIN, directory, NOW)
    _owners(session, "salesforce", {"external_id": "ana", "email": "ana@vendor.io",
                                    "name": "Ana Renamed"})
    session.expire_all()
    ana = _by_name(session)["ana"]
    assert (ana.name, ana.slack_user_id) == ("Ana Renamed", "U0ANA")


def test_a_slack_id_the_source_carries_is_kept(session: Session, slack: FakeSlack,
                                              directory: SlackDirectory) -> None:
    _owners(session, "sample", {"external_id": "ana", "email": "ana@vendor.io",
                                "slack_user_id": "U0SAMPLE"})
    match_slack_users(session, PLAIN, directory, NOW)
    ana = _by_name(session)["ana"]
    assert (ana.slack_user_id, ana.slack_user_source) == ("U0SAMPLE", "source")
    assert _lookups(slack) == []


# --- managers and teams -------------------------------------------------------------------


def _teams(session: Session, cfg: PulseConfig) -> dict[str, tuple[str | None, str | None, bool]]:
    apply_teams(session, cfg)
    names = {o.id: o.external_id for o in session.scalars(select(Owner))}
    return {o.external_id: (names.get(o.manager_id) if o.manager_id else None, o.team,
                            o.is_manager)
            for o in session.scalars(select(Owner))}


def test_salesforce_managers_come_from_the_user_hierarchy(session: Session) -> None:
    _owners(session, "salesforce",
            {"external_id": "vp", "email": "vp@vendor.io"},
            {"external_id": "mgr", "email": "mgr@vendor.io", "manager_external_id": "vp"},
            {"external_id": "csm", "email": "csm@vendor.io", "manager_external_id": "mgr"})
    assert _teams(session, PLAIN) == {
        "vp": (None, None, True), "mgr": ("vp", None, True), "csm": ("mgr", None, False)}
    # the CSM moves to the VP: the former manager manages nobody and stops being one
    _owners(session, "salesforce",
            {"external_id": "csm", "email": "csm@vendor.io", "manager_external_id": "vp"})
    assert _teams(session, PLAIN)["mgr"] == ("vp", None, False)


def test_hubspot_teams_get_their_manager_from_pulse_yml(session: Session) -> None:
    _owners(session, "hubspot",
            {"external_id": "101", "email": "lead@vendor.io", "team": "EMEA"},
            {"external_id": "102", "email": "ana@vendor.io", "team": "EMEA"},
            {"external_id": "103", "email": "ben@vendor.io", "team": "Americas"},
            {"external_id": "104", "email": "cy@vendor.io"})
    assert _teams(session, PLAIN) == {  # HubSpot teams name no manager
        "101": (None, "EMEA", False), "102": (None, "EMEA", False),
        "103": (None, "Americas", False), "104": (None, None, False)}
    cfg = parse_config({"people": {"teams": [
        {"name": "EMEA", "manager": "LEAD@vendor.io"},  # members: the HubSpot team, and
        {"name": "Growth", "manager": "103", "members": ["cy@vendor.io"]},  # listed ones
        {"name": "Ghosts", "manager": "nobody@vendor.io"},
    ]}})
    report = apply_teams(session, cfg)
    assert report.unknown == ["team Ghosts: manager nobody@vendor.io"]
    assert _teams(session, cfg) == {
        "101": (None, "EMEA", True), "102": ("101", "EMEA", False),
        "103": (None, "Growth", True), "104": ("103", "Growth", False)}
    # taken out of pulse.yml: the HubSpot owner has no manager any more
    assert _teams(session, PLAIN)["104"] == (None, "Growth", False)


def test_pulse_yml_teams_override_the_salesforce_manager(session: Session) -> None:
    _owners(session, "salesforce",
            {"external_id": "m1", "email": "m1@vendor.io"},
            {"external_id": "m2", "email": "m2@vendor.io"},
            {"external_id": "csm", "email": "csm@vendor.io", "manager_external_id": "m1"})
    cfg = parse_config({"people": {"teams": [
        {"name": "Strategic", "manager": "m2", "members": ["csm@vendor.io"]}]}})
    assert _teams(session, cfg) == {
        "m1": (None, None, False), "m2": (None, "Strategic", True),
        "csm": ("m2", "Strategic", False)}


def test_people_config_refuses_what_is_not_a_slack_user_id() -> None:
    from pulse.kernel.config import ConfigError

    with pytest.raises(ConfigError, match="not Slack user ids"):
        parse_config({"people": {"slack_users": {"ana@vendor.io": "@ana"}}})
    with pytest.raises(ConfigError, match="team name"):
        parse_config({"people": {"teams": [{"name": "A", "manager": "x"},
                                           {"name": "a", "manager": "y"}]}})


def test_the_accounts_an_owner_is_listed_with_leave_out_churned_and_deleted_ones(
    session: Session,
) -> None:
    _crm(session)
    load_batch(session, "salesforce", Batch("accounts", [
        {"external_id": "A1", "name": "Live", "owner_external_id": "ana"},
        {"external_id": "A2", "name": "Churned", "owner_external_id": "ana",
         "lifecycle": "churned"},
        {"external_id": "A3", "name": "Merged away", "owner_external_id": "ana",
         "deleted_at": datetime(2026, 12, 1)},
    ]))
    counts = {p.name: p.accounts for p in people(session, slack_configured=False)}
    assert counts["Ana"] == 1
