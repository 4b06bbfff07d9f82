"""Log a note from Slack on an account: into its CRM, and into Pulse's audit log.

The note becomes a completed Salesforce Task "Note from Slack" on the Account, or a note
on the HubSpot company's timeline (:meth:`connectors.crm.CrmSystem.log_note`), written as
the author's CRM user when Pulse knows it. The CRM is the first of
:data:`connectors.crm.CRM_SYSTEMS` that is configured in pulse.yml and holds the account.
Only a person who may act on the account (:mod:`pulse.services.access`) may log a note;
anyone else gets the same refusal whether or not the account exists.

Every attempt is audited (``note_logged``, outcome ``ok`` or ``failed``) with the note's
text, so a note the CRM refused is not lost. The bot opens the modal and sends the reply
this module returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from connectors.crm import CRM_SYSTEMS, crm_problem, crm_system
from digests.note_blocks import NOTE_MAX_CHARS, NoteReply
from pulse.kernel.config import PulseConfig
from pulse.kernel.errors import one_line
from pulse.services.access import Viewer, can_see
from pulse.services.alerts import crm_url
from storage.models import Account, AuditLog, Owner

log = logging.getLogger("pulse.services.notes")

AUDIT_ACTION = "note_logged"
REFUSAL = "You cannot log a note on this account."


@dataclass(frozen=True)
class NoteTarget:
    """Where a note on an account goes."""

    account_id: int
    account_name: str
    system: str  # salesforce | hubspot
    record_id: str  # the Account / company id in that CRM


def clean_note(text: str | None) -> str | None:
    """The note as it will be logged (trimmed, at most the modal's length); None if empty."""
    note = (text or "").strip()
    return note[:NOTE_MAX_CHARS] or None


def note_target(
    session: Session, config: PulseConfig, viewer: Viewer, account_id: int
) -> NoteTarget:
    """The CRM record a note on ``account_id`` goes to.

    PermissionError (:data:`REFUSAL`) when the viewer may not act on the account or it
    does not exist; LookupError naming the problem when the account is in no CRM Pulse
    can write to (not configured in pulse.yml, or its credentials not set).
    """
    account = session.get(Account, account_id)
    if not viewer.can_act or account is None or not can_see(session, viewer, account_id):
        raise PermissionError(REFUSAL)
    records = {"salesforce": account.salesforce_id, "hubspot": account.hubspot_id}
    for system in CRM_SYSTEMS:
        record = records.get(system)
        if not record or getattr(config.sources, system) is None:
            continue
        problem = crm_problem(config, system)
        if problem:
            raise LookupError(f"Cannot log a note on {account.name}: {problem}.")
        return NoteTarget(account.id, account.name, system, record)
    raise LookupError(
        f"{account.name} has no record in a CRM Pulse writes to (sources.salesforce or "
        "sources.hubspot in pulse.yml), so there is nowhere to log a note."
    )


def log_note(
    session: Session,
    config: PulseConfig,
    viewer: Viewer,
    account_id: int,
    text: str,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> NoteReply:
    """Log ``text`` on the account's CRM record as ``viewer``; audit it; return the reply.

    Raises like :func:`note_target` (nothing is audited then), and ValueError for an empty
    note. A CRM that refuses or fails gives a ``failed`` reply carrying the reason and the
    note; the audit row keeps the note either way. The caller commits.
    """
    target = note_target(session, config, viewer, account_id)
    note = clean_note(text)
    if note is None:
        raise ValueError("Type a note first.")
    author = session.get(Owner, viewer.owner_id) if viewer.owner_id else None
    # the author's CRM user id only means something in the CRM the owner came from
    crm_owner = author.crm_owner_id if author and author.source == target.system else None
    detail: dict[str, object] = {"system": target.system, "record_id": target.record_id,
                                 "note": note, "crm_owner_id": crm_owner}
    try:
        crm_id = crm_system(target.system).log_note(
            config, text=note, at=now, owner_id=crm_owner, record_id=target.record_id,
            sleep=sleep,
        )
    except Exception as exc:  # noqa: BLE001 - any CRM failure is told to the author
        problem = one_line(exc)
        log.warning("note on %s in %s failed: %s", target.account_name, target.system, problem)
        _audit(session, now, viewer, target, {**detail, "error": problem}, "failed")
        return NoteReply("failed", target.account_name, target.system, note, detail=problem)
    _audit(session, now, viewer, target, {**detail, "crm_id": crm_id}, "ok")
    account = session.get(Account, account_id)
    link = crm_url(account.salesforce_id, account.hubspot_id) if account else None
    return NoteReply("logged", target.account_name, target.system, note, crm_url=link)


def _audit(session: Session, now: datetime, viewer: Viewer, target: NoteTarget,
           detail: dict[str, object], outcome: str) -> None:
    session.add(AuditLog(at=now, actor=viewer.slack_user_id, action=AUDIT_ACTION,
                         account_id=target.account_id, detail=detail, outcome=outcome))
