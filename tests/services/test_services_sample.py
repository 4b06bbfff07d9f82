"""The generated sample workspace end to end: scopes hold for every recipient."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from factories import watch_all
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.sample import SampleConnector
from digests.views import HealthCard
from pulse.kernel.config import parse_config
from pulse.services.access import resolve_viewer, visible
from pulse.services.alerts import evaluate_alerts
from pulse.services.digest_data import csm_digest, digest_recipients, home_view, manager_digest
from pulse.services.health import health_lookup
from scoring.engine import run_scoring
from storage.loader import load_batch
from storage.models import Account, Owner


def test_sample_workspace_end_to_end(session: Session) -> None:
    """The generated workspace: every digest and home view stays inside its scope."""
    end = date(2026, 3, 8)
    cfg = parse_config({"sources": {"sample": {"accounts": 20, "days": 30, "end_date": end}}})
    for batch in SampleConnector(cfg).pull(None, full=True):
        load_batch(session, "sample", batch)
    for day in (end - timedelta(days=7), end):
        run_scoring(session, cfg, day)
    watch_all(session)  # watched for a while: conditions raise alerts (no first-run baseline)
    now = datetime.combine(end, datetime.min.time()) + timedelta(hours=7)
    changes = evaluate_alerts(session, cfg, now)
    assert changes.raised and not changes.resolved and not changes.reopened
    assert not evaluate_alerts(session, cfg, now)  # idempotent
    recipients = digest_recipients(session)
    assert recipients
    owner_of = dict(session.execute(select(Account.id, Account.owner_id)).all())
    for owner_id, slack_id, is_manager in recipients:
        viewer = resolve_viewer(session, cfg, slack_id, None)
        scope = set(session.scalars(select(Account.id).where(visible(session, viewer))))
        home = home_view(session, cfg, viewer, now)
        assert {a.account_id for a in home.accounts} <= scope
        if is_manager:
            digest = manager_digest(session, cfg, owner_id, now)
            team = set(
                session.scalars(
                    select(Owner.id).where((Owner.manager_id == owner_id) | (Owner.id == owner_id))
                )
            )
            assert all(owner_of[a.account_id] in team for a in digest.drops + digest.rises)
        else:
            digest_ = csm_digest(session, cfg, owner_id, now)
            assert all(owner_of[a.account_id] == owner_id for a in digest_.attention)
    # Every raised alert's account shows a card to its owner.
    for item in changes.raised[:3]:
        owner = session.get(Owner, owner_of[item.account_id])
        assert owner is not None and owner.slack_user_id
        viewer = resolve_viewer(session, cfg, owner.slack_user_id, None)
        card = health_lookup(session, cfg, viewer, item.account_name, now)
        assert isinstance(card, HealthCard)
        assert item.id in {a.id for a in card.alerts}
