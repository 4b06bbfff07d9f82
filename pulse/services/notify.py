"""Delivering to Slack: alert cards (posted, then updated in place) and morning digests.

This is the one module outside ``bot/`` that talks to the Slack Web API, so the CLI
(`pulse alerts`, `pulse digest`) and the bot share the same delivery rules:

* **One WebClient recipe** (:func:`web_client`): ``SLACK_API_URL`` as the base, and
  slack_sdk's built-in :class:`RateLimitErrorRetryHandler`, which honours Slack's HTTP 429
  ``Retry-After``. Bolt copies the retry handlers into its per-request clients, so
  handlers get the same behaviour without hand-written retry loops anywhere.
* **DMs go through ``conversations.open``** (scope ``im:write``) rather than posting to a
  user id: the call returns the DM's real channel id (``D...``), which is what must be
  stored for ``chat.update`` later and what ``files_upload_v2`` requires; posting to a
  user id works for messages but not for file uploads, and stores a channel id that is
  not the one Slack later reports in click payloads.
* Every payload comes from a builder in :mod:`digests` and is checked with
  :func:`digests.limits.validate_message` before it is sent: a payload Slack would
  reject is logged with its violations and skipped, so one bad card never stops the rest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler, default_retry_handlers
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from digests.cards import alert_card
from digests.chart import trend_chart_png
from digests.digest_blocks import csm_digest as csm_digest_blocks
from digests.digest_blocks import manager_digest as manager_digest_blocks
from digests.limits import validate_message
from digests.views import AlertItem
from pulse.kernel.config import PulseConfig
from pulse.services import alerts as alert_service
from pulse.services import digest_data
from storage.models import Account, Alert, Owner, ScoreSnapshot

log = logging.getLogger("pulse.notify")

DEFAULT_API_URL = "https://slack.com/api/"
RATE_LIMIT_RETRIES = 3
CHART_DAYS = 30


def api_url() -> str:
    """The Web API base from ``SLACK_API_URL`` (GovSlack, a local fake), with the trailing
    slash slack_sdk needs to join method names."""
    url = os.environ.get("SLACK_API_URL", "").strip() or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"


def web_client(
    token: str | None, base_url: str | None = None, *, rate_limit_retries: int = RATE_LIMIT_RETRIES
) -> WebClient:
    """The WebClient every Pulse component uses: the right base URL and 429 retries.

    ``RateLimitErrorRetryHandler`` sleeps for ``Retry-After`` and retries the same call
    (up to ``rate_limit_retries`` times); after that the ``ratelimited`` error surfaces as
    a ``SlackApiError`` to the caller.
    """
    handlers = [
        *default_retry_handlers(),
        RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
    ]
    return WebClient(token=token, base_url=base_url or api_url(), retry_handlers=handlers)


def is_user_id(destination: str) -> bool:
    """Slack user ids start with U (or W on Enterprise Grid); channels with C, G or D."""
    return destination[:1] in {"U", "W"}


class DmChannels:
    """conversations.open per user, cached for one delivery run (one call per person)."""

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._cache: dict[str, str] = {}

    def channel_for(self, destination: str) -> str:
        if not is_user_id(destination):
            return destination
        if destination not in self._cache:
            resp = self._client.conversations_open(users=destination)
            self._cache[destination] = str(resp["channel"]["id"])
        return self._cache[destination]


def _error(exc: SlackApiError) -> str:
    resp = exc.response
    return str(resp.get("error")) if resp is not None else str(exc)


def message_args(payload: dict[str, Any]) -> dict[str, Any]:
    """chat.postMessage / chat.update arguments of a builder payload.

    Link unfurls are off: a CRM link in a card must not expand into a preview of the
    customer's CRM page in a channel.
    """
    return {
        "text": payload["text"],
        "blocks": payload.get("blocks"),
        "unfurl_links": False,
        "unfurl_media": False,
    }


def checked(payload: dict[str, Any], what: str) -> dict[str, Any] | None:
    """The payload if Slack would accept it, else None (logged with every violation)."""
    problems = validate_message(payload)
    if problems:
        log.error("not sending %s: invalid Block Kit: %s", what, "; ".join(problems))
        return None
    return payload


# ---------------------------------------------------------------------------------------
# Alert cards


@dataclass
class AlertDelivery:
    """What :func:`post_alert_cards` did, for the CLI summary and the tests."""

    posted: list[tuple[int, str, str]] = field(default_factory=list)  # (alert id, channel, ts)
    updated: list[tuple[int, str, str]] = field(default_factory=list)
    unrouted: list[int] = field(default_factory=list)  # no route / no Slack id for the person
    failed: list[tuple[int, str]] = field(default_factory=list)  # (alert id, Slack error)

    def __str__(self) -> str:
        parts = [f"{len(self.posted)} alert card(s) posted", f"{len(self.updated)} updated"]
        if self.unrouted:
            parts.append(f"{len(self.unrouted)} without a recipient")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


def alert_destination(session: Session, config: PulseConfig, alert_id: int) -> str | None:
    """The configured route of an alert (a channel id or a person's Slack user id)."""
    alert = session.get(Alert, alert_id)
    return alert_service.route(session, config, alert) if alert is not None else None


def post_alert_cards(
    client: WebClient,
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
    card (a fresh notification) and its record moves to the new message. Slack errors are
    per alert: logged, reported in ``failed``, and the run continues.
    """
    report = AlertDelivery()
    dms = DmChannels(client)
    for item in [*changes.raised, *changes.reopened]:
        destination = alert_destination(session, config, item.id)
        if destination is None:
            log.warning(
                "alert %s (%s, %s): no route or no Slack user id for the recipient; not posted",
                item.id,
                item.account_name,
                item.rule,
            )
            report.unrouted.append(item.id)
            continue
        payload = checked(alert_card(item, now), f"alert card {item.id}")
        if payload is None:
            report.failed.append((item.id, "invalid_blocks"))
            continue
        try:
            channel = dms.channel_for(destination)
            resp = client.chat_postMessage(channel=channel, **message_args(payload))
        except SlackApiError as exc:
            log.error("posting alert %s to %s failed: %s", item.id, destination, _error(exc))
            report.failed.append((item.id, _error(exc)))
            continue
        posted_channel, ts = str(resp["channel"]), str(resp["ts"])
        alert_service.record_message(session, item.id, posted_channel, ts)
        if commit:
            session.commit()
        report.posted.append((item.id, posted_channel, ts))
    for item in changes.resolved:
        update_alert_message(client, session, item, now, report)
    if commit:
        session.commit()
    return report


def update_alert_message(
    client: WebClient,
    session: Session,
    item: AlertItem,
    now: datetime,
    report: AlertDelivery | None = None,
    *,
    skip: Iterable[tuple[str, str]] = (),
) -> bool:
    """Re-render the alert's posted card (if it has one) to show its current state.

    ``skip`` lists (channel, ts) messages the caller has already updated, e.g. the very
    card a user clicked. Returns True when a message was updated.
    """
    alert = session.get(Alert, item.id)
    if alert is None or not alert.slack_channel or not alert.slack_ts:
        return False
    where = (alert.slack_channel, alert.slack_ts)
    if where in set(skip):
        return False
    payload = checked(alert_card(item, now), f"alert card {item.id}")
    if payload is None:
        if report is not None:
            report.failed.append((item.id, "invalid_blocks"))
        return False
    try:
        client.chat_update(channel=where[0], ts=where[1], **message_args(payload))
    except SlackApiError as exc:
        log.error("updating the card of alert %s failed: %s", item.id, _error(exc))
        if report is not None:
            report.failed.append((item.id, _error(exc)))
        return False
    if report is not None:
        report.updated.append((item.id, where[0], where[1]))
    return True


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
    out: list[tuple[str, str | None, dict[str, Any]]] = []
    for kind, items in (
        ("raised", changes.raised),
        ("reopened", changes.reopened),
        ("resolved", changes.resolved),
    ):
        for item in items:
            if kind == "resolved":
                alert = session.get(Alert, item.id)
                dest = alert.slack_channel if alert is not None else None
                if dest is None:
                    continue  # never posted, nothing to update
            else:
                dest = alert_destination(session, config, item.id)
            out.append((kind, dest, alert_card(item, now)))
    return out


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


@dataclass
class DigestDelivery:
    sent: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, channel, ts)
    charts: list[tuple[str, str]] = field(default_factory=list)  # (channel, file id)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (destination, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (destination, error)

    def __str__(self) -> str:
        parts = [f"{len(self.sent)} digest(s) sent", f"{len(self.charts)} chart(s)"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


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


def send_digests(
    client: WebClient | None,
    session: Session,
    config: PulseConfig,
    now: datetime,
    dry_run: bool = False,
    only: Callable[[int, str], bool] | None = None,
) -> tuple[list[DigestMessage], DigestDelivery]:
    """Build every digest and, unless ``dry_run``, deliver it.

    A person's digest goes to their DM (``conversations.open``); the manager digest's
    trend chart follows it in the same conversation via ``files_upload_v2`` (scope
    ``files:write``) when ``slack.chart`` is on. Errors are per recipient: logged,
    reported, and the run continues. ``client`` may be None only with ``dry_run``.
    """
    messages = build_digests(session, config, now, only)
    report = DigestDelivery()
    if dry_run:
        return messages, report
    if client is None:
        raise ValueError("a WebClient is required unless dry_run")
    dms = DmChannels(client)
    for msg in messages:
        payload = checked(msg.payload, f"{msg.kind} digest for {msg.destination}")
        if payload is None:
            report.failed.append((msg.destination, "invalid_blocks"))
            continue
        try:
            channel = dms.channel_for(msg.destination)
            resp = client.chat_postMessage(channel=channel, **message_args(payload))
            report.sent.append((msg.kind, str(resp["channel"]), str(resp["ts"])))
            if msg.chart is not None:
                up = client.files_upload_v2(
                    channel=channel,
                    file=msg.chart,
                    filename="pulse-health-trend.png",
                    title=msg.chart_title or "Health trend",
                    alt_txt=msg.chart_title or "Health trend",
                )
                file_info = up.get("file") or {}
                report.charts.append((channel, str(file_info.get("id", ""))))
        except SlackApiError as exc:
            log.error(
                "sending the %s digest to %s failed: %s", msg.kind, msg.destination, _error(exc)
            )
            report.failed.append((msg.destination, _error(exc)))
    return messages, report


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
