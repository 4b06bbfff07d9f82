"""The report of one sync run, and where it is stored (``sync_state``, the audit log)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from pulse.kernel.clock import utcnow
from pulse.kernel.records import Rejection
from storage.loader import LoadResult
from storage.models import AuditLog, SyncState


@dataclass
class SyncReport:
    """What one run of one source did: the figures `pulse sync` prints and stores."""

    source: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # ok | partial | failed | dry-run
    cursor: str | None = None
    totals: LoadResult = field(default_factory=LoadResult)
    by_entity: dict[str, LoadResult] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> list[Rejection]:
        return self.totals.skipped

    def as_dict(self, max_skipped: int = 500) -> dict[str, object]:
        """A JSON-able summary for sync_state.last_report (skips capped, with the count)."""
        return {
            "source": self.source,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "cursor": self.cursor,
            "fetched": self.totals.fetched,
            "inserted": self.totals.inserted,
            "updated": self.totals.updated,
            "unchanged": self.totals.unchanged,
            "skipped_count": len(self.totals.skipped),
            "skipped": [asdict(r) for r in self.totals.skipped[:max_skipped]],
            "errors": self.errors,
            "warnings": self.warnings,
            "by_entity": {
                name: {
                    "fetched": r.fetched,
                    "inserted": r.inserted,
                    "updated": r.updated,
                    "unchanged": r.unchanged,
                    "skipped": len(r.skipped),
                }
                for name, r in self.by_entity.items()
            },
        }


def sync_state(session: Session, source: str) -> SyncState:
    """The source's sync state row (added when the source has none yet)."""
    state = session.get(SyncState, source)
    if state is None:
        state = SyncState(source=source)
        session.add(state)
    return state


def record_run(session: Session, report: SyncReport) -> None:
    """Store the run's outcome on the source's sync state and in the audit log."""
    with session:
        state = sync_state(session, report.source)
        state.last_run_at = report.finished_at
        state.last_status = report.status
        state.last_report = report.as_dict()
        if report.status in {"ok", "partial"}:
            state.last_success_at = report.finished_at
        session.add(
            AuditLog(
                at=report.finished_at or utcnow(),
                actor="pulse sync",
                action="sync",
                detail={
                    "source": report.source,
                    "inserted": report.totals.inserted,
                    "updated": report.totals.updated,
                    "skipped": len(report.skipped),
                    "errors": report.errors,
                },
                outcome=report.status,
            )
        )
        session.commit()
