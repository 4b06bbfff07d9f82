"""Trial extensions, as the product's CS handbook sets them (issue 7).

Policy (``/work/shared/domain`` 002, "Trial extension policy"):

* extension 1: 7 days, automatic;
* extension 2: 14 days, granted by a CSM with a written justification;
* extension 3 and later: need a CS manager's approval, asked for in the manager's DM
  with Approve / Decline buttons (:data:`EXCEPTION_DAYS` days each).

An extension moves the Stripe subscription's ``trial_end`` forward and changes nothing
else (:class:`connectors.stripe_billing.StripeTrials`). Each step is a
:class:`~storage.models.TrialExtension` row (its status is the workflow's state) and an
audit row. The step count is per subscription: a new trial starts a new count.

Handlers stay thin: they parse, call :func:`request_extension` or :func:`decide`, post
what comes back with the builders of :mod:`digests.trial_blocks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digests.trial_blocks import ApprovalRequest, ExtensionLine, TrialReply
from pulse.kernel.config import PulseConfig
from pulse.services.access import Viewer
from pulse.services.health import find_visible_account
from storage.models import Account, AuditLog, Owner, Subscription, TrialExtension

FIRST_DAYS = 7
SECOND_DAYS = 14
EXCEPTION_DAYS = 14
BILLING_SOURCE = "stripe"


class TrialBilling(Protocol):
    """Where trial ends live (Stripe in production and in tests, through its fake)."""

    def extend(self, subscription_id: str, days: int, request_key: str) -> tuple[date, date]:
        """Move the trial end ``days`` forward; (previous end, new end). Raises on refusal.

        ``request_key`` names this one extension attempt (the billing system's
        idempotency key), so a retried call cannot extend twice.
        """
        ...


@dataclass(frozen=True)
class Requested:
    """A step-3+ request saved as pending: the handler DMs ``approver`` the ``request``."""

    reply: TrialReply
    approver: str
    request: ApprovalRequest


@dataclass(frozen=True)
class Decided:
    """A manager's click. ``changed`` is False for a second click on a decided request."""

    changed: bool
    request: ApprovalRequest
    requester: str
    message: str | None = None  # for the clicker when the click changed nothing


def policy_days(step: int) -> int:
    return FIRST_DAYS if step == 1 else SECOND_DAYS if step == 2 else EXCEPTION_DAYS


def _audit(
    session: Session, now: datetime, actor: str, action: str, account_id: int, **detail: object
) -> None:
    session.add(AuditLog(at=now, actor=actor, action=action, account_id=account_id, detail=detail))


def _trial_subscription(session: Session, account: Account) -> Subscription | None:
    return session.scalars(
        select(Subscription)
        .where(
            Subscription.account_id == account.id,
            Subscription.status == "trialing",
            Subscription.trial_end.is_not(None),
        )
        .order_by(Subscription.trial_end.desc(), Subscription.id.desc())
        .limit(1)
    ).first()


def _history(session: Session, subscription_id: int) -> list[TrialExtension]:
    return list(
        session.scalars(
            select(TrialExtension)
            .where(TrialExtension.subscription_id == subscription_id)
            .order_by(TrialExtension.step)
        )
    )


def _lines(rows: list[TrialExtension]) -> list[ExtensionLine]:
    return [
        ExtensionLine(
            step=r.step,
            days=r.days,
            status=r.status,
            requested_by=r.requested_by,
            at=r.requested_at.date(),
            justification=r.justification,
            decided_by=r.decided_by,
        )
        for r in rows
    ]


def _approver(session: Session, account: Account, viewer: Viewer) -> str | None:
    """The Slack id of the manager who decides: the account owner's manager, else the
    requester's own manager (a CSM covering someone else's account)."""
    owners: list[Owner | None] = [account.owner]
    if viewer.owner_id is not None:
        owners.append(session.get(Owner, viewer.owner_id))
    for owner in owners:
        manager = owner.manager if owner is not None else None
        if manager is not None and manager.slack_user_id:
            return manager.slack_user_id
    return None


def _not_possible(name: str, detail: str) -> TrialReply:
    return TrialReply(kind="not_possible", account_name=name, detail=detail)


def request_extension(
    session: Session,
    config: PulseConfig,
    viewer: Viewer,
    query: str,
    justification: str | None,
    now: datetime,
    billing: TrialBilling,
) -> TrialReply | Requested:
    """``/health extend-trial QUERY ["why"]``: apply the policy's next step for the account.

    Steps 1 and 2 call Stripe at once; step 3+ is saved ``pending`` and returned as
    :class:`Requested` for the handler to DM the approver. Raises PermissionError for a
    person who may not act (read-only, account executives, strangers).
    """
    if not viewer.can_act:
        raise PermissionError("Only CSMs, managers and admins can extend a trial.")
    found = _running_trial(session, viewer, query)
    if isinstance(found, TrialReply):
        return found
    account, sub = found
    history = _history(session, sub.id)
    pending = next((h for h in history if h.status == "pending"), None)
    if pending is not None:
        return TrialReply(
            kind="pending",
            account_name=account.name,
            step=pending.step,
            days=pending.days,
            approver=pending.approver,
        )
    step = 1 + sum(1 for h in history if h.status == "granted")
    days = policy_days(step)
    why = (justification or "").strip() or None
    if step >= 2 and why is None:
        return TrialReply(
            kind="needs_justification", account_name=account.name, step=step, days=days
        )
    approver = None
    if step >= 3:
        approver = _approver(session, account, viewer)
        if approver is None:
            owner = account.owner.name if account.owner else "the account owner"
            return _not_possible(
                account.name,
                f"extension {step} needs a manager's approval, and no manager with a Slack "
                f"user is set for {owner} or for you in the CRM.",
            )
    row = TrialExtension(
        account_id=account.id, subscription_id=sub.id, step=step, days=days,
        status="pending" if approver else "granted", requested_by=viewer.slack_user_id,
        requested_at=now, justification=why, approver=approver, previous_end=sub.trial_end,
    )
    if not _insert(session, row):
        if approver:
            return TrialReply(
                kind="pending", account_name=account.name, step=step, days=days, approver=approver
            )
        return _not_possible(account.name, "someone extended it at the same moment; try again.")
    if approver:
        return _ask_approval(session, viewer, account, row, approver, now)
    return _grant(session, billing, viewer, account, sub, row, now)


def _running_trial(
    session: Session, viewer: Viewer, query: str
) -> tuple[Account, Subscription] | TrialReply:
    """The account ``query`` names among the viewer's and its running Stripe trial, or the
    reply saying why there is none."""
    match = find_visible_account(session, viewer, query)
    account = match.account
    if account is None:
        if match.candidates:
            names = ", ".join(a.name for a in match.candidates[:5])
            return _not_possible(
                query, f"several of your accounts match: {names}. Be more specific."
            )
        return _not_possible(query, "no account of yours matches that name.")
    sub = _trial_subscription(session, account)
    if sub is None:
        return _not_possible(account.name, "it has no running trial (no trialing subscription).")
    if sub.source != BILLING_SOURCE:
        return _not_possible(
            account.name,
            f"its trial is billed through '{sub.source}', and Pulse moves trial ends in "
            "Stripe only.",
        )
    return account, sub


def _ask_approval(
    session: Session,
    viewer: Viewer,
    account: Account,
    row: TrialExtension,
    approver: str,
    now: datetime,
) -> Requested:
    """A step-3+ request saved as pending: audited, and handed back for the approval DM."""
    _audit(
        session,
        now,
        viewer.slack_user_id,
        "trial_extension_requested",
        account.id,
        extension_id=row.id,
        step=row.step,
        days=row.days,
        justification=row.justification,
        approver=approver,
    )
    reply = TrialReply(
        kind="approval_requested",
        account_name=account.name,
        step=row.step,
        days=row.days,
        approver=approver,
    )
    return Requested(reply=reply, approver=approver, request=_approval_view(session, row, account))


def _grant(
    session: Session,
    billing: TrialBilling,
    viewer: Viewer,
    account: Account,
    sub: Subscription,
    row: TrialExtension,
    now: datetime,
) -> TrialReply:
    """Steps 1 and 2: extend in billing at once; the reply says how it went."""
    error = _apply_extension(
        session,
        billing,
        row,
        sub,
        viewer.slack_user_id,
        now,
        "trial_extension_granted",
        justification=row.justification,
    )
    if error is not None:
        return TrialReply(kind="failed", account_name=account.name, detail=error, step=row.step)
    return TrialReply(
        kind="extended",
        account_name=account.name,
        step=row.step,
        days=row.days,
        previous_end=row.previous_end,
        new_end=row.new_end,
    )


def _apply_extension(
    session: Session,
    billing: TrialBilling,
    row: TrialExtension,
    sub: Subscription,
    actor: str,
    now: datetime,
    action: str,
    **detail: object,
) -> str | None:
    """Move the trial end in billing and record the outcome on ``row`` (granted or
    failed) and in the audit log; Stripe's refusal is returned, never raised, because it
    is the answer the CSM and the manager need to read."""
    try:
        previous, new_end = billing.extend(sub.external_id, row.days, _request_key(row))
    except Exception as exc:  # noqa: BLE001 - shown to the people who asked
        row.status, row.error = "failed", str(exc)
        _audit(
            session,
            now,
            actor,
            "trial_extension_failed",
            row.account_id,
            extension_id=row.id,
            step=row.step,
            days=row.days,
            error=str(exc),
        )
        return str(exc)
    row.status, row.previous_end, row.new_end = "granted", previous, new_end
    sub.trial_end = new_end
    _audit(
        session,
        now,
        actor,
        action,
        row.account_id,
        extension_id=row.id,
        step=row.step,
        days=row.days,
        previous_end=previous.isoformat(),
        new_end=new_end.isoformat(),
        **detail,
    )
    return None


def _request_key(row: TrialExtension) -> str:
    return f"pulse-trial-extension-{row.id}"


def _insert(session: Session, row: TrialExtension) -> bool:
    """Add ``row``; False when another request took the same step first (unique index)."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def _approval_view(session: Session, row: TrialExtension, account: Account) -> ApprovalRequest:
    history = [h for h in _history(session, row.subscription_id) if h.id != row.id]
    sub = session.get(Subscription, row.subscription_id)
    decision = (
        None if row.status == "pending" else ("approved" if row.status == "granted" else row.status)
    )
    return ApprovalRequest(
        extension_id=row.id,
        account_name=account.name,
        owner_name=account.owner.name if account.owner else None,
        requested_by=row.requested_by,
        justification=row.justification or "",
        step=row.step,
        days=row.days,
        trial_end=sub.trial_end if sub is not None else row.previous_end,
        history=_lines(history),
        decision=decision,  # type: ignore[arg-type]
        decided_by=row.decided_by,
        new_end=row.new_end,
        error=row.error,
    )


def record_request_message(session: Session, extension_id: int, channel: str, ts: str) -> None:
    """Remember the approval DM, so the decision can update it wherever it is clicked."""
    row = session.get(TrialExtension, extension_id)
    if row is not None:
        row.slack_channel, row.slack_ts = channel, ts


def cancel_request(session: Session, extension_id: int, reason: str, now: datetime) -> None:
    """The approval DM could not be sent: the request fails rather than wait forever."""
    row = session.get(TrialExtension, extension_id)
    if row is not None and row.status == "pending":
        row.status, row.error = "failed", reason
        _audit(
            session,
            now,
            "pulse",
            "trial_extension_failed",
            row.account_id,
            extension_id=row.id,
            error=reason,
        )


class NotTheApprover(PermissionError):
    """Someone other than the approver asked (or an admin) decided; ``approver`` is the
    Slack user id the reply names, so the bot can mention them safely."""

    def __init__(self, approver: str | None) -> None:
        super().__init__("Only the manager this request was sent to can decide it.")
        self.approver = approver


def decide(
    session: Session,
    config: PulseConfig,
    viewer: Viewer,
    extension_id: int,
    approve: bool,
    now: datetime,
    billing: TrialBilling,
) -> Decided:
    """A manager's Approve / Decline. Only the asked approver (or an admin) may decide;
    the row is locked (``FOR UPDATE`` on PostgreSQL) so two clicks decide once.

    Raises LookupError for an unknown request, :class:`NotTheApprover` for anyone else.
    """
    row = session.scalars(
        select(TrialExtension).where(TrialExtension.id == extension_id).with_for_update()
    ).first()
    if row is None:
        raise LookupError(f"Trial extension request {extension_id} does not exist.")
    if viewer.slack_user_id != row.approver and viewer.role != "admin":
        raise NotTheApprover(row.approver)
    account = session.get(Account, row.account_id)
    assert account is not None
    if row.status != "pending":
        view = _approval_view(session, row, account)
        return Decided(
            False, view, row.requested_by, f"Already {view.decision} by <@{row.decided_by}>."
        )
    row.decided_by, row.decided_at = viewer.slack_user_id, now
    if not approve:
        row.status = "declined"
        _audit(
            session,
            now,
            viewer.slack_user_id,
            "trial_extension_declined",
            account.id,
            extension_id=row.id,
            step=row.step,
        )
        return Decided(True, _approval_view(session, row, account), row.requested_by)
    sub = session.get(Subscription, row.subscription_id)
    assert sub is not None
    _apply_extension(
        session, billing, row, sub, viewer.slack_user_id, now, "trial_extension_approved"
    )
    return Decided(True, _approval_view(session, row, account), row.requested_by)


__all__ = [
    "Decided",
    "NotTheApprover",
    "Requested",
    "TrialBilling",
    "cancel_request",
    "decide",
    "policy_days",
    "record_request_message",
    "request_extension",
]
