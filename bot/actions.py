"""Buttons and selects: Acknowledge, Acknowledge all, Snooze, Details, Open in CRM.

Every action is acked immediately; the work runs in a lazy listener. A click on an
alert card records who and when through the alerts service (which also writes the audit
row), then the card is updated in place with ``chat.update`` so everyone looking at it
sees the new state. A click on a line of a message of several new alerts
(``digests.cards.bundle``, block ids ``bundle_<alert id>``) does the same and re-renders
that whole message from its record (``pulse.services.notify.posted_card``), so the other
lines keep their buttons.

Double clicks and concurrent clicks on the same alert must change nothing twice. The
services are idempotent (acknowledging an acknowledged alert writes nothing); on top of
that each alert is handled under a per-process lock and a ``SELECT ... FOR UPDATE`` row
lock (PostgreSQL; SQLite serialises writers anyway), and Slack messages are only
updated when the alert's state really changed. Without the locks, two clicks racing on
PostgreSQL could both read "open" and both write an audit row.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.context import BotContext, notice, reply_error
from bot.delivery import SlackDelivery
from digests.cards import (
    REASON_ACTION,
    REASON_INPUT,
    REASON_VIEW,
    alert_card,
    health_card,
    not_scored,
    reason_modal,
    refusal,
)
from digests.views import AlertItem, HealthCard
from pulse.jobs.deliver import update_alert_card
from pulse.services import alerts as alert_service
from pulse.services import health
from pulse.services.access import Viewer
from pulse.services.outbox import DeliveryError, Message
from storage.models import Alert

log = logging.getLogger("pulse.bot.actions")

ACK = "alert_ack"
ACK_ALL = "alert_ack_all"
SNOOZE = "alert_snooze"
PICK = "health_pick"
OPEN_CRM = "open_crm"
ACTION_IDS = (ACK, ACK_ALL, SNOOZE, PICK, OPEN_CRM, REASON_ACTION)

_STRIPES = 64
_locks = [threading.Lock() for _ in range(_STRIPES)]


def _lock_for(alert_id: int) -> threading.Lock:
    """A striped lock: bounded memory, and two clicks on one alert always share a lock."""
    return _locks[alert_id % _STRIPES]


def _fingerprint(session: Session, alert_id: int) -> tuple[Any, ...] | None:
    """The alert's user-visible state, read under a row lock (PostgreSQL FOR UPDATE)."""
    alert = session.scalars(select(Alert).where(Alert.id == alert_id).with_for_update()).first()
    if alert is None:
        return None
    return (alert.status, alert.acknowledged_by, alert.acknowledged_at, alert.snoozed_until)


def _state(item: AlertItem) -> tuple[Any, ...]:
    return (item.status, item.acknowledged_by, item.acknowledged_at, item.snoozed_until)


def parse_ids(value: str) -> list[int]:
    """Alert ids from a button value ("12" or "12,15,19"); ValueError when malformed."""
    ids = [int(part) for part in value.split(",") if part.strip()]
    if not ids:
        raise ValueError("no alert id")
    return ids


def parse_snooze(value: str) -> tuple[int, str]:
    """``"<alert id>:<choice>"`` from the snooze select; ValueError when malformed."""
    alert_id, _, choice = value.partition(":")
    return int(alert_id), choice


AlertOp = Callable[[Session, int, Viewer, datetime], AlertItem]


class _Click:
    """The parts of a block_actions payload the handlers use."""

    def __init__(self, body: dict[str, Any]) -> None:
        container = body.get("container") or {}
        self.user_id: str = (body.get("user") or {}).get("id", "")
        self.channel: str | None = container.get("channel_id") or (body.get("channel") or {}).get(
            "id"
        )
        self.message_ts: str | None = container.get("message_ts") or (
            body.get("message") or {}
        ).get("ts")
        self.ephemeral: bool = bool(container.get("is_ephemeral"))
        self.in_view: bool = container.get("type") == "view"
        action = (body.get("actions") or [{}])[0]
        self.block_id: str = action.get("block_id") or ""
        self.value: str = action.get("value") or (action.get("selected_option") or {}).get(
            "value", ""
        )

    @property
    def on_alert_card(self) -> bool:
        """The click came from a posted alert card (not a health card or the Home tab)."""
        return (
            self.block_id.startswith("alert_")
            and not self.ephemeral
            and not self.in_view
            and bool(self.channel and self.message_ts)
        )


def apply_to_alerts(
    ctx: BotContext,
    delivery: SlackDelivery,
    respond: Respond,
    click: _Click,
    alert_ids: list[int],
    op: AlertOp,
) -> None:
    """Run ``op`` (acknowledge or snooze) on each alert and refresh what shows them.

    Refreshes only when something changed: the clicked alert card (chat.update on the
    message in the payload), the alert's recorded card if that is another message, and
    the health card the click came from (re-rendered for the viewer).
    """
    now = ctx.clock()
    changed: list[AlertItem] = []
    account_id: int | None = None
    for alert_id in alert_ids:
        with _lock_for(alert_id), ctx.session() as session:
            viewer = ctx.viewer(session, click.user_id)
            before = _fingerprint(session, alert_id)
            try:
                item = op(session, alert_id, viewer, now)
            except PermissionError as exc:
                respond(**notice(str(exc)), response_type="ephemeral", replace_original=False)
                return
            except (LookupError, ValueError) as exc:
                respond(**notice(str(exc)), response_type="ephemeral", replace_original=False)
                continue
            account_id = item.account_id
            if before != _state(item):
                changed.append(item)
    if not changed:
        return  # a double click or a Slack retry: nothing to show twice
    with ctx.session() as session:
        for item in changed:
            done = set()
            if click.on_alert_card and len(alert_ids) == 1:
                done = _update_clicked_card(delivery, click, item, now)
            update_alert_card(delivery, session, item, now, skip=done)
        if click.block_id.startswith("health_card_") and account_id is not None:
            _refresh_health_card(ctx, session, delivery, respond, click, account_id, now)


def _update_clicked_card(
    delivery: SlackDelivery, click: _Click, item: AlertItem, now: datetime
) -> set[tuple[str, str]]:
    """Re-render the alert card the click came from; the (channel, ts) it updated."""
    if not (click.channel and click.message_ts):
        return set()
    where = (click.channel, click.message_ts)
    card = Message(click.channel, alert_card(item, now), f"alert card {item.id}")
    try:
        updated = delivery.update(card, click.message_ts)
    except DeliveryError as exc:
        # The change is recorded; only the card is stale. Not worth an error message to
        # the user, who did what they meant to do.
        log.warning("updating the clicked card %s failed: %s", where, exc.error)
        return set()
    return {where} if updated is not None else set()


def _refresh_health_card(
    ctx: BotContext,
    session: Session,
    delivery: SlackDelivery,
    respond: Respond,
    click: _Click,
    account_id: int,
    now: datetime,
) -> None:
    """Show the health card again, now without the acknowledged alerts' buttons."""
    viewer = ctx.viewer(session, click.user_id)
    card = health.health_card(session, ctx.config, viewer, account_id, now)
    if not isinstance(card, HealthCard):
        return
    payload = health_card(card)
    if click.ephemeral or not (click.channel and click.message_ts):
        respond(**payload, replace_original=True)
    else:
        delivery.update(Message(click.channel, payload, "health card"), click.message_ts)


def show_card(
    ctx: BotContext, delivery: SlackDelivery, respond: Respond, click: _Click, account_id: int
) -> None:
    """``health_pick``: the account's card where the click happened.

    From an ephemeral pick list it replaces the list; from a digest DM it arrives as a new
    ephemeral message (replacing would destroy the digest); from the Home tab, which has
    no response_url, it is sent to the user's DM.
    """
    with ctx.session() as session:
        viewer = ctx.viewer(session, click.user_id)
        result = health.health_card(session, ctx.config, viewer, account_id, ctx.clock())
    if isinstance(result, HealthCard):
        payload = health_card(result)
    elif result.reason == "not_scored":
        payload = not_scored()
    else:
        payload = refusal(str(account_id))
    if click.in_view:
        delivery.post(Message(click.user_id, payload, f"health card for {click.user_id}"))
    elif click.ephemeral:
        respond(**payload, response_type="ephemeral", replace_original=True)
    else:
        respond(**payload, response_type="ephemeral", replace_original=False)


def open_reason_modal(
    ctx: BotContext, delivery: SlackDelivery, respond: Respond, click: _Click, trigger_id: str
) -> None:
    """"Add a reason" on a quiet alert's card: a modal that remembers where the card is."""
    alert_id = parse_ids(click.value)[0]
    with ctx.session() as session:
        viewer = ctx.viewer(session, click.user_id)
        try:
            item = alert_service.reason_target(session, alert_id, viewer)
        except (PermissionError, LookupError, ValueError) as exc:
            respond(**notice(str(exc)), response_type="ephemeral", replace_original=False)
            return
    # the clicked message is updated directly only when it is this alert's own card; a
    # message of several alerts is re-rendered whole from its record (update_alert_card)
    where = (click.channel, click.message_ts) if click.on_alert_card else (None, None)
    metadata = json.dumps({"alert": alert_id, "channel": where[0], "ts": where[1]})
    delivery.open_view(trigger_id, reason_modal(item, metadata))


def reason_text(view: dict[str, Any]) -> str:
    """The typed reason from a view_submission's ``state.values``."""
    block_id, action_id = REASON_INPUT
    values = (view.get("state") or {}).get("values") or {}
    return str(((values.get(block_id) or {}).get(action_id) or {}).get("value") or "")


def save_reason(
    ctx: BotContext, delivery: SlackDelivery, user_id: str, view: dict[str, Any]
) -> None:
    """Store the reason (audited) and show it on the alert's card(s)."""
    meta = json.loads(view.get("private_metadata") or "{}")
    alert_id = int(meta["alert"])
    now = ctx.clock()
    with _lock_for(alert_id):
        with ctx.session() as session:  # committed before Slack shows it
            viewer = ctx.viewer(session, user_id)
            item = alert_service.add_reason(session, alert_id, viewer, reason_text(view), now)
        _show_reason(ctx, delivery, item, meta, now)


def _show_reason(
    ctx: BotContext, delivery: SlackDelivery, item: AlertItem, meta: dict[str, Any], now: datetime
) -> None:
    with ctx.session() as session:
        skip: set[tuple[str, str]] = set()
        if meta.get("channel") and meta.get("ts"):
            card = Message(meta["channel"], alert_card(item, now), f"alert card {item.id}")
            if delivery.update(card, meta["ts"]) is not None:
                skip.add((meta["channel"], meta["ts"]))
        update_alert_card(delivery, session, item, now, skip=skip)


# ---------------------------------------------------------------------------------------
# Registration: each listener acks at once; the work runs lazily, errors told to the user


def _run(what: str, respond: Respond, work: Callable[[], None]) -> None:
    try:
        work()
    except DeliveryError as exc:
        log.error("%s: Slack API error %s", what, exc.error)
        reply_error(respond, what)
    except Exception:  # noqa: BLE001 - reported to the user and logged
        reply_error(respond, what)


def _ack_only(ack: Ack) -> None:
    ack()


ClickWork = Callable[[SlackDelivery, Respond, _Click], None]


def _lazy(what: str, work: ClickWork) -> Callable[[dict[str, Any], WebClient, Respond], None]:
    """A lazy listener running ``work`` on the click, through this request's client."""

    def listener(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        click = _Click(body)
        _run(what, respond, lambda: work(SlackDelivery(client), respond, click))

    return listener


def _alert_op(ctx: BotContext, what: str, all_ids: bool, op: AlertOp) -> ClickWork:
    """Acknowledge (the first id, or ``all_ids``) the alerts named by the button."""

    def work(delivery: SlackDelivery, respond: Respond, click: _Click) -> None:
        try:
            ids = parse_ids(click.value)
        except ValueError:
            log.warning("%s with a malformed value %r", what, click.value)
            return
        apply_to_alerts(ctx, delivery, respond, click, ids if all_ids else ids[:1], op)

    return work


def _snooze(ctx: BotContext) -> ClickWork:
    def work(delivery: SlackDelivery, respond: Respond, click: _Click) -> None:
        try:
            alert_id, choice = parse_snooze(click.value)
        except ValueError:
            log.warning("alert_snooze with a malformed value %r", click.value)
            return

        def op(session: Session, aid: int, viewer: Viewer, now: datetime) -> AlertItem:
            return alert_service.snooze(session, aid, viewer, choice, now)  # type: ignore[arg-type]

        apply_to_alerts(ctx, delivery, respond, click, [alert_id], op)

    return work


def _pick(ctx: BotContext) -> ClickWork:
    def work(delivery: SlackDelivery, respond: Respond, click: _Click) -> None:
        try:
            account_id = int(click.value)
        except ValueError:
            log.warning("health_pick with a malformed value %r", click.value)
            return
        show_card(ctx, delivery, respond, click, account_id)

    return work


def _reason(ctx: BotContext) -> Callable[[dict[str, Any], WebClient, Respond], None]:
    def on_reason(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        click = _Click(body)
        trigger_id = str(body.get("trigger_id") or "")

        def work() -> None:
            try:
                open_reason_modal(ctx, SlackDelivery(client), respond, click, trigger_id)
            except ValueError:
                log.warning("alert_reason with a malformed value %r", click.value)

        _run(REASON_ACTION, respond, work)

    return on_reason


def _ack_reason(ack: Ack, view: dict[str, Any]) -> None:
    # Validation must happen in the ack: only it can show an error inside the modal.
    if alert_service.clean_reason(reason_text(view)) is None:
        ack(response_action="errors", errors={REASON_INPUT[0]: "Type a reason first."})
        return
    ack()


def _reason_submit(ctx: BotContext) -> Callable[[dict[str, Any], WebClient, dict[str, Any]], None]:
    def on_reason_submit(body: dict[str, Any], client: WebClient, view: dict[str, Any]) -> None:
        user_id = (body.get("user") or {}).get("id", "")
        if alert_service.clean_reason(reason_text(view)) is None:
            return  # refused in the ack, inside the modal
        try:
            save_reason(ctx, SlackDelivery(client), user_id, view)
        except (PermissionError, LookupError, ValueError) as exc:
            log.warning("alert reason from %s refused: %s", user_id, exc)
        except Exception:  # noqa: BLE001 - no response_url on a view submission: log it
            log.exception("saving an alert reason failed")

    return on_reason_submit


def register(app: App, ctx: BotContext) -> None:
    """Attach the alert-card and pick-list actions to ``app``."""
    app.action(ACK)(
        ack=_ack_only, lazy=[_lazy(ACK, _alert_op(ctx, ACK, False, alert_service.acknowledge))]
    )
    app.action(ACK_ALL)(
        ack=_ack_only,
        lazy=[_lazy(ACK_ALL, _alert_op(ctx, ACK_ALL, True, alert_service.acknowledge))],
    )
    app.action(SNOOZE)(ack=_ack_only, lazy=[_lazy(SNOOZE, _snooze(ctx))])
    app.action(PICK)(ack=_ack_only, lazy=[_lazy(PICK, _pick(ctx))])
    app.action(REASON_ACTION)(ack=_ack_only, lazy=[_reason(ctx)])
    app.view(REASON_VIEW)(ack=_ack_reason, lazy=[_reason_submit(ctx)])
    # A URL button: Slack opens the link itself but still sends the action; ack, nothing else.
    app.action(OPEN_CRM)(_ack_only)
