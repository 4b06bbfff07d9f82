"""Pulse runs itself: APScheduler jobs, run by whichever process holds the leader lock.

Several ``pulse serve`` processes may share one PostgreSQL database for availability.
Only the one holding a session-level advisory lock runs jobs; the lock lives on a
connection of its own, so when that process dies its connection closes, PostgreSQL
releases the lock, and another process takes it on its next leadership check. On SQLite
(one machine) an exclusive ``flock`` on a file beside the database plays the same part.

Even with two leaders for a moment (a network partition), a day's scheduled pipeline
runs once: ``pipeline.claim_day`` inserts the day's row under a unique index first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from pulse.jobs.deliver import send_due_digests, send_due_reminders, send_expiry_notices
from pulse.jobs.locks import LeaderLock, RunInProgress, run_lock
from pulse.jobs.pipeline import RunContext, missed_run_due, run_pipeline, step_alerts
from pulse.kernel.clock import utcnow
from pulse.kernel.config import PulseConfig
from pulse.services.outbox import Delivery
from storage.db import session_scope

log = logging.getLogger("pulse.jobs.scheduler")

LEADERSHIP_SECONDS = 15
SCHEDULED_RUN_WAIT_SECONDS = 30 * 60
"""The scheduled pipeline waits this long for a manual run holding the run lock to end
(a morning is not skipped because someone ran `pulse run` at 05:59); then it gives up,
logged, and the day stays unclaimed."""


def whole_seconds_now() -> datetime:
    """The wall clock (:func:`pulse.kernel.clock.utcnow`) to the second, as runs record it."""
    return utcnow().replace(microsecond=0)


class PulseScheduler:
    """The daily pipeline at ``schedule.time`` local time, plus the frequent check
    (expired snoozes reopen, due reminders go out), each only on the leader."""

    def __init__(
        self,
        config: PulseConfig,
        *,
        delivery: Delivery | None = None,
        on_failure: Callable[[Any], None] | None = None,
        clock: Callable[[], datetime] = whole_seconds_now,
    ) -> None:
        self.config = config
        self.delivery = delivery
        self.on_failure = on_failure
        self.clock = clock
        self.lock = LeaderLock(config.database_url)
        self._busy = threading.Lock()  # one job body at a time in this process
        self.scheduler = BackgroundScheduler(timezone=ZoneInfo(config.workspace.timezone))

    # --- job bodies (also called directly by tests and `pulse scheduler --once`) --------

    def check_leadership(self) -> bool:
        was = self.lock.held
        now = self.lock.acquire()
        if now and not was:
            log.info("this process now runs Pulse's scheduled jobs")
            self.catch_up()
        return now

    def daily(self) -> Any:
        """The scheduled pipeline, if this process leads; the day's row makes it once."""
        if not self.lock.held:
            return None
        with self._busy:
            try:
                return run_pipeline(self.config, now=self.clock(), kind="scheduled",
                                    delivery=self.delivery, on_failure=self.on_failure,
                                    lock_wait=SCHEDULED_RUN_WAIT_SECONDS)
            except RunInProgress as busy:
                log.warning("scheduled pipeline not run: %s", busy)
                return None

    def catch_up(self) -> Any:
        """Run today's pipeline now if its time passed within the grace period unrun."""
        if self.config.schedule.enabled and missed_run_due(self.config, self.clock()):
            return self.daily()
        return None

    def alerts_check(self) -> str | None:
        """Expired snoozes reopen (their cards posted again), due reminders go out, CSM
        overrides past their date end and their authors hear a few days before, and
        people whose own digest time has come since the morning run get their digest."""
        if not self.lock.held:
            return None
        with self._busy:
            try:
                return self._check_alerts()
            except RunInProgress:
                log.info("frequent alerts check skipped: a run is in progress")
                return None

    def _check_alerts(self) -> str:
        now = self.clock()
        with run_lock(self.config.database_url):  # a pipeline run posts these itself
            with session_scope(self.config.database_url) as session:
                reminders = send_due_reminders(session, self.delivery, now)
                notices = send_expiry_notices(session, self.config, self.delivery, now)
            alerts = step_alerts(RunContext(self.config, now, self.delivery))
            with session_scope(self.config.database_url) as session:
                digests = send_due_digests(self.delivery, session, self.config, now)
            return (
                f"{alerts}; {notices} override expiry notice(s) sent; "
                f"{len(digests.sent)} digest(s) sent at their own time; "
                f"{reminders} reminder(s) sent"
            )

    # --- wiring --------------------------------------------------------------------------

    def start(self) -> None:
        hour, minute = self.config.schedule.hour_minute
        zone = ZoneInfo(self.config.workspace.timezone)
        schedule = self.config.schedule
        if schedule.enabled:
            self.scheduler.add_job(
                self.daily, CronTrigger(hour=hour, minute=minute, timezone=zone),
                id="daily-pipeline", coalesce=True, max_instances=1,
                misfire_grace_time=schedule.grace_minutes * 60,
            )
            self.scheduler.add_job(
                self.alerts_check, "interval", minutes=schedule.snooze_check_minutes,
                id="alerts-check", coalesce=True, max_instances=1,
            )
        self.scheduler.add_job(
            self.check_leadership, "interval", seconds=LEADERSHIP_SECONDS,
            id="leadership", coalesce=True, max_instances=1,
            next_run_time=utcnow().replace(tzinfo=UTC).astimezone(zone),
        )
        self.scheduler.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop scheduling and release the leader lock. A job in progress is waited for:
        to its end, or for at most ``timeout`` seconds (a server shutting down has a
        deadline; the lock is released either way and the process is about to exit)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=timeout is None)
        if timeout is not None and self._busy.acquire(timeout=timeout):
            self._busy.release()
        self.lock.release()
