"""What Pulse sends on its own: each person's new alerts of a run in one message (posted,
then updated in place) and digests.

Nothing here calls Slack. These functions decide what to send and where, and return it
(:class:`AlertPlan`, :class:`AlertCard`, :class:`DigestMessage`); the jobs of
:mod:`pulse.jobs.deliver` hand each one to the injected
:class:`pulse.services.outbox.Delivery` and record where it landed
(``alerts.bundles.record_bundle``), so the CLI (`pulse alerts`, `pulse digest`), the
daily pipeline, live rescoring and the bot share the same rules. Dry runs render the same
values as text (:func:`payload_as_text`) without any Slack token.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from digests.cards import alert_bundle, alert_card
from digests.chart import trend_chart_png
from digests.digest_blocks import csm_digest as csm_digest_blocks
from digests.digest_blocks import manager_digest as manager_digest_blocks
from digests.views import AlertBundle, AlertItem
from pulse.kernel.clock import local_date
from pulse.kernel.config import PulseConfig
from pulse.services import alerts as alert_service
from pulse.services import digest_data, preferences
from pulse.services.alerts import bundles as alert_bundles
from pulse.services.outbox import Message, Posted
from storage.models import Account, Alert, DigestSend, Owner, ScoreSnapshot

CHART_DAYS = 30
"""The manager digest's trend chart covers this many days."""

# ---------------------------------------------------------------------------------------
# Alert cards


@dataclass(frozen=True)
class AlertCard:
    """A posted message showing ``item`` (its own card, or the message of new alerts it
    was part of), re-rendered to replace message ``ts`` in channel ``destination``."""

    item: AlertItem
    destination: str
    payload: dict[str, Any]
    ts: str

    @property
    def what(self) -> str:
        return f"alert card {self.item.id}"

    def message(self) -> Message:
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
    """The message the alert was posted in, re-rendered in its current state: the whole
    message of new alerts it was part of, or its own card. None when it was never posted,
    or when that message is one of the ``skip`` messages (channel, ts), checked before any
    rendering."""
    alert = session.get(Alert, item.id)
    if alert is None or not alert.slack_channel or not alert.slack_ts:
        return None
    if (alert.slack_channel, alert.slack_ts) in set(skip):
        return None
    if alert.bundle_id is not None:
        found = alert_bundles.posted_bundle(session, alert.bundle_id)
        if found is not None:
            row, bundle = found
            return AlertCard(item, row.channel, alert_bundle(bundle), row.ts)
    return AlertCard(item, alert.slack_channel, alert_card(item, now), alert.slack_ts)


@dataclass(frozen=True)
class BundleMessage:
    """One person's (or channel's) new alerts of a run, to post as one message.

    ``catch_all``: ids of its alerts routed to the catch-all channel because the person
    their route names has no Slack user. ``copies``: ids of alerts shown because the
    recipient follows the account (the alert stays recorded on its owner's message).
    """

    destination: str
    bundle: AlertBundle
    payload: dict[str, Any]
    catch_all: frozenset[int] = frozenset()
    copies: frozenset[int] = frozenset()

    @property
    def recorded(self) -> AlertBundle:
        """The bundle whose alerts are recorded as posted here: without ``copies`` (alerts
        of accounts the recipient follows, whose record stays with their owner's message)."""
        if not self.copies:
            return self.bundle
        return replace(self.bundle, alerts=[a for a in self.bundle.alerts
                                            if a.id not in self.copies])

    @property
    def what(self) -> str:
        return f"alert message for {self.destination} ({len(self.bundle.alerts)} alert(s))"

    def message(self) -> Message:
        return Message(self.destination, self.payload, self.what)


@dataclass(frozen=True)
class AlertPlan:
    """What a run sends about alerts: one message per person (``messages``), the alerts
    that wait for the morning digest (``held``), those nobody can receive (``unrouted``)
    and the posted messages to re-render (``updates``: resolved alerts)."""

    messages: list[BundleMessage] = field(default_factory=list)
    held: list[AlertItem] = field(default_factory=list)
    unrouted: list[AlertItem] = field(default_factory=list)
    updates: list[AlertCard] = field(default_factory=list)


def _followers_to_copy(
    config: PulseConfig, rules: preferences.AlertRules, item: AlertItem, where: str | None
) -> list[str]:
    """The people following the alert's account who get a copy: not its recipient, not
    muting the account, and the alert at least their lowest DM severity."""
    return [
        user
        for user in rules.followers.get(item.account_id, [])
        if user != where
        and (user, item.account_id) not in rules.muted
        and rules.dm_allowed(config, user, item.severity)
    ]


def plan_alerts(
    session: Session, config: PulseConfig, changes: alert_service.AlertChanges, now: datetime
) -> AlertPlan:
    """Who gets which new alerts this run, as one message each.

    New (raised) and reopened alerts are grouped by destination (``slack.alert_routes``,
    then the catch-all), largest ARR first, at most ``alerts.dm_max_alerts`` per message;
    the rest, and alerts below the person's lowest DM severity (their ``/health settings``,
    else ``alerts.dm_min_severity``), are held for the morning digest and counted in the
    message ("+6 more in your morning digest"). An account the person muted is not in
    their message (its alert waits in the digest, uncounted). People who follow the
    account get a copy in their own message (``copies``), under their own severity and
    mutes. The baseline (conditions that already held when Pulse started watching) adds
    one line to the message of each person it concerns, and of their managers, sent even
    when that is all the message says. Resolved alerts re-render the message they were
    posted in.
    """
    plan = AlertPlan()
    rules = preferences.alert_rules(session, now)
    groups: dict[str, list[AlertItem]] = defaultdict(list)
    held: dict[str, int] = defaultdict(int)
    catch_all: set[int] = set()
    copies: set[tuple[str, int]] = set()
    for item in [*changes.raised, *changes.reopened]:
        where, to_catch_all = alert_destination(session, config, item.id)
        if where is None:
            plan.unrouted.append(item)
        elif (where, item.account_id) in rules.muted:
            plan.held.append(item)
        elif not rules.dm_allowed(config, where, item.severity):
            plan.held.append(item)
            held[where] += 1
        else:
            groups[where].append(item)
            if to_catch_all:
                catch_all.add(item.id)
        for user in _followers_to_copy(config, rules, item, where):
            groups[user].append(item)
            copies.add((user, item.id))
    cap = config.alerts.dm_max_alerts
    for where, items in groups.items():
        ordered = alert_bundles.by_arr(items)
        groups[where] = ordered[:cap]
        over = [i for i in ordered[cap:] if (where, i.id) not in copies]
        plan.held.extend(over)
        held[where] += len(over)
    notes = alert_bundles.baseline_notes(
        session, changes.baselined, lambda i: alert_destination(session, config, i), now
    )
    for where in sorted(set(groups) | set(notes)):
        bundle = AlertBundle(groups.get(where, []), held[where], notes.get(where))
        ids = frozenset(i.id for i in bundle.alerts)
        mine = frozenset(i for i in ids if (where, i) in copies)
        plan.messages.append(
            BundleMessage(where, bundle, alert_bundle(bundle), ids & catch_all, mine)
        )
    seen: set[tuple[str, str]] = set()
    for item in changes.resolved:
        card = posted_card(session, item, now, skip=seen)
        if card is not None:
            seen.add((card.destination, card.ts))
            plan.updates.append(card)
    return plan


def with_unposted(
    session: Session,
    changes: alert_service.AlertChanges,
    account_ids: Collection[int] | None = None,
) -> alert_service.AlertChanges:
    """``changes`` plus open alerts never posted (no stored ts) nor held for the digest.

    ``evaluate_alerts`` reports a raised alert once; if Slack was unreachable or the
    recipient unknown at that moment, the alert would otherwise never be announced. Adding
    the unposted ones makes each ``pulse alerts`` run catch up on earlier failures.
    ``account_ids`` limits the catch-up to those accounts (live rescoring must never
    announce another account's alert).
    """
    known = {a.id for a in [*changes.raised, *changes.reopened]}
    stmt = select(Alert).where(
        Alert.status == "open", Alert.slack_ts.is_(None), Alert.held_at.is_(None)
    )
    if account_ids is not None:
        stmt = stmt.where(Alert.account_id.in_(list(account_ids)))
    pending = session.scalars(stmt.order_by(Alert.id)).all()
    extra = alert_service.alert_items(session, [a for a in pending if a.id not in known])
    if not extra:
        return changes
    return replace(changes, raised=[*changes.raised, *extra])


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


def digest_day(config: PulseConfig, now: datetime) -> date:
    """The day a digest counts for: the workspace's local date."""
    return local_date(config.workspace.timezone, now)


def already_sent(
    session: Session, config: PulseConfig, now: datetime, digests: Iterable[DigestMessage]
) -> list[DigestMessage]:
    """Those of ``digests`` whose recipient already got that kind of digest today."""
    sent = set(
        session.execute(
            select(DigestSend.destination, DigestSend.kind).where(
                DigestSend.day == digest_day(config, now)
            )
        ).all()
    )
    return [d for d in digests if (d.destination, d.kind) in sent]


def record_digest_sent(
    session: Session, config: PulseConfig, now: datetime, digest: DigestMessage, posted: Posted
) -> None:
    """Remember that ``digest`` went out today (where it landed), so it is not sent twice."""
    session.add(
        DigestSend(
            day=digest_day(config, now),
            destination=digest.destination,
            kind=digest.kind,
            sent_at=now,
            channel=posted.channel,
            ts=posted.ts,
        )
    )
    session.flush()


# ---------------------------------------------------------------------------------------
# Text rendering (dry runs)


_DATE_TOKEN = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
_LINK = re.compile(r"<(?:https?|mailto):[^|>]*\|([^>]*)>")
_BARE_LINK = re.compile(r"<((?:https?|mailto):[^|>]*)>")
_MENTION = re.compile(r"<([@#!])([^|>]*)(?:\|([^>]*))?>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")


def readable(mrkdwn: str) -> str:
    """Slack mrkdwn as a terminal shows it: date tokens as their fallback, links as their
    text, mentions as ``@U123``, no ``*bold*`` or ``_italic_`` marks, and ``&amp;``
    ``&lt;`` ``&gt;`` unescaped."""
    text = _BOLD.sub(r"\1", mrkdwn)
    text = _ITALIC.sub(r"\1", text)
    text = _DATE_TOKEN.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _BARE_LINK.sub(r"\1", text)
    text = _MENTION.sub(lambda m: m.group(3) or m.group(1) + m.group(2), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return readable(str(obj.get("text") or ""))
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
        lines.append(readable(str(payload.get("text") or "")))
    return "\n".join(lines)
