"""The background worker: events acked at once, processed together a moment later.

Senders want a fast 2xx (Stripe, HubSpot and Zendesk retry slow or failed deliveries),
and rescoring runs a workspace-wide scoring pass, so the receiver only stores events and
wakes this worker. The worker waits ``live.coalesce_seconds`` (2 s by default) so that
a burst, such as Stripe's
``invoice.payment_failed`` + ``invoice.updated`` + ``customer.subscription.updated`` for
one failed renewal, costs one rescoring run, then :meth:`LiveWorker.process_pending`:

1. claim every pending event (``pulse.jobs.live.inbox.claim``),
2. apply each in its own transaction (``pulse.jobs.live.apply``), in the sender's order
   (Stripe events by ``created``, since Stripe does not guarantee delivery order),
3. link the Stripe/Zendesk accounts holding new records to their CRM account (one
   ``resolve_identities`` limited to those accounts),
4. rescore the union of affected accounts once (``pulse.jobs.live.rescore``),
5. settle each event: ``done`` with its accounts, ``ignored`` with why, or ``failed``
   with the error (not retried automatically; the next sync brings the same data).

``process_pending`` is callable directly (tests call it synchronously; the thread is
only a loop around it). It is also run at start, so events stored by a process that
stopped before processing them are not lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pulse.jobs.live.apply import Applied, apply_event, linked_only_holders, record_accounts
from pulse.jobs.live.inbox import Claimed, claim, settle
from pulse.jobs.live.rescore import RescoreReport, rescore
from pulse.kernel.clock import epoch_seconds
from pulse.kernel.config import PulseConfig
from pulse.kernel.errors import one_line
from pulse.services.identity import resolve_identities
from pulse.services.outbox import Delivery
from storage.db import session_factory, session_scope

log = logging.getLogger("pulse.jobs.live")

IDLE_POLL_SECONDS = 60.0
"""Also look for pending events this often without a wake-up (another process stored
them, or a wake-up was missed)."""


@dataclass
class LiveRun:
    """One pass of :meth:`LiveWorker.process_pending`."""

    events: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    accounts: list[int] = field(default_factory=list)
    report: RescoreReport | None = None
    started: float = 0.0  # POSIX seconds (epoch_seconds)
    finished: float = 0.0


def _order(event: Claimed) -> tuple[int, float, int]:
    created = event.payload.get("created") if event.source == "stripe" else None
    return (0 if created is None else 1, float(created or 0), event.id)


class LiveWorker:
    """Processes pending webhook events; ``notify()`` wakes it after a store."""

    def __init__(
        self,
        url: str,
        config: PulseConfig,
        *,
        delivery: Delivery | None = None,
        clock: Callable[[], datetime],
        window: float | None = None,
        on_run: Callable[[LiveRun], None] | None = None,
    ) -> None:
        self.url = url
        self.config = config
        self.delivery = delivery
        self.clock = clock
        self.window = config.live.coalesce_seconds if window is None else window
        self.on_run = on_run
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # --- the thread ----------------------------------------------------------------------

    def start(self) -> LiveWorker:
        self._thread = threading.Thread(target=self._loop, name="pulse-live", daemon=True)
        self._thread.start()
        self.notify()  # events left by a previous process
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(IDLE_POLL_SECONDS)
            if self._stop.is_set():
                return
            if self._wake.is_set() and self.window > 0:
                self._stop.wait(self.window)  # let the rest of a burst arrive
            self._wake.clear()
            try:
                self.process_pending()
            except Exception:  # noqa: BLE001 - the worker must outlive one bad run
                log.exception("live rescoring run failed; events stay claimed for a retry")

    # --- one pass --------------------------------------------------------------------------

    def process_pending(self) -> LiveRun | None:
        """Claim, apply and rescore every pending event now; None when there were none."""
        with self._lock:
            run = LiveRun(started=epoch_seconds())
            claimed = sorted(claim(self.url, self.clock()), key=_order)
            if not claimed:
                return None
            outcomes: dict[int, tuple[str, list[int], str | None]] = {}
            applied: dict[int, Applied] = {}
            factory = session_factory(self.url)
            for event in claimed:
                with factory() as session:
                    try:
                        applied[event.id] = apply_event(session, event, self.config)
                        session.commit()
                    except Exception as exc:  # noqa: BLE001 - recorded on the event
                        session.rollback()
                        line = one_line(exc)
                        log.error("webhook %s %s (%s) not applied: %s", event.source,
                                  event.event_id, event.kind, line)
                        outcomes[event.id] = ("failed", [], line)
            accounts: dict[int, set[int]] = {}
            notes: dict[int, str | None] = {}
            with session_scope(self.url) as session:
                if holders := linked_only_holders(session, applied.values()):
                    resolve_identities(session, self.config, only=holders)
                for event_id, result in applied.items():
                    accounts[event_id], notes[event_id] = record_accounts(session, result)
            affected = sorted(set().union(*accounts.values())) if accounts else []
            report = None
            error = None
            if affected:
                tags = [f"{e.source}:{e.event_id}" for e in claimed if e.id in applied]
                try:
                    report = rescore(self.url, self.config, affected, self.clock(),
                                     delivery=self.delivery, events=tags)
                except Exception as exc:  # noqa: BLE001 - recorded on every event of the run
                    log.exception("live rescoring of accounts %s failed", affected)
                    error = f"rescoring failed: {one_line(exc)}"
            for event_id, result in applied.items():
                note = "; ".join(n for n in (result.note, notes[event_id]) if n) or None
                if error is not None and accounts[event_id]:
                    outcomes[event_id] = ("failed", sorted(accounts[event_id]), error)
                    continue
                if report is not None and report.errors and accounts[event_id]:
                    note = "; ".join(n for n in (note, *report.errors[:5]) if n)
                outcomes[event_id] = (result.status, sorted(accounts[event_id]), note)
            settle(self.url, outcomes, self.clock())
            run.events = len(claimed)
            for status, _, _ in outcomes.values():
                run.statuses[status] = run.statuses.get(status, 0) + 1
            run.accounts = affected
            run.report = report
            run.finished = epoch_seconds()
            log.info("live rescoring: %d event(s) %s, %d account(s) rescored%s", run.events,
                     run.statuses, len(affected),
                     f" ({report.note})" if report is not None and report.note else "")
            if self.on_run is not None:
                self.on_run(run)
            return run
