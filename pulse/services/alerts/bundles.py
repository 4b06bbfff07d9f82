"""One message of new alerts per person and run: what it records and how it is rebuilt.

:mod:`pulse.services.notify` decides who gets which alerts; this module keeps the state
behind it: where a person's message landed (an :class:`AlertMessage` row, and each
alert's ``bundle_id``, ``slack_channel``, ``slack_ts``), which alerts wait for the morning
digest instead (``held_at``), the one-line baseline summary per person, and the view of a
posted message rebuilt from all that, so a click or a resolve re-renders it whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from digests.views import AlertBundle, AlertItem, BaselineNote
from pulse.services.alerts.views import alert_items
from pulse.services.portfolio import snapshot_dates
from storage.models import Account, Alert, AlertMessage, ScoreSnapshot

HELD_DAYS = 1
"""The morning digest lists alerts held back within this many days."""

Destination = Callable[[int], tuple[str | None, bool]]
"""Where an alert's message goes (by alert id): a Slack id and whether it is the catch-all."""


def by_arr(items: Sequence[AlertItem]) -> list[AlertItem]:
    """Largest ARR at risk first; ties by alert id."""
    return sorted(items, key=lambda a: (-(a.arr or 0.0), a.id))


def hold(session: Session, alert_ids: Collection[int], now: datetime) -> None:
    """Keep these alerts out of the DMs: the morning digest lists them."""
    for alert_id in alert_ids:
        alert = session.get(Alert, alert_id)
        if alert is not None and alert.held_at is None:
            alert.held_at = now
    session.flush()


def held_for_digest(
    session: Session, account_ids: Collection[int], now: datetime
) -> list[AlertItem]:
    """Open alerts of ``account_ids`` held back from the DMs in the last day."""
    if not account_ids:
        return []
    rows = session.scalars(
        select(Alert).where(
            Alert.account_id.in_(list(account_ids)),
            Alert.status == "open",
            Alert.held_at > now - timedelta(days=HELD_DAYS),
        )
    ).all()
    return by_arr(alert_items(session, rows))


def record_bundle(
    session: Session,
    destination: str,
    where: tuple[str, str],
    now: datetime,
    bundle: AlertBundle,
    catch_all: Collection[int] = (),
) -> AlertMessage:
    """Remember a posted message of new alerts (``where``: its channel and ts) and that
    each of its alerts was posted there (``catch_all``: alerts sent to the catch-all)."""
    channel, ts = where
    baseline = bundle.baseline
    row = AlertMessage(
        destination=destination,
        channel=channel,
        ts=ts,
        sent_at=now,
        held=bundle.held,
        baseline=None
        if baseline is None
        else {"accounts": baseline.accounts, "at_risk": baseline.at_risk, "team": baseline.team},
    )
    session.add(row)
    session.flush()
    for item in bundle.alerts:
        alert = session.get(Alert, item.id)
        if alert is None:
            continue
        alert.bundle_id = row.id
        alert.slack_channel, alert.slack_ts = channel, ts
        alert.catch_all = item.id in catch_all
        alert.held_at = None  # sent after all (reopened): no longer the digest's
    session.flush()
    return row


def posted_bundle(session: Session, bundle_id: int) -> tuple[AlertMessage, AlertBundle] | None:
    """A posted message of new alerts and its view with every alert's current state."""
    row = session.get(AlertMessage, bundle_id)
    if row is None:
        return None
    alerts = session.scalars(select(Alert).where(Alert.bundle_id == bundle_id)).all()
    note = BaselineNote(**row.baseline) if row.baseline else None
    return row, AlertBundle(by_arr(alert_items(session, alerts)), row.held, note)


def baseline_notes(
    session: Session, baselined: Sequence[AlertItem], destination: Destination, now: datetime
) -> dict[str, BaselineNote]:
    """The one-line baseline summary per person: for whoever the alerts would have gone to
    (``destination``), and for their owners' managers (the team's accounts)."""
    if not baselined:
        return {}
    at_risk = _at_risk(session, {i.account_id for i in baselined}, now)
    own: dict[str, set[int]] = defaultdict(set)
    team: dict[str, set[int]] = defaultdict(set)
    for item in baselined:
        where, _ = destination(item.id)
        if where:
            own[where].add(item.account_id)
    managers = _managers(session, {i.account_id for i in baselined})
    for item in baselined:
        manager = managers.get(item.account_id)
        if manager and manager not in own:
            team[manager].add(item.account_id)
    notes = {
        who: BaselineNote(len(ids), len(ids & at_risk), team=False) for who, ids in own.items()
    }
    notes.update(
        {who: BaselineNote(len(ids), len(ids & at_risk), team=True) for who, ids in team.items()}
    )
    return notes


def _at_risk(session: Session, account_ids: set[int], now: datetime) -> set[int]:
    latest, _ = snapshot_dates(session, now.date())
    if latest is None:
        return set()
    return {
        int(a)
        for a in session.scalars(
            select(ScoreSnapshot.account_id).where(
                ScoreSnapshot.as_of == latest,
                ScoreSnapshot.tier == "at_risk",
                ScoreSnapshot.account_id.in_(list(account_ids)),
            )
        )
    }


def _managers(session: Session, account_ids: set[int]) -> dict[int, str]:
    """Account id -> the Slack user id of its owner's manager (where there is one)."""
    out: dict[int, str] = {}
    for account in session.scalars(select(Account).where(Account.id.in_(account_ids))):
        owner = account.owner
        manager = owner.manager if owner is not None else None
        if manager is not None and manager.slack_user_id:
            out[account.id] = manager.slack_user_id
    return out
