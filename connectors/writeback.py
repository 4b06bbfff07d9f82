"""What to write back to a CRM, and remembering what was written.

Salesforce and HubSpot receive the same health values; only the transport differs. This
module decides, per account, which values to send: those that changed since the CRM last
accepted them (:func:`pending_writeback`) and, once the CRM's current values have been
read back in batches, every value the CRM shows differently from the latest score, such
as a health field someone edited by hand in the CRM (:func:`reconcile`). It records
per-record outcomes so a failed record (deleted, blocked by a validation rule) is retried
on the next run while the rest of the batch goes through.

Scores are written with :data:`SCORE_DECIMALS` decimal, rounded by Python's ``round``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from pulse.kernel.tiers import tier_label
from storage.models import Account, CrmWriteback, ScoreSnapshot

RECORD_ID_COLUMNS = {"salesforce": Account.salesforce_id, "hubspot": Account.hubspot_id}
"""CRM -> the Account column holding the id of the account's record in that CRM."""
COMPARED = ("score", "tier", "reasons", "expansion_score", "renewal_risk")
"""Health values compared with the last writeback and with the CRM's current values;
``updated`` (when the score was computed) rides along with them and is not compared, so
a new day's identical score sends nothing."""
SCORE_DECIMALS = 1
"""Decimals of the health and expansion scores written to the CRM: ``round(score, 1)``,
Python's rounding to the nearest tenth (an exact tie goes to the even tenth: 60.25 ->
60.2). A Salesforce field with fewer decimal places gets the score rounded to its scale."""
NUMBER_TOLERANCE = 1e-6
"""Two numbers closer than this are the same value (a CRM's 60.9 and Pulse's 60.9)."""
NUMERIC = ("score", "expansion_score")
"""Health values that are numbers (compared as numbers, whatever the CRM's JSON type)."""


@dataclass(frozen=True)
class WritebackItem:
    account_id: int
    account_name: str
    record_id: str
    changed: dict[str, Any]  # only the values to send, plus "updated"
    values: dict[str, Any]  # every current value, stored once the CRM accepts them
    written: dict[str, Any] = field(default_factory=dict)
    """The values the CRM last accepted from Pulse (empty: never written)."""
    restored: tuple[str, ...] = ()
    """Values someone changed in the CRM since Pulse wrote them, sent again to put them back."""


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
    read_requests: int = 0
    """Batched reads of the CRM's current health values, made before writing."""
    restored: int = 0
    """Values edited by hand in the CRM and put back (counted once the CRM accepts them)."""
    setup_requests: int = 0
    """Reads and one-time creates around the writes: the Salesforce describe, HubSpot's
    property listings and creations (and the update that found them missing)."""
    failed: list[tuple[str, str]] = field(default_factory=list)  # (account/record, reason)


def rounded(value: float, decimals: int = SCORE_DECIMALS) -> float | int:
    """``value`` as written to the CRM: Python's ``round`` to ``decimals`` (an int for 0)."""
    return round(float(value)) if decimals <= 0 else round(float(value), decimals)


def health_values(
    snapshot: ScoreSnapshot, reasons_max: int = 255, decimals: int = SCORE_DECIMALS
) -> dict[str, Any]:
    """The CRM-facing health values of one snapshot (reasons cut to the field's length,
    scores rounded to ``decimals``)."""
    reasons = "; ".join(snapshot.reasons or [])
    if len(reasons) > reasons_max:
        reasons = reasons[: reasons_max - 1].rstrip() + "…"
    return {
        "score": rounded(snapshot.score, decimals),
        "tier": tier_label(snapshot.tier),
        "reasons": reasons,
        "expansion_score": rounded(snapshot.expansion_score, decimals),
        "renewal_risk": snapshot.renewal_risk,
        "updated": snapshot.computed_at.replace(microsecond=0).isoformat() + "Z",
    }


def scored_records(
    session: Session,
    system: str,
    reasons_max: int = 255,
    *,
    account_ids: Collection[int] | None = None,
    decimals: int = SCORE_DECIMALS,
) -> tuple[list[WritebackItem], WritebackReport]:
    """Every scored account with a record in ``system`` (not deleted there): its latest
    health values, what the CRM last accepted, and (``changed``) what differs from that.

    ``account_ids`` limits it to those accounts: live rescoring writes the fields of the
    accounts an event changed, and leaves any other pending difference (say, the first
    writeback after connecting a CRM) to the daily run's writeback. The report counts the
    accounts considered and those without a record id.
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
        .where(Account.deleted_at.is_(None))  # no record left to write to
        .order_by(Account.id)
    ).all()
    items: list[WritebackItem] = []
    for account_id, name, record_id, snapshot, written in rows:
        report.considered += 1
        if not record_id:
            report.no_record_id += 1
            continue
        values = health_values(snapshot, reasons_max, decimals)
        before = dict(written or {})
        changed = {k: values[k] for k in COMPARED if before.get(k) != values[k]}
        if changed:
            changed["updated"] = values["updated"]
        items.append(WritebackItem(account_id, name, str(record_id), changed, values, before))
    return items, report


def pending_writeback(
    session: Session,
    system: str,
    reasons_max: int = 255,
    *,
    account_ids: Collection[int] | None = None,
) -> tuple[list[WritebackItem], WritebackReport]:
    """Accounts whose latest health values differ from what the CRM last accepted.

    This compares with Pulse's own record only (a dry run calls no CRM); a real writeback
    also reads the CRM's current values and sends what :func:`reconcile` finds.
    """
    items, report = scored_records(session, system, reasons_max, account_ids=account_ids)
    pending = [item for item in items if item.changed]
    report.unchanged += len(items) - len(pending)
    return pending, report


def same_value(key: str, crm: Any, pulse: Any) -> bool:
    """Whether the CRM's ``crm`` shows the health value ``pulse`` (numbers as numbers,
    whatever their JSON type; an empty field and an empty value are the same)."""
    if crm in (None, "") or pulse in (None, ""):
        return crm in (None, "") and pulse in (None, "")
    if key in NUMERIC:
        try:
            return abs(float(crm) - float(pulse)) < NUMBER_TOLERANCE
        except (TypeError, ValueError):
            return False
    return str(crm) == str(pulse)


def reconcile(
    items: list[WritebackItem],
    current: Mapping[str, Mapping[str, Any]],
    report: WritebackReport,
) -> list[WritebackItem]:
    """What to send, given ``current``: record id -> the CRM's health values by key.

    A record the CRM returned gets every value it shows differently from the latest
    score: a changed score, and a value edited by hand in the CRM (``restored`` names
    those whose CRM value is no longer what Pulse last wrote there). A record the CRM did
    not return (deleted, not visible to Pulse's user) gets what changed since the last
    writeback, as without a read-back, so its failure is reported. Records with nothing to
    send are counted as unchanged.
    """
    out: list[WritebackItem] = []
    for item in items:
        crm = current.get(item.record_id)
        if crm is None:
            send = dict(item.changed)
            restored: tuple[str, ...] = ()
        else:
            send = {
                k: item.values[k] for k in COMPARED if not same_value(k, crm.get(k), item.values[k])
            }
            before = item.written
            restored = tuple(
                k for k in send if k in before and not same_value(k, crm.get(k), before[k])
            )
            if send:
                send["updated"] = item.values["updated"]
        if not send:
            report.unchanged += 1
            continue
        out.append(replace(item, changed=send, restored=restored))
    return out


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
            report.restored += len(item.restored)
        else:
            row.last_error = error
            row.last_error_at = now
            report.failed.append((f"{item.account_name} ({item.record_id})", error))
    session.flush()
