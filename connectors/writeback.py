"""What to write back to a CRM, and remembering what was written.

Salesforce and HubSpot receive the same health values; only the transport differs. This
module decides, per account, which values changed since the CRM last accepted them, so an
unchanged portfolio costs zero API requests, and records per-record outcomes so a failed
record (deleted, blocked by a validation rule) is retried on the next run while the rest
of the batch goes through.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from pulse.kernel.tiers import tier_label
from storage.models import Account, CrmWriteback, ScoreSnapshot

RECORD_ID_COLUMNS = {"salesforce": Account.salesforce_id, "hubspot": Account.hubspot_id}
"""CRM -> the Account column holding the id of the account's record in that CRM."""
COMPARED = ("score", "tier", "reasons", "expansion_score", "renewal_risk")
"""Health values compared with the last writeback; ``updated`` rides along with them."""


@dataclass(frozen=True)
class WritebackItem:
    account_id: int
    account_name: str
    record_id: str
    changed: dict[str, Any]  # only the values that differ from the CRM's, plus "updated"
    values: dict[str, Any]  # every current value, stored once the CRM accepts them


@dataclass
class WritebackReport:
    system: str
    considered: int = 0
    unchanged: int = 0
    no_record_id: int = 0
    sent: int = 0
    succeeded: int = 0
    requests: int = 0
    """Write requests (batches of records, bulk job calls)."""
    setup_requests: int = 0
    """Reads and one-time creates around the writes: the Salesforce describe, HubSpot's
    property listings and creations (and the update that found them missing)."""
    failed: list[tuple[str, str]] = field(default_factory=list)  # (account/record, reason)


def health_values(snapshot: ScoreSnapshot, reasons_max: int = 255) -> dict[str, Any]:
    """The CRM-facing health values of one snapshot (reasons cut to the field's length)."""
    reasons = "; ".join(snapshot.reasons or [])
    if len(reasons) > reasons_max:
        reasons = reasons[: reasons_max - 1].rstrip() + "…"
    return {
        "score": round(float(snapshot.score)),
        "tier": tier_label(snapshot.tier),
        "reasons": reasons,
        "expansion_score": round(float(snapshot.expansion_score)),
        "renewal_risk": snapshot.renewal_risk,
        "updated": snapshot.computed_at.replace(microsecond=0).isoformat() + "Z",
    }


def pending_writeback(
    session: Session,
    system: str,
    reasons_max: int = 255,
    *,
    account_ids: Collection[int] | None = None,
) -> tuple[list[WritebackItem], WritebackReport]:
    """Accounts whose latest health values differ from what the CRM last accepted.

    ``account_ids`` limits it to those accounts: live rescoring writes the fields of the
    accounts an event changed, and leaves any other pending difference (say, the first
    writeback after connecting a CRM) to the daily run's writeback.
    """
    report = WritebackReport(system=system)
    id_column = RECORD_ID_COLUMNS[system]
    latest = (
        select(ScoreSnapshot.account_id, func.max(ScoreSnapshot.as_of).label("as_of"))
        .group_by(ScoreSnapshot.account_id)
        .subquery()
    )
    rows = session.execute(
        select(Account.id, Account.name, id_column, ScoreSnapshot, CrmWriteback.values)
        .join(latest, latest.c.account_id == Account.id)
        .join(
            ScoreSnapshot,
            (ScoreSnapshot.account_id == Account.id) & (ScoreSnapshot.as_of == latest.c.as_of),
        )
        .outerjoin(
            CrmWriteback,
            (CrmWriteback.account_id == Account.id) & (CrmWriteback.system == system),
        )
        .where(Account.id.in_(list(account_ids)) if account_ids is not None else true())
        .order_by(Account.id)
    ).all()
    items: list[WritebackItem] = []
    for account_id, name, record_id, snapshot, written in rows:
        report.considered += 1
        if not record_id:
            report.no_record_id += 1
            continue
        values = health_values(snapshot, reasons_max)
        before = written or {}
        changed = {k: values[k] for k in COMPARED if before.get(k) != values[k]}
        if not changed:
            report.unchanged += 1
            continue
        changed["updated"] = values["updated"]
        items.append(WritebackItem(account_id, name, str(record_id), changed, values))
    return items, report


def record_outcomes(
    session: Session,
    system: str,
    outcomes: list[tuple[WritebackItem, str | None]],
    now: datetime,
    report: WritebackReport,
) -> None:
    """Store each record's outcome: accepted values, or the error to retry next run."""
    existing = {
        w.account_id: w
        for w in session.scalars(
            select(CrmWriteback).where(
                CrmWriteback.system == system,
                CrmWriteback.account_id.in_([item.account_id for item, _ in outcomes]),
            )
        )
    }
    for item, error in outcomes:
        row = existing.get(item.account_id)
        if row is None:
            row = CrmWriteback(
                system=system, account_id=item.account_id, record_id=item.record_id, values={}
            )
            session.add(row)
        row.record_id = item.record_id
        report.sent += 1
        if error is None:
            row.values = dict(item.values)
            row.written_at = now
            row.last_error = None
            row.last_error_at = None
            report.succeeded += 1
        else:
            row.last_error = error
            row.last_error_at = now
            report.failed.append((f"{item.account_name} ({item.record_id})", error))
    session.flush()
