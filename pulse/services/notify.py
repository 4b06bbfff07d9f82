"""What Pulse sends on its own: alert cards (posted, then updated in place) and digests.

Nothing here calls Slack. These functions decide what to send and where, and return it
(:class:`AlertCard`, :class:`DigestMessage`); the jobs of :mod:`pulse.jobs.deliver` hand
each one to the injected :class:`pulse.services.outbox.Delivery` and record where it
landed (``alerts.record_message``), so the CLI (`pulse alerts`, `pulse digest`), the
daily pipeline, live rescoring and the bot share the same rules. Dry runs render the same
values as text (:func:`payload_as_text`) without any Slack token.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from digests.cards import alert_card
from digests.chart import trend_chart_png
from digests.digest_blocks import csm_digest as csm_digest_blocks
from digests.digest_blocks import manager_digest as manager_digest_blocks
from digests.views import AlertItem
from pulse.kernel.config import PulseConfig
from pulse.services import alerts as alert_service
from pulse.services import digest_data
from pulse.services.outbox import Message
from storage.models import Account, Alert, Owner, ScoreSnapshot

CHART_DAYS = 30
"""The manager digest's trend chart covers this many days."""

CardKind = Literal["raised", "reopened", "resolved"]


# ---------------------------------------------------------------------------------------
# Alert cards


@dataclass(frozen=True)
class AlertCard:
    """An alert's card to post (raised, reopened) or to update in place (resolved).

    ``destination`` is the configured route for a new card (None: no route, or no Slack
    id for the person and no catch-all channel) and the posted card's channel for an
    update, whose ``ts`` is the message to replace (None when the card was never posted).
    ``catch_all``: the new card goes to the catch-all channel because the person its
    route names has no Slack user.
    """

    kind: CardKind
    item: AlertItem
    destination: str | None
    payload: dict[str, Any]
    ts: str | None = None
    catch_all: bool = False

    @property
    def what(self) -> str:
        return f"alert card {self.item.id}"

    def message(self) -> Message:
        assert self.destination is not None, "an alert card without a destination"
        return Message(self.destination, self.payload, self.what)


def alert_destination(
    session: Session, config: PulseConfig, alert_id: int
) -> tuple[str | None, bool]:
    """Where an alert's card goes (a channel id or a person's Slack user id) and whether
    that is the catch-all channel (``alerts.destination``)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None, False
    return alert_service.destination(session, config, alert)


def posted_card(
    session: Session, item: AlertItem, now: datetime, *, skip: Iterable[tuple[str, str]] = ()
) -> AlertCard | None:
    """The alert's posted card re-rendered in its current state; None when it was never
    posted, or when it is one of the ``skip`` messages (channel, ts), checked before any
    rendering."""
    alert = session.get(Alert, item.id)
    if alert is None or not alert.slack_channel or not alert.slack_ts:
        return None
    if (alert.slack_channel, alert.slack_ts) in set(skip):
        return None
    return AlertCard("resolved", item, alert.slack_channel, alert_card(item, now), alert.slack_ts)


def alert_cards(
    session: Session, config: PulseConfig, changes: alert_service.AlertChanges, now: datetime
) -> list[AlertCard]:
    """Every card a run posts (raised, then reopened) or updates (resolved), in that order.

    A reopened alert gets a new card (a fresh notification). A resolved alert whose card
    was never posted has nothing to update and is left out.
    """
    new: tuple[tuple[CardKind, list[AlertItem]], ...] = (
        ("raised", changes.raised),
        ("reopened", changes.reopened),
    )
    cards = []
    for kind, items in new:
        for item in items:
            where, catch_all = alert_destination(session, config, item.id)
            cards.append(AlertCard(kind, item, where, alert_card(item, now), catch_all=catch_all))
    for item in changes.resolved:
        card = posted_card(session, item, now)
        if card is not None:
            cards.append(card)
    return cards


def with_unposted(
    session: Session,
    changes: alert_service.AlertChanges,
    account_ids: Collection[int] | None = None,
) -> alert_service.AlertChanges:
    """``changes`` plus open alerts whose card was never posted (no stored ts).

    ``evaluate_alerts`` reports a raised alert once; if Slack was unreachable or the
    recipient unknown at that moment, the alert would otherwise never be announced. Adding
    the unposted ones makes each ``pulse alerts`` run catch up on earlier failures.
    ``account_ids`` limits the catch-up to those accounts (live rescoring must never
    announce another account's alert).
    """
    known = {a.id for a in [*changes.raised, *changes.reopened]}
    stmt = select(Alert).where(Alert.status == "open", Alert.slack_ts.is_(None))
    if account_ids is not None:
        stmt = stmt.where(Alert.account_id.in_(list(account_ids)))
    pending = session.scalars(stmt.order_by(Alert.id)).all()
    extra = alert_service.alert_items(session, [a for a in pending if a.id not in known])
    if not extra:
        return changes
    return alert_service.AlertChanges(
        raised=[*changes.raised, *extra],
        resolved=list(changes.resolved),
        reopened=list(changes.reopened),
    )


def alert_card_previews(
    session: Session, config: PulseConfig, changes: alert_service.AlertChanges, now: datetime
) -> list[tuple[str, str | None, dict[str, Any]]]:
    """``(kind, destination, payload)`` for every card a run would post or update, for
    ``pulse alerts --dry-run``."""
    return [
        (card.kind, card.destination, card.payload)
        for card in alert_cards(session, config, changes, now)
    ]


# ---------------------------------------------------------------------------------------
# Digests


@dataclass(frozen=True)
class DigestMessage:
    """One digest to deliver: who it is for, where it goes, and the payload."""

    kind: str  # "csm" | "manager"
    owner_id: int | None  # None for the all-accounts channel digest
    destination: str  # Slack user id (DM) or channel id
    payload: dict[str, Any]
    chart: bytes | None = None
    chart_title: str | None = None

    def message(self) -> Message:
        return Message(self.destination, self.payload, f"{self.kind} digest for {self.destination}")


def portfolio_trend(
    session: Session, manager_id: int | None, now: datetime, days: int = CHART_DAYS
) -> list[tuple[date, float]]:
    """Average health score per scoring date over the last ``days`` for a manager's team
    (the manager and their direct reports, as in the digest) or for every account."""
    today = now.date()
    stmt = (
        select(ScoreSnapshot.as_of, func.avg(ScoreSnapshot.score))
        .join(Account, Account.id == ScoreSnapshot.account_id)
        .where(ScoreSnapshot.as_of <= today, ScoreSnapshot.as_of > today - timedelta(days=days))
        .group_by(ScoreSnapshot.as_of)
        .order_by(ScoreSnapshot.as_of)
    )
    if manager_id is not None:
        team = select(Owner.id).where(or_(Owner.manager_id == manager_id, Owner.id == manager_id))
        stmt = stmt.where(Account.owner_id.in_(team.scalar_subquery()))
    return [(d, round(float(s), 1)) for d, s in session.execute(stmt).all()]


def _chart(
    session: Session, config: PulseConfig, manager_id: int | None, scope: str, now: datetime
) -> tuple[bytes | None, str | None]:
    if not config.slack.chart:
        return None, None
    title = f"Average health: {scope}"
    series = portfolio_trend(session, manager_id, now)
    return trend_chart_png({scope: series}, title), title


def build_digests(
    session: Session,
    config: PulseConfig,
    now: datetime,
    only: Callable[[int, str], bool] | None = None,
) -> list[DigestMessage]:
    """Every digest of a morning run, without sending anything.

    Each recipient who owns accounts gets their CSM digest (DM). Managers get their team's
    portfolio by DM, unless ``slack.manager_digest_channel`` is set: then one digest of
    all accounts goes to that channel instead. ``only(owner_id, slack_user_id)`` restricts
    the run to some recipients (``pulse digest --user``); the channel digest is kept when
    the selected person is a manager.
    """
    limit = config.slack.digest_limit
    out: list[DigestMessage] = []
    channel = config.slack.manager_digest_channel
    channel_digest = False
    for owner_id, slack_id, is_manager in digest_data.digest_recipients(session):
        if only is not None and not only(owner_id, slack_id):
            continue
        csm = digest_data.csm_digest(session, config, owner_id, now)
        if csm.accounts_total or not is_manager:
            out.append(DigestMessage("csm", owner_id, slack_id, csm_digest_blocks(csm, limit)))
        if is_manager:
            if channel:
                channel_digest = True
                continue
            md = digest_data.manager_digest(session, config, owner_id, now)
            chart, title = _chart(session, config, owner_id, md.scope, now)
            out.append(
                DigestMessage(
                    "manager", owner_id, slack_id, manager_digest_blocks(md, limit), chart, title
                )
            )
    if channel and (channel_digest or only is None):
        md = digest_data.manager_digest(session, config, None, now)
        chart, title = _chart(session, config, None, md.scope, now)
        out.append(
            DigestMessage("manager", None, channel, manager_digest_blocks(md, limit), chart, title)
        )
    return out


# ---------------------------------------------------------------------------------------
# Text rendering (dry runs)


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text") or "")
    return ""


def payload_as_text(payload: dict[str, Any]) -> str:
    """A plain rendering of a Block Kit payload for terminals (``--dry-run``): headers,
    sections and fields, context lines, and buttons as ``[Label]``."""
    lines: list[str] = []
    for block in payload.get("blocks") or []:
        kind = block.get("type")
        if kind == "header":
            title = _text_of(block.get("text"))
            lines += [title, "=" * min(len(title), 80)]
        elif kind == "section":
            if block.get("text"):
                lines.append(_text_of(block["text"]))
            for f in block.get("fields") or []:
                lines.append("  " + _text_of(f).replace("\n", ": ", 1))
            acc = block.get("accessory")
            if isinstance(acc, dict) and acc.get("type") == "button":
                lines.append(f"  [{_text_of(acc.get('text'))}]")
        elif kind == "context":
            lines.append("  " + " ".join(_text_of(e) for e in block.get("elements") or []))
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "actions":
            labels = []
            for el in block.get("elements") or []:
                if el.get("type") == "button":
                    labels.append(f"[{_text_of(el.get('text'))}]")
                elif el.get("type") == "static_select":
                    labels.append(f"[{_text_of(el.get('placeholder'))} v]")
            lines.append(" ".join(labels))
    if not lines:
        lines.append(str(payload.get("text") or ""))
    return "\n".join(lines)
