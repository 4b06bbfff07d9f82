"""Sending what the services decided: alert messages, digests, expiry notices, reminders.

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
from pulse.services import notify, overrides, preferences, reminders
from pulse.services.alerts import bundles as alert_bundles
from pulse.services.notify import AlertCard, BundleMessage, DigestMessage
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
    messages: int = 0  # messages posted (one per person: each holds several alerts)
    updated: list[tuple[int, str, str]] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # wait for the morning digest
    unrouted: list[int] = field(default_factory=list)  # no route / no Slack id, no catch-all
    catch_all: list[int] = field(default_factory=list)  # posted to the catch-all channel
    failed: list[tuple[int, str]] = field(default_factory=list)  # (alert id, Slack error)

    def __str__(self) -> str:
        parts = [
            f"{len(self.posted)} alert(s) posted in {self.messages} message(s)",
            f"{len(self.updated)} updated",
        ]
        if self.catch_all:
            parts.append(f"{len(self.catch_all)} of them to the catch-all channel")
        if self.held:
            parts.append(f"{len(self.held)} held for the morning digest")
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
    """Post each person's new alerts of the run in one message
    (:func:`pulse.services.notify.plan_alerts`) and re-render the messages of resolved ones.

    Each posted message is recorded (``alerts.bundles.record_bundle``: its channel and ts
    on each of its alerts) and, with ``commit`` (the default), committed right away: a
    crash after posting must not lose the ts, or the next run could not update that
    message. Alerts held for the morning digest are marked so. A reopened alert goes in
    a new message (a fresh notification) and its record moves there.
    """
    report = AlertDelivery()
    run = delivery.batch()
    plan = notify.plan_alerts(session, config, changes, now)
    for item in plan.unrouted:
        log.warning(
            "alert %s (%s, %s): no route, or no Slack user for the recipient and no "
            "slack.catch_all_channel / admin_channel; not posted (see `pulse people`)",
            item.id,
            item.account_name,
            item.rule,
        )
        report.unrouted.append(item.id)
    alert_bundles.hold(session, [i.id for i in plan.held], now)
    report.held.extend(i.id for i in plan.held)
    for bundle in plan.messages:
        if _post_bundle(run, session, bundle, now, report) and commit:
            session.commit()
    for card in plan.updates:
        _update_card(run, card, report)
    if commit:
        session.commit()
    return report


def _post_bundle(
    delivery: Delivery,
    session: Session,
    bundle: BundleMessage,
    now: datetime,
    report: AlertDelivery,
) -> bool:
    """Post one person's message and record where it landed; True when it was posted."""
    ids = [i.id for i in bundle.bundle.alerts]
    try:
        posted = delivery.post(bundle.message())
    except DeliveryError as exc:
        log.error("posting %s failed: %s", bundle.what, exc.error)
        report.failed.extend((i, exc.error) for i in ids)
        return False
    if posted is None:
        report.failed.extend((i, "invalid_blocks") for i in ids)
        return False
    where = (posted.channel, posted.ts)
    alert_bundles.record_bundle(
        session, bundle.destination, where, now, bundle.recorded, bundle.catch_all
    )
    report.messages += 1
    report.posted.extend((i, posted.channel, posted.ts) for i in ids)
    report.catch_all.extend(i for i in ids if i in bundle.catch_all)
    return True


def _update_card(delivery: Delivery, card: AlertCard, report: AlertDelivery | None) -> bool:
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
    already: list[str] = field(default_factory=list)  # destinations sent today: skipped
    quiet: list[str] = field(default_factory=list)  # people whose quiet day it is: skipped
    later: list[str] = field(default_factory=list)  # people whose own digest time is later

    @property
    def people_already(self) -> int:
        """How many people (or channels) were skipped: they had today's digest."""
        return len(set(self.already))

    def __str__(self) -> str:
        parts = [f"{len(self.sent)} digest(s) sent", f"{len(self.charts)} chart(s)"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.already:
            parts.append(
                f"digests already sent today to {self.people_already} "
                f"{'person' if self.people_already == 1 else 'people'}; --force sends them "
                "again"
            )
        if self.quiet:
            parts.append(f"{len(set(self.quiet))} on a quiet day (their /health settings)")
        if self.later:
            parts.append(f"{len(set(self.later))} later, at their own digest time")
        return ", ".join(parts)


def send_digests(
    delivery: Delivery | None,
    session: Session,
    config: PulseConfig,
    now: datetime,
    dry_run: bool = False,
    only: Callable[[int, str], bool] | None = None,
    *,
    force: bool = False,
    at_their_time: bool = False,
) -> tuple[list[DigestMessage], DigestDelivery]:
    """Build every digest (:func:`pulse.services.notify.build_digests`) and, unless
    ``dry_run``, deliver it; the digests returned are those sent (or, dry, to send).

    Once a day: a recipient who already got that digest today (the workspace's local
    day) is skipped and counted in ``already``, unless ``force``. Each digest sent is
    recorded and committed at once, so a run that fails half-way does not send the first
    half again. A person whose quiet day it is (``/health settings``, the workspace's
    local weekday) gets no digest and is counted in ``quiet``, unless ``force``. With
    ``at_their_time`` (the pipeline), a person whose own digest time is later today is
    counted in ``later`` and left to :func:`send_due_digests`. A
    person's digest goes to their DM; the manager digest's trend chart follows it in the
    same conversation when ``slack.chart`` is on. Errors are per
    recipient: logged, reported, and the run continues. ``delivery`` may be None only
    with ``dry_run``.
    """
    messages = notify.build_digests(session, config, now, only)
    report = DigestDelivery()
    if not force:
        skipped = {id(d): d for d in notify.already_sent(session, config, now, messages)}
        report.already.extend(d.destination for d in skipped.values())
        messages = [m for m in messages if id(m) not in skipped]
        quiet = preferences.quiet_today(session, config, now)
        report.quiet.extend(m.destination for m in messages if m.destination in quiet)
        messages = [m for m in messages if m.destination not in quiet]
    if at_their_time:
        times = preferences.digest_times(session, config, now)
        later = {user for user, when in times.items() if when > now}
        report.later.extend(m.destination for m in messages if m.destination in later)
        messages = [m for m in messages if m.destination not in later]
    if dry_run:
        return messages, report
    if delivery is None:
        raise ValueError("a delivery is required unless dry_run")
    run = delivery.batch()
    for digest in messages:
        try:
            _send_digest(run, session, config, now, digest, report)
        except DeliveryError as exc:
            log.error(
                "sending the %s digest to %s failed: %s", digest.kind, digest.destination, exc.error
            )
            report.failed.append((digest.destination, exc.error))
    return messages, report


def send_due_digests(
    delivery: Delivery | None, session: Session, config: PulseConfig, now: datetime
) -> DigestDelivery:
    """The scheduler's frequent check: the digests of people whose own digest time
    (``/health settings``) has come, once today's pipeline run has finished; each goes
    out at the first check at or after that time, once a day (those already sent are
    skipped as in :func:`send_digests`)."""
    due = {u for u, when in preferences.digest_times(session, config, now).items()
           if when <= now}
    if delivery is None or not due or not preferences.morning_run_finished(session, config, now):
        return DigestDelivery()
    _, report = send_digests(delivery, session, config, now, only=lambda _o, user: user in due,
                             at_their_time=True)
    return report


def _send_digest(
    delivery: Delivery,
    session: Session,
    config: PulseConfig,
    now: datetime,
    digest: DigestMessage,
    report: DigestDelivery,
) -> None:
    posted = delivery.post(digest.message())
    if posted is None:
        report.failed.append((digest.destination, "invalid_blocks"))
        return
    notify.record_digest_sent(session, config, now, digest, posted)
    session.commit()
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
    for due in reminders.due_reminders(session, now):
        if delivery is None:
            reminders.hold_reminder(session, due.reminder_id, "no Slack token")
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
        reminders.close_reminder(session, due.reminder_id, outcome[:200], now)
    session.flush()
    return sent
