"""Sending what the services decided: alert cards, digests, expiry notices, reminders.

Each function takes the :class:`pulse.services.outbox.Delivery` its caller was given
(``bot.delivery.SlackDelivery`` from the entry points), asks a service what to send,
sends it, and has the service record where it landed. Slack errors are per message:
logged, reported, and the run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from digests.views import AlertItem
from pulse.kernel.config import PulseConfig
from pulse.services import alerts as alert_service
from pulse.services import notify, overrides, playbooks
from pulse.services.notify import AlertCard, DigestMessage
from pulse.services.outbox import Delivery, DeliveryError

log = logging.getLogger("pulse.jobs.deliver")

CHART_FILENAME = "pulse-health-trend.png"
CHART_TITLE = "Health trend"
"""The chart's title (and alt text) when its digest gives none."""


# ---------------------------------------------------------------------------------------
# Alert cards


@dataclass
class AlertDelivery:
    """What :func:`post_alert_cards` did, for the CLI summary and the tests."""

    posted: list[tuple[int, str, str]] = field(default_factory=list)  # (alert id, channel, ts)
    updated: list[tuple[int, str, str]] = field(default_factory=list)
    unrouted: list[int] = field(default_factory=list)  # no route / no Slack id, no catch-all
    catch_all: list[int] = field(default_factory=list)  # posted to the catch-all channel
    failed: list[tuple[int, str]] = field(default_factory=list)  # (alert id, Slack error)

    def __str__(self) -> str:
        parts = [f"{len(self.posted)} alert card(s) posted", f"{len(self.updated)} updated"]
        if self.catch_all:
            parts.append(f"{len(self.catch_all)} of them to the catch-all channel")
        if self.unrouted:
            parts.append(f"{len(self.unrouted)} without a recipient")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


def post_alert_cards(
    delivery: Delivery,
    session: Session,
    config: PulseConfig,
    changes: alert_service.AlertChanges,
    now: datetime,
    *,
    commit: bool = True,
) -> AlertDelivery:
    """Post cards for raised and reopened alerts; update the cards of resolved ones.

    Each posted card's channel and ts are recorded (``alerts.record_message``) and, with
    ``commit`` (the default), committed right away: a crash after posting must not lose
    the ts, or the next run could not update that message. A reopened alert gets a new
    card (a fresh notification) and its record moves to the new message.
    """
    report = AlertDelivery()
    run = delivery.batch()
    for card in notify.alert_cards(session, config, changes, now):
        if card.kind == "resolved":
            _update_card(run, card, report)
            continue
        if _post_card(run, session, card, report) and commit:
            session.commit()
    if commit:
        session.commit()
    return report


def _post_card(
    delivery: Delivery, session: Session, card: AlertCard, report: AlertDelivery
) -> bool:
    """Post one new card and record where it landed; True when it was posted."""
    item = card.item
    if card.destination is None:
        log.warning(
            "alert %s (%s, %s): no route, or no Slack user for the recipient and no "
            "slack.catch_all_channel / admin_channel; not posted (see `pulse people`)",
            item.id,
            item.account_name,
            item.rule,
        )
        report.unrouted.append(item.id)
        return False
    try:
        posted = delivery.post(card.message())
    except DeliveryError as exc:
        log.error("posting alert %s to %s failed: %s", item.id, card.destination, exc.error)
        report.failed.append((item.id, exc.error))
        return False
    if posted is None:
        report.failed.append((item.id, "invalid_blocks"))
        return False
    alert_service.record_message(
        session, item.id, posted.channel, posted.ts, catch_all=card.catch_all
    )
    report.posted.append((item.id, posted.channel, posted.ts))
    if card.catch_all:
        report.catch_all.append(item.id)
    return True


def _update_card(delivery: Delivery, card: AlertCard, report: AlertDelivery | None) -> bool:
    if not card.destination or not card.ts:
        return False
    try:
        updated = delivery.update(card.message(), card.ts)
    except DeliveryError as exc:
        log.error("updating the card of alert %s failed: %s", card.item.id, exc.error)
        if report is not None:
            report.failed.append((card.item.id, exc.error))
        return False
    if updated is None:
        if report is not None:
            report.failed.append((card.item.id, "invalid_blocks"))
        return False
    if report is not None:
        report.updated.append((card.item.id, updated.channel, updated.ts))
    return True


def update_alert_card(
    delivery: Delivery,
    session: Session,
    item: AlertItem,
    now: datetime,
    *,
    skip: Iterable[tuple[str, str]] = (),
) -> bool:
    """Re-render the alert's posted card (if it has one) to show its current state.

    ``skip`` lists (channel, ts) messages the caller has already updated, e.g. the very
    card a user clicked. Returns True when a message was updated.
    """
    card = notify.posted_card(session, item, now, skip=skip)
    if card is None:
        return False
    return _update_card(delivery, card, None)


# ---------------------------------------------------------------------------------------
# Digests


@dataclass
class DigestDelivery:
    """What :func:`send_digests` did."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, channel, ts)
    charts: list[tuple[str, str]] = field(default_factory=list)  # (channel, file id)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (destination, error)

    def __str__(self) -> str:
        parts = [f"{len(self.sent)} digest(s) sent", f"{len(self.charts)} chart(s)"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


def send_digests(
    delivery: Delivery | None,
    session: Session,
    config: PulseConfig,
    now: datetime,
    dry_run: bool = False,
    only: Callable[[int, str], bool] | None = None,
) -> tuple[list[DigestMessage], DigestDelivery]:
    """Build every digest (:func:`pulse.services.notify.build_digests`) and, unless
    ``dry_run``, deliver it.

    A person's digest goes to their DM; the manager digest's trend chart follows it in the
    same conversation when ``slack.chart`` is on. Errors are per recipient: logged,
    reported, and the run continues. ``delivery`` may be None only with ``dry_run``.
    """
    messages = notify.build_digests(session, config, now, only)
    report = DigestDelivery()
    if dry_run:
        return messages, report
    if delivery is None:
        raise ValueError("a delivery is required unless dry_run")
    run = delivery.batch()
    for digest in messages:
        try:
            _send_digest(run, digest, report)
        except DeliveryError as exc:
            log.error(
                "sending the %s digest to %s failed: %s", digest.kind, digest.destination, exc.error
            )
            report.failed.append((digest.destination, exc.error))
    return messages, report


def _send_digest(delivery: Delivery, digest: DigestMessage, report: DigestDelivery) -> None:
    posted = delivery.post(digest.message())
    if posted is None:
        report.failed.append((digest.destination, "invalid_blocks"))
        return
    report.sent.append((digest.kind, posted.channel, posted.ts))
    if digest.chart is not None:
        title = digest.chart_title or CHART_TITLE
        file_id = delivery.upload(
            digest.destination, digest.chart, filename=CHART_FILENAME, title=title
        )
        report.charts.append((posted.channel, file_id))


# ---------------------------------------------------------------------------------------
# Override expiry notices and playbook reminders (the scheduler's frequent check)


def send_expiry_notices(
    session: Session, config: PulseConfig, delivery: Delivery | None, now: datetime
) -> int:
    """Expire what ended and DM authors whose entries end soon; returns DMs sent.

    Without a delivery the notices are not marked, so they go out once Slack is configured.
    """
    if delivery is None:
        return 0
    sent = 0
    for notice in overrides.expiry_messages(session, config, now):
        try:
            posted = delivery.post(notice.message)
        except DeliveryError as exc:
            overrides.record_notice_failure(session, notice.account_id, exc.error, now)
            continue
        if posted is None:
            overrides.record_notice_failure(session, notice.account_id, "invalid_blocks", now)
            continue
        sent += 1
    return sent


def send_due_reminders(session: Session, delivery: Delivery | None, now: datetime) -> int:
    """DM each reminder that is due to its account's owner, once; the caller commits.

    Run by the scheduler's frequent check, so a reminder goes out within minutes of its
    time. Without a delivery (no Slack token) a reminder is kept, marked with why, for
    when Slack is configured; without a Slack id for the owner it is closed with why.
    """
    sent = 0
    for due in playbooks.due_reminders(session, now):
        if delivery is None:
            playbooks.hold_reminder(session, due.reminder_id, "no Slack token")
            continue
        if due.message is None:
            outcome = "owner has no Slack id"
        else:
            try:
                posted = delivery.post(due.message)
                error = None if posted is not None else "invalid_blocks"
            except DeliveryError as exc:
                error = exc.error
            outcome = f"sent to {due.message.destination}" if error is None else f"Slack: {error}"
            sent += error is None
        playbooks.close_reminder(session, due.reminder_id, outcome[:200], now)
    session.flush()
    return sent
