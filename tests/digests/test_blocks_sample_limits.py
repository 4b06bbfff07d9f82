"""Every builder's output stays within Slack's limits on the sample workspace's largest
portfolio: the biggest CSM book, the whole portfolio for an admin, every alert card."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from digest_samples import texts
from fakes.harness import NOW, load_sample_workspace, prepare_database
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digests.cards import account_list, alert_card, health_card
from digests.digest_blocks import csm_digest, manager_digest
from digests.home import home_view
from digests.limits import validate_home, validate_message
from digests.views import HealthCard
from pulse.kernel.config import PulseConfig, parse_config
from pulse.services import digest_data, health
from pulse.services.access import Viewer, resolve_viewer
from pulse.services.alerts import alert_items, evaluate_alerts
from storage.db import get_engine, session_factory
from storage.models import Account, Alert, Owner

CONFIG: PulseConfig = parse_config({"access": {"admins": ["UADMIN"]}})


@pytest.fixture(scope="module")
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = prepare_database(request, "sqlite", tmp_path_factory.mktemp("limits"))
    load_sample_workspace(db, CONFIG)
    with session_factory(db)() as session:
        evaluate_alerts(session, CONFIG, NOW)
        session.commit()
    yield db
    get_engine(db).dispose()


def _largest_csm(session: Session) -> Owner:
    owner_id = session.scalars(
        select(Account.owner_id)
        .where(Account.owner_id.is_not(None))
        .group_by(Account.owner_id)
        .order_by(func.count().desc())
        .limit(1)
    ).one()
    owner = session.get(Owner, owner_id)
    assert owner is not None
    return owner


def test_largest_csm_digest_home_and_cards(url: str) -> None:
    with session_factory(url)() as session:
        csm = _largest_csm(session)
        viewer = resolve_viewer(session, CONFIG, csm.slack_user_id or "U0", csm.email)
        assert viewer.role == "csm"
        digest = digest_data.csm_digest(session, CONFIG, csm.id, NOW)
        assert digest.accounts_total >= 40
        assert validate_message(csm_digest(digest)) == []
        assert validate_home(home_view(digest_data.home_view(session, CONFIG, viewer, NOW))) == []
        account_ids = session.scalars(select(Account.id).where(Account.owner_id == csm.id)).all()
        cards = 0
        for account_id in account_ids:
            card = health.health_card(session, CONFIG, viewer, account_id, NOW)
            if isinstance(card, HealthCard):
                cards += 1
                assert validate_message(health_card(card)) == [], card.account.name
        assert cards >= 40


def test_whole_portfolio_for_an_admin(url: str) -> None:
    admin = Viewer("UADMIN", None, "admin", None, None, "Ada Admin", True)
    with session_factory(url)() as session:
        for service in (health.my_attention, health.risk_list, health.expansion_list):
            lines = service(session, CONFIG, admin, NOW)
            payload = account_list("List", lines, "none", CONFIG.slack.digest_limit)
            assert validate_message(payload) == []
        home = digest_data.home_view(session, CONFIG, admin, NOW)
        assert len(home.accounts) > 400  # the whole portfolio, cut by the builder
        assert validate_home(home_view(home)) == []
        everything = digest_data.manager_digest(session, CONFIG, None, NOW)
        assert validate_message(manager_digest(everything)) == []
        for manager in session.scalars(select(Owner).where(Owner.is_manager)):
            team = digest_data.manager_digest(session, CONFIG, manager.id, NOW)
            assert validate_message(manager_digest(team)) == []


def test_every_alert_card(url: str) -> None:
    with session_factory(url)() as session:
        alerts = list(session.scalars(select(Alert)))
        assert alerts, "the planted stories must raise alerts"
        for item in alert_items(session, alerts):
            assert validate_message(alert_card(item, NOW)) == [], item.rule


def _read(payload: dict[str, Any]) -> str:
    """Every text a person reads: the blocks' text objects and the notification text."""
    return "\n".join([payload.get("text") or "", *(t for _, t in texts(payload))])


def test_screens_show_tier_labels_and_numbers_with_their_scale(url: str) -> None:
    admin = Viewer("UADMIN", None, "admin", None, None, "Ada Admin", True)
    with session_factory(url)() as session:
        csm = _largest_csm(session)
        payloads = [
            csm_digest(digest_data.csm_digest(session, CONFIG, csm.id, NOW)),
            manager_digest(digest_data.manager_digest(session, CONFIG, None, NOW)),
            home_view(digest_data.home_view(session, CONFIG, admin, NOW)),
        ]
        for service in (health.my_attention, health.risk_list, health.expansion_list):
            lines = service(session, CONFIG, admin, NOW)
            payloads.append(account_list("List", lines, "none", CONFIG.slack.digest_limit))
        alerts = list(session.scalars(select(Alert)))
        cards = [alert_card(item, NOW) for item in alert_items(session, alerts)]
        assert all("*Health score*" in _read(c) for c in cards)
        payloads += cards
        account_ids = session.scalars(select(Account.id).limit(20)).all()
        for account_id in account_ids:
            card = health.health_card(session, CONFIG, admin, account_id, NOW)
            if isinstance(card, HealthCard):
                payloads.append(health_card(card))
        expansion = health.expansion_list(session, CONFIG, admin, NOW)
    assert expansion, "the sample workspace has expansion candidates"
    for line in expansion:  # the signals behind the score, not the score again
        assert "expansion score" not in line.why.lower(), line.why
    for payload in payloads:
        text = _read(payload)
        assert "at_risk" not in text
        assert not re.search(r"[Ee]xpansion( score)? \d+(?!\d*/100)\b", text), text[:300]
