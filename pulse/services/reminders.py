"""Follow-up reminders of the playbooks' ``reminder`` action: the action stores a
:class:`storage.models.Reminder` (``pulse.services.playbooks.act``); the leader's frequent
check asks for those due (:func:`due_reminders`), sends them
(``pulse.jobs.deliver.send_due_reminders``) and closes or holds each here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from digests.playbook_blocks import reminder_message
from pulse.services.outbox import Message
from storage.models import Account, AuditLog, Owner, Reminder


@dataclass(frozen=True)
class DueReminder:
    """A reminder whose time has come, and its DM to the owner (None: no Slack id)."""

    reminder_id: int
    message: Message | None


def due_reminders(session: Session, now: datetime) -> list[DueReminder]:
    """Every reminder due by ``now`` and not sent yet, with the DM to send its owner."""
    due = list(session.scalars(select(Reminder).where(Reminder.sent_at.is_(None),
                                                      Reminder.due_at <= now)))
    out = []
    for reminder in due:
        owner = session.get(Owner, reminder.owner_id) if reminder.owner_id else None
        target = owner.slack_user_id if owner else None
        message = None
        if target:
            account = session.get(Account, reminder.account_id)
            payload = reminder_message(reminder.playbook, account.name if account else "?",
                                       reminder.text)
            message = Message(target, payload, f"reminder {reminder.id} to {target}")
        out.append(DueReminder(reminder.id, message))
    return out


def hold_reminder(session: Session, reminder_id: int, why: str) -> None:
    """Keep a due reminder for later (nothing to send it with), saying why."""
    reminder = session.get(Reminder, reminder_id)
    assert reminder is not None
    reminder.outcome = why


def close_reminder(session: Session, reminder_id: int, result: str, now: datetime) -> None:
    """Mark a due reminder done with what happened ("sent to U..." or why not), audited."""
    reminder = session.get(Reminder, reminder_id)
    assert reminder is not None
    reminder.outcome = result
    reminder.sent_at = now
    session.add(AuditLog(at=now, actor=f"playbook {reminder.playbook}",
                         action="playbook.reminder", account_id=reminder.account_id,
                         outcome="ok" if result.startswith("sent") else "failed",
                         detail={"text": reminder.text, "outcome": result}))
