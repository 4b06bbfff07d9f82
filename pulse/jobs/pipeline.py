"""The daily pipeline: sync -> people -> score -> alerts -> playbooks -> CRM writeback ->
digests -> retention.

Each step is a function of a :class:`RunContext` returning a one-line summary; the
runner retries a failing step (``schedule.attempts``, pauses doubling from
``schedule.retry_seconds``), records every step's outcome and timing in
``pipeline_runs`` and the audit log, and goes on with the steps that do not depend on a
failed one: a Salesforce outage must not keep the morning digests from going out.
Steps that need an outside service that is not configured (no Slack token, no CRM) are
skipped with the reason, not failed.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.crm import ready_crms
from pulse.jobs.locks import run_lock
from pulse.kernel import clock, telemetry
from pulse.kernel.clock import utcnow
from pulse.kernel.config import PulseConfig
from pulse.kernel.errors import one_line, redact
from pulse.services.outbox import Delivery, Message
from storage.db import session_factory, session_scope
from storage.models import (
    RUN_INTERRUPTED,
    RUN_RUNNING,
    AuditLog,
    IntegrationDaily,
    PipelineRun,
    UsageDaily,
)
from storage.snapshot_thinning import Thinned, thin_snapshots

log = logging.getLogger("pulse.jobs.pipeline")

Sleep = Callable[[float], None]


class Skipped(Exception):
    """A step that cannot run here (nothing configured for it): recorded, not a failure."""


class StepFailed(Exception):
    """The step's own summary of what failed (which sources, how many cards): stored as
    its detail as it is, and retried."""


class PartlyFailed(Exception):
    """The step did its work and stored it, but part of it failed: recorded as failed and
    not retried, since a retry would repeat what already went out (messages, webhooks)."""


@dataclass
class RunContext:
    config: PulseConfig
    now: datetime  # UTC, naive
    delivery: Delivery | None = None  # None: no Slack token, steps that post are skipped
    notes: dict[str, Any] = field(default_factory=dict)
    force: bool = False  # send digests again to people who already had today's

    @property
    def url(self) -> str:
        return self.config.database_url

    @property
    def today(self) -> date:
        """The workspace's local date: what "this morning" means to its CSMs."""
        return local_date(self.config, self.now)


@dataclass
class StepOutcome:
    name: str
    status: str  # ok | failed | skipped
    detail: str
    seconds: float
    attempts: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail,
                "seconds": round(self.seconds, 2), "attempts": self.attempts}


def local_date(config: PulseConfig, now_utc: datetime) -> date:
    """The workspace's local date at ``now_utc`` (see :mod:`pulse.kernel.clock`)."""
    return clock.local_date(config.workspace.timezone, now_utc)


# --- steps -----------------------------------------------------------------------------


def step_sync(ctx: RunContext) -> str:
    from pulse.services.arr import fill_arr
    from pulse.services.identity import resolve_identities
    from pulse.services.sync import run_sync
    from storage.arr_ledger import record_arr_ledger

    sources = ctx.config.synced_sources
    if not sources:
        raise Skipped("no sources configured")
    parts, failed = [], []
    for name in sources:
        report = run_sync(ctx.url, ctx.config, name)
        t = report.totals
        parts.append(f"{name} {report.status} ({t.inserted:,} new, {t.updated:,} changed)")
        if report.status == "failed":
            failed.append(f"{name}: {'; '.join(report.errors) or 'failed'}")
    with session_scope(ctx.url) as session:
        identity = resolve_identities(session, ctx.config)
    parts.append(f"{len(identity.unmatched):,} unmatched")
    with session_scope(ctx.url) as session:  # what was stored, even if a source failed
        filled = fill_arr(session, ctx.config, ctx.today)  # ARR from billing or deals
        if filled.changed:
            parts.append(str(filled))
        parts.append(str(record_arr_ledger(session, ctx.today, ctx.now)))
    if failed:
        # the other sources are stored; say which failed so the step is retried and reported
        raise StepFailed("; ".join(failed) + " | " + ", ".join(parts))
    return ", ".join(parts)


def step_people(ctx: RunContext) -> str:
    """CRM owners matched to Slack users, managers and teams (pulse.services.people), after
    the sync and before alerts and digests need them. With Slack configured the delivery
    is also the directory ``users.lookupByEmail`` goes through; without, the cache and
    pulse.yml's overrides and teams still apply."""
    from pulse.services.people import SlackDirectory, refresh_people

    directory = ctx.delivery if isinstance(ctx.delivery, SlackDirectory) else None
    with session_scope(ctx.url) as session:
        report = refresh_people(session, ctx.config, directory, ctx.now)
    if report.matching.errors:
        raise PartlyFailed(str(report))  # what was matched stands; a retry would fail alike
    return str(report)


def step_score(ctx: RunContext) -> str:
    """Score with the learned model when one is stored; an unreadable model file scores
    with the rules instead, and the step says so (failed, not retried)."""
    from pulse.services.model_file import live_model
    from scoring.engine import run_scoring
    from scoring.learn.scorecard import ScorecardError

    try:
        model, problem = live_model(), None
    except ScorecardError as exc:
        model, problem = None, str(exc)
    with session_scope(ctx.url) as session:
        summary = run_scoring(session, ctx.config, ctx.today, model=model)
    if problem:
        raise PartlyFailed(f"{summary}; scored with the rules: {problem}")
    return str(summary)


def step_alerts(ctx: RunContext) -> str:
    from pulse.jobs.deliver import post_alert_cards
    from pulse.services.alerts import evaluate_alerts
    from pulse.services.notify import with_unposted

    with session_factory(ctx.url)() as session:
        changes = evaluate_alerts(session, ctx.config, ctx.now)
        session.commit()  # the evaluation stands even if Slack is unreachable
        telemetry.alerts_changed(len(changes.raised), len(changes.reopened))
        counts = (f"{len(changes.raised)} raised, {len(changes.reopened)} reopened, "
                  f"{len(changes.resolved)} resolved")
        if changes.baselined:
            counts += f", {len(changes.baselined)} taken as the baseline (summarised)"
        if ctx.delivery is None:
            return counts + "; cards not posted (SLACK_BOT_TOKEN not set)"
        delivery = post_alert_cards(ctx.delivery, session, ctx.config,
                                    with_unposted(session, changes), ctx.now)
    if delivery.failed:
        raise StepFailed(f"{counts}; {delivery}")
    return f"{counts}; {delivery}"


def step_playbooks(ctx: RunContext) -> str:
    from pulse.jobs.playbooks import run_playbooks

    if not ctx.config.playbooks:
        raise Skipped("no playbooks in pulse.yml")
    with session_scope(ctx.url) as session:
        report = run_playbooks(session, ctx.config, ctx.delivery, ctx.now, ctx.today)
    if report.actions_failed:
        raise PartlyFailed(f"{report}: " + "; ".join(report.actions_failed[:5]))
    return str(report)


def step_writeback(ctx: RunContext) -> str:
    from pulse.services.writeback import write_back_health

    systems = ready_crms(ctx.config)
    if not systems:
        raise Skipped("no CRM configured with credentials")
    with session_factory(ctx.url)() as session:
        run = write_back_health(session=session, config=ctx.config, systems=systems,
                                now=utcnow())
    failed = [f"{o.system}: {o.error}" for o in run.outcomes if o.report is None]
    parts = [f"{o.system} {o.report.succeeded:,}/{o.report.sent:,} updated, "
             f"{o.report.unchanged:,} unchanged, {len(o.report.failed):,} refused"
             + (f", {o.report.restored:,} edited in the CRM put back"
                if o.report.restored else "")
             for o in run.outcomes if o.report is not None]
    if failed:
        raise StepFailed("; ".join(failed + parts))
    return "; ".join(parts)


def step_digests(ctx: RunContext) -> str:
    from pulse.jobs.deliver import send_digests

    if ctx.delivery is None:
        raise Skipped("SLACK_BOT_TOKEN not set")
    with session_factory(ctx.url)() as session:
        # a later personal digest time is served by the scheduler's frequent check,
        # which runs only with the schedule on
        _, delivery = send_digests(ctx.delivery, session, ctx.config, ctx.now, force=ctx.force,
                                   at_their_time=ctx.config.schedule.enabled)
    if delivery.failed and delivery.sent:
        # some people have theirs: a retry would send them a second one
        raise PartlyFailed(f"{delivery}: " + "; ".join(f"{d}: {e}" for d, e in delivery.failed[:5]))
    if delivery.failed:
        raise StepFailed(str(delivery))
    return str(delivery)


def purge_usage(config: PulseConfig, today: date) -> tuple[int, date]:
    """Delete usage and integration rows older than ``retention.usage_months``.

    Score snapshots (thinned by :func:`thin_old_snapshots`) and the audit log are kept:
    they are the history of what Pulse said.
    """
    import pandas as pd  # here, not at the top: `pulse runs` imports this module

    cutoff = (pd.Timestamp(today) - pd.DateOffset(months=config.retention.usage_months)).date()
    with session_scope(config.database_url) as session:
        removed = 0
        for model in (UsageDaily, IntegrationDaily):
            result = session.execute(delete(model).where(model.day < cutoff))
            removed += int(getattr(result, "rowcount", 0) or 0)
    return removed, cutoff


def thin_old_snapshots(config: PulseConfig, today: date) -> Thinned:
    """Thin score snapshots to weekly after ``retention.snapshot_daily_days`` and monthly
    after ``retention.snapshot_weekly_days`` (:mod:`storage.snapshot_thinning`)."""
    retention = config.retention
    with session_scope(config.database_url) as session:
        return thin_snapshots(
            session, today, retention.snapshot_daily_days, retention.snapshot_weekly_days
        )


def step_retention(ctx: RunContext) -> str:
    removed, cutoff = purge_usage(ctx.config, ctx.today)
    thinned = thin_old_snapshots(ctx.config, ctx.today)
    return f"{removed:,} usage row(s) before {cutoff.isoformat()} purged; {thinned}"


Step = tuple[str, Callable[[RunContext], str], tuple[str, ...]]
STEPS: tuple[Step, ...] = (
    ("sync", step_sync, ()),
    ("people", step_people, ()),
    # scores are computed from what is stored even when a source failed to sync
    ("score", step_score, ()),
    ("alerts", step_alerts, ("score",)),
    ("playbooks", step_playbooks, ("score",)),
    ("writeback", step_writeback, ("score",)),
    ("digests", step_digests, ("score",)),
    ("retention", step_retention, ()),
)


# --- the runner ------------------------------------------------------------------------


def _run_step(
    ctx: RunContext, name: str, func: Callable[[RunContext], str], sleep: Sleep
) -> StepOutcome:
    attempts = ctx.config.schedule.attempts
    pause = ctx.config.schedule.retry_seconds
    started = time.perf_counter()
    for attempt in range(1, attempts + 1):
        try:
            detail = func(ctx)
            return StepOutcome(name, "ok", detail, time.perf_counter() - started, attempt)
        except Skipped as why:
            return StepOutcome(name, "skipped", str(why), time.perf_counter() - started, attempt)
        except PartlyFailed as why:
            return StepOutcome(name, "failed", redact(str(why)), time.perf_counter() - started,
                               attempt)
        except Exception as exc:  # noqa: BLE001 - recorded, retried, then reported
            detail = redact(str(exc)) if isinstance(exc, StepFailed) else one_line(exc)
            if attempt == attempts:
                log.warning("pipeline step %s failed (attempt %d of %d); giving up: %s",
                            name, attempt, attempts, detail)
                return StepOutcome(name, "failed", detail, time.perf_counter() - started, attempt)
            delay = pause * 2 ** (attempt - 1)
            log.warning("pipeline step %s failed (attempt %d of %d); retrying in %.0fs: %s",
                        name, attempt, attempts, delay, detail)
            sleep(delay)
    raise AssertionError("unreachable")


def step_finished(outcome: StepOutcome) -> None:
    """One log line (outcome and duration) and the step's metrics."""
    level = logging.WARNING if outcome.status == "failed" else logging.INFO
    log.log(level, "pipeline step %s %s in %.2fs: %s", outcome.name, outcome.status,
            outcome.seconds, outcome.detail,
            extra={"step": outcome.name, "outcome": outcome.status,
                   "duration": round(outcome.seconds, 3), "attempts": outcome.attempts})
    telemetry.PIPELINE_STEPS.labels(outcome.name, outcome.status).inc()
    telemetry.PIPELINE_STEP_SECONDS.labels(outcome.name, outcome.status).observe(outcome.seconds)


def settle_interrupted(config: PulseConfig) -> int:
    """Mark the runs left ``running`` as interrupted (:data:`~storage.models.RUN_INTERRUPTED`);
    how many. Call holding the run lock: every run holds it while it runs, so a row still
    ``running`` then belongs to a process that died or was stopped mid-run (its lock went
    with its connection)."""
    with session_scope(config.database_url) as session:
        left = session.scalars(select(PipelineRun).where(PipelineRun.status == RUN_RUNNING)).all()
        for run in left:
            log.warning("pipeline run %s (%s, %s) started %s on %s was cut short: marked %s",
                        run.id, run.kind, run.run_date, run.started_at, run.host, RUN_INTERRUPTED)
            run.status = RUN_INTERRUPTED
        return len(left)


def claim_day(config: PulseConfig, day: date, now: datetime, kind: str) -> int | None:
    """Insert this run's row; for a scheduled run, None when the day is already claimed
    by a run that finished (an interrupted one is taken over: run again)."""
    host = f"{socket.gethostname()}:{os.getpid()}"
    run = PipelineRun(run_date=day, kind=kind, started_at=now, status=RUN_RUNNING, steps=[],
                      host=host)
    factory = session_factory(config.database_url)
    with factory() as session:
        session.add(run)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return _take_over(session, day, now, host)
        return run.id


def _take_over(session: Session, day: date, now: datetime, host: str) -> int | None:
    """Run the day's scheduled run again in its row when it was cut short; else None."""
    cut = session.scalars(select(PipelineRun).where(
        PipelineRun.run_date == day, PipelineRun.kind == "scheduled",
        PipelineRun.status == RUN_INTERRUPTED)).first()
    if cut is None:
        return None
    log.warning("the scheduled pipeline of %s was cut short (started %s on %s): running it "
                "again", day, cut.started_at, cut.host)
    cut.started_at, cut.finished_at, cut.steps, cut.host = now, None, [], host
    cut.status = RUN_RUNNING
    session.commit()
    return cut.id


def run_pipeline(
    config: PulseConfig,
    *,
    now: datetime | None = None,
    kind: str = "manual",
    delivery: Delivery | None = None,
    sleep: Sleep = time.sleep,
    steps: tuple[Step, ...] = STEPS,
    on_failure: Callable[[PipelineRun], None] | None = None,
    force: bool = False,
    lock_wait: float = 0.0,
) -> PipelineRun | None:
    """Run every step once, in order, holding the run lock; None when a scheduled run
    finds its day taken.

    Only one run at a time posts cards and sends digests: a run that cannot get the run
    lock within ``lock_wait`` seconds raises :class:`pulse.jobs.locks.RunInProgress`
    having done nothing (no row in ``pipeline_runs``).
    ``force``: send digests again to people who already had today's (a manual run)."""
    now = now or utcnow().replace(microsecond=0)
    ctx = RunContext(config, now, delivery, force=force)
    with run_lock(config.database_url, wait_seconds=lock_wait, sleep=sleep):
        return _run_locked(ctx, kind, steps, sleep, on_failure)


def _run_locked(
    ctx: RunContext,
    kind: str,
    steps: tuple[Step, ...],
    sleep: Sleep,
    on_failure: Callable[[PipelineRun], None] | None,
) -> PipelineRun | None:
    config, now = ctx.config, ctx.now
    settle_interrupted(config)
    run_id = claim_day(config, ctx.today, now, kind)
    if run_id is None:
        log.info("scheduled pipeline for %s already ran (or is running) elsewhere", ctx.today)
        return None
    outcomes: list[StepOutcome] = []
    for name, func, needs in steps:
        broken = [n for n in needs if any(o.name == n and o.status == "failed" for o in outcomes)]
        outcome = (StepOutcome(name, "skipped", f"{', '.join(broken)} failed", 0.0, 0)
                   if broken else _run_step(ctx, name, func, sleep))
        outcomes.append(outcome)
        step_finished(outcome)
    finished = utcnow().replace(microsecond=0)
    status = "failed" if any(o.status == "failed" for o in outcomes) else "ok"
    with session_scope(config.database_url) as session:
        run = session.get(PipelineRun, run_id)
        assert run is not None
        run.finished_at = max(finished, now)
        run.status = status
        run.steps = [o.as_dict() for o in outcomes]
        actor = f"pulse {kind} run"
        for o in outcomes:
            session.add(AuditLog(at=run.finished_at, actor=actor, action=f"pipeline.{o.name}",
                                 detail={"run": run_id, "detail": o.detail[:500],
                                         "attempts": o.attempts, "seconds": round(o.seconds, 2)},
                                 outcome=o.status))
        session.flush()
        session.expunge(run)
    if status == "failed" and on_failure is not None:
        try:
            on_failure(run)
        except Exception:  # noqa: BLE001 - telling the admins must not hide the run
            log.exception("could not report the failed pipeline run %s", run_id)
    return run


def admin_reporter(config: PulseConfig, delivery: Delivery | None
                   ) -> Callable[[PipelineRun], None] | None:
    """Posts a failed run's steps to ``slack.admin_channel`` (None when there is none)."""
    channel = config.slack.admin_channel
    if delivery is None or not channel:
        return None

    def report(run: PipelineRun) -> None:
        from digests.pipeline_blocks import pipeline_failure

        payload = pipeline_failure(run.run_date, run.kind, run.steps, run.host)
        delivery.post(Message(channel, payload, f"failure report of pipeline run {run.id}"))

    return report


def scheduled_start(config: PulseConfig, day: date) -> datetime:
    """When ``day``'s scheduled run is due, as naive UTC (the zone's offset that day)."""
    hour, minute = config.schedule.hour_minute
    return clock.local_time_to_utc(config.workspace.timezone, day, hour, minute)


def missed_run_due(config: PulseConfig, now_utc: datetime) -> bool:
    """True when today's start time has passed within the grace period: a process that
    was down at 06:00 runs the day's pipeline once when it comes back (``claim_day``
    stops a second run if another process already did it)."""
    start = scheduled_start(config, local_date(config, now_utc))
    return start <= now_utc <= start + timedelta(minutes=config.schedule.grace_minutes)
