"""Is this Pulse ready to serve? What ``GET /readyz`` answers (docs/deploy.md, "Health").

Ready means the database answers and its schema is the one this version of Pulse
expects (Alembic's head == the database's revision; `pulse db upgrade` closes the gap).
The last pipeline run's outcome is reported beside them but does not make Pulse unready:
a failed morning sync must not take the Slack bot out of a load balancer's rotation,
since it still answers from what is stored (alert on ``pulse_pipeline_steps_total``
instead, docs/deploy.md "Metrics").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text

from storage.db import get_engine, session_factory
from storage.migrate import current_revision, head_revision
from storage.models import PipelineRun


@dataclass
class Readiness:
    ready: bool
    checks: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, **self.checks,
                **({"problems": self.problems} if self.problems else {})}


def check_readiness(url: str) -> Readiness:
    """Database reachable, migrations current, and the last pipeline run (informative)."""
    out = Readiness(ready=True)
    try:
        with get_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        out.checks["database"] = "unreachable"
        out.problems.append(f"database unreachable: {type(exc).__name__}")
        out.ready = False
        return out
    out.checks["database"] = "ok"
    current, head = current_revision(url), head_revision()
    out.checks["migrations"] = {"database": current, "expected": head}
    if current != head:
        out.problems.append(f"migrations not current: database at {current or 'no schema'}, "
                            f"this Pulse expects {head} (run `pulse db upgrade`)")
        out.ready = False
        return out
    out.checks["last_pipeline_run"] = last_run(url)
    return out


def last_run(url: str) -> dict[str, Any] | None:
    """The latest pipeline run: its day, kind, status and the steps that failed."""
    with session_factory(url)() as session:
        run = session.scalars(select(PipelineRun).order_by(
            PipelineRun.started_at.desc(), PipelineRun.id.desc()).limit(1)).first()
        if run is None:
            return None
        return {
            "run_date": run.run_date.isoformat(), "kind": run.kind, "status": run.status,
            "started_at": run.started_at.isoformat(),
            "failed_steps": [s["name"] for s in (run.steps or []) if s.get("status") == "failed"],
        }
