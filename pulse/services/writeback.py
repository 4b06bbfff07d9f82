"""Writing health to the CRMs: the one loop behind ``pulse writeback``, the daily run's
writeback step and live rescoring.

Each CRM is written on its own: its outcomes are committed when it succeeds, and when it
raises (an outage, a missing field) its changes are rolled back and the next CRM still
goes. Which CRMs to write is the caller's choice (:func:`connectors.crm.configured_crms`,
:func:`connectors.crm.ready_crms`); one that cannot be used here is reported, not tried.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from connectors.crm import crm_problem, crm_system
from connectors.writeback import WritebackReport, pending_writeback
from pulse.kernel import telemetry
from pulse.kernel.config import PulseConfig
from pulse.kernel.errors import one_line


@dataclass(frozen=True)
class CrmOutcome:
    """What became of one CRM's writeback."""

    system: str
    report: WritebackReport | None = None
    """What was sent (in a dry run: what was considered); None when nothing ran."""
    pending: int = 0
    """Dry run: accounts whose values would be sent."""
    problem: str | None = None
    """Why the CRM cannot be used here (not in pulse.yml, no credentials): not tried."""
    error: str | None = None
    """The writeback raised this (its one line, :func:`pulse.kernel.errors.one_line`);
    its changes were rolled back."""


@dataclass
class WritebackRun:
    """Every CRM's outcome, in the order they were written."""

    dry_run: bool
    outcomes: list[CrmOutcome] = field(default_factory=list)


def write_back_health(
    *,
    session: Session,
    config: PulseConfig,
    systems: Sequence[str],
    now: datetime,
    account_ids: Collection[int] | None = None,
    dry_run: bool = False,
) -> WritebackRun:
    """Send each CRM in ``systems`` the health values it shows differently from the latest
    scores (changed scores, and values edited by hand in the CRM), committing per CRM.

    ``account_ids`` limits the writeback to those accounts (live rescoring). A dry run
    only counts the changed scores that would be sent (reasons cut to the default length),
    calls no CRM (so it cannot see hand edits), checks no credentials and writes nothing.
    """
    run = WritebackRun(dry_run=dry_run)
    for system in systems:
        if dry_run:
            items, report = pending_writeback(session, system, account_ids=account_ids)
            run.outcomes.append(CrmOutcome(system, report, pending=len(items)))
            continue
        problem = crm_problem(config, system)
        if problem:
            run.outcomes.append(CrmOutcome(system, problem=problem))
            continue
        try:
            report = crm_system(system).write_back(
                session, config, now=now, account_ids=account_ids
            )
            session.commit()
        except Exception as exc:  # noqa: BLE001 - one CRM failing must not stop the other
            session.rollback()
            telemetry.api_error(system)
            run.outcomes.append(CrmOutcome(system, error=one_line(exc)))
            continue
        run.outcomes.append(CrmOutcome(system, report))
    return run
