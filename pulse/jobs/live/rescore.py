"""Rescore the accounts some events changed: scored against the daily run's workspace
figures, written per account.

Why figures: a score is relative to the workspace (usage baselines are workspace medians,
:mod:`scoring.peers` ranks each account within its segment and seat band, tiers may be
portfolio shares), so an account scored alone would get a different number than the daily
run gives it. The daily run stores those workspace-relative figures
(:mod:`scoring.figures`), and a batch reads only its accounts' rows and scores them against
the figures: its cost follows the batch, not the workspace, and each account gets what a
full run with the same figures gives it. When the figures are missing, of another day,
derived under other scoring settings or older than ``live.figures_max_age_hours``, the
batch scores the whole workspace instead, stores the figures it derived (so the next
batch uses them) and logs why. Why persist per account: an event about one customer must
not move every other customer's stored score, card or CRM field; their snapshots stay
what the daily run wrote (:func:`scoring.engine.persist_snapshots_for`).

Which day is rescored: the workspace's latest scored day (today once the daily run has
scored, else the last day it did). Live rescoring never opens a new day with a handful of
accounts in it, because the portfolio, the digests and the alert evaluation read one
complete scoring day; before this morning's run an event is scored as of yesterday, and
facts dated today (an invoice *paid* today) count from the morning run on.

Then, for the same accounts only: alerts are evaluated (:func:`pulse.services.alerts.
evaluate_alerts` with ``account_ids``), new or reopened alerts posted (one message per
person) and the messages of resolved ones updated
(:func:`pulse.jobs.deliver.post_alert_cards`), and each configured CRM gets the
changed fields (:func:`pulse.services.writeback.write_back_health` with ``account_ids``,
which reads those records back and sends only values the CRM shows differently, a hand
edit put back included). Cards are posted under the run lock (:mod:`pulse.jobs.locks`);
while a pipeline run holds it they are left unposted for it (or the next frequent check)
to post, so no card goes out twice. Slack or CRM failures
are reported, not raised: the snapshot stands and the daily run catches up (unposted cards,
pending writebacks).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.crm import ready_crms
from pulse.jobs.deliver import AlertDelivery, post_alert_cards
from pulse.jobs.locks import RunInProgress, run_lock
from pulse.jobs.pipeline import local_date
from pulse.kernel import telemetry
from pulse.kernel.clock import epoch_seconds
from pulse.kernel.config import PulseConfig
from pulse.services.alerts import AlertChanges, evaluate_alerts
from pulse.services.model_file import live_model
from pulse.services.notify import with_unposted
from pulse.services.outbox import Delivery
from pulse.services.portfolio import snapshot_dates
from pulse.services.writeback import write_back_health
from scoring.engine import persist_snapshots_for, score_accounts, score_accounts_with_figures
from scoring.figures import cached_figures, save_figures
from scoring.freshness import annotate, freshness
from scoring.learn.live import LearnedModel
from scoring.learn.scorecard import ScorecardError
from storage.db import session_factory
from storage.models import AuditLog, ScoreSnapshot

log = logging.getLogger("pulse.jobs.live")


@dataclass
class RescoreReport:
    """What one live rescoring run did; ``stamps`` are the wall-clock times (POSIX seconds,
    :func:`pulse.kernel.clock.epoch_seconds`) at which each stage finished, for the
    benchmark's event-to-field latency."""

    accounts: list[int]
    as_of: date | None = None
    snapshots: int = 0
    scores: dict[int, tuple[float | None, float | None]] = field(default_factory=dict)
    changes: AlertChanges = field(default_factory=AlertChanges)
    delivery: AlertDelivery | None = None
    crm: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    note: str | None = None
    whole_workspace: bool = False
    """True when the batch scored the whole workspace (no usable cached figures)."""
    timings: dict[str, float] = field(default_factory=dict)
    stamps: dict[str, float] = field(default_factory=dict)


def rescore(
    url: str,
    config: PulseConfig,
    account_ids: Collection[int],
    now: datetime,
    *,
    delivery: Delivery | None = None,
    events: Collection[str] = (),
) -> RescoreReport:
    """Score, persist, alert and write back for ``account_ids``; ``now`` is naive UTC.

    ``events`` (``source:event_id``) go into each account's audit row.
    """
    ids = sorted({int(a) for a in account_ids})
    report = RescoreReport(ids)
    if not ids:
        return report
    factory = session_factory(url)
    with factory() as session:
        latest, _ = snapshot_dates(session, local_date(config, now))
        if latest is None:
            report.note = "no scoring run yet: the first daily run scores these accounts"
            return report
        report.as_of = latest
        _score_and_persist(session, config, report, latest, now, events)
        _alert(url, session, config, report, now, delivery)
        _write_back(session, config, report, now)
    for error in report.errors:
        log.error("live rescoring: %s", error)
    return report


def stored_model() -> LearnedModel | None:
    """The learned model, as the daily run uses it; the rules score when the file cannot
    be read (logged: the daily run reports it as a failed step)."""
    try:
        return live_model()
    except ScorecardError as exc:
        log.error("live rescoring with the rules score: %s", exc)
        return None


def _score_and_persist(
    session: Session,
    config: PulseConfig,
    report: RescoreReport,
    latest: date,
    now: datetime,
    events: Collection[str],
) -> None:
    """Score the report's accounts as of ``latest`` (:func:`_scored`), store their snapshots,
    and audit each account's change (committed)."""
    ids = report.accounts
    before = dict(
        session.execute(
            select(ScoreSnapshot.account_id, ScoreSnapshot.score).where(
                ScoreSnapshot.as_of == latest, ScoreSnapshot.account_id.in_(ids)
            )
        ).all()
    )
    started = time.perf_counter()
    scored = _scored(session, config, report, latest, now)
    scored = annotate(scored, freshness(session, config, now))
    report.timings["score"] = time.perf_counter() - started
    started = time.perf_counter()
    report.snapshots = persist_snapshots_for(session, scored, latest, now, ids)
    after = {
        int(a): (None if s != s else float(s))
        for a, s in zip(scored["account_id"], scored["score"], strict=True)
    }
    for account_id in ids:
        report.scores[account_id] = (before.get(account_id), after.get(account_id))
        session.add(
            AuditLog(
                at=now,
                actor="pulse",
                action="live_rescored",
                account_id=account_id,
                detail={
                    "as_of": latest.isoformat(),
                    "previous": before.get(account_id),
                    "score": after.get(account_id),
                    "events": sorted(events)[:20],
                },
            )
        )
    session.commit()
    report.timings["persist"] = time.perf_counter() - started
    report.stamps["persisted"] = epoch_seconds()


def _scored(
    session: Session, config: PulseConfig, report: RescoreReport, latest: date, now: datetime
) -> pd.DataFrame:
    """The report's accounts scored as of ``latest``: against the cached workspace figures,
    or, without usable ones, within the whole workspace (its figures then stored)."""
    cfg, ids = config.scoring, report.accounts
    figures, why = cached_figures(session, cfg, latest, now, config.live.figures_max_age_hours)
    if figures is not None:
        return score_accounts(session, config, latest, stored_model(), figures=figures, only=ids)
    log.warning("live rescoring: %s; scoring the whole workspace once and storing its "
                "figures for the next batches", why)
    report.whole_workspace = True
    scored, derived = score_accounts_with_figures(session, config, latest, stored_model())
    save_figures(session, cfg, derived, now)
    return scored[scored["account_id"].isin(ids)].reset_index(drop=True)


def _alert(
    url: str,
    session: Session,
    config: PulseConfig,
    report: RescoreReport,
    now: datetime,
    delivery: Delivery | None,
) -> None:
    """Evaluate the accounts' alerts (committed) and post or update their cards."""
    started = time.perf_counter()
    ids = report.accounts
    report.changes = evaluate_alerts(session, config, now, account_ids=ids)
    session.commit()
    telemetry.alerts_changed(len(report.changes.raised), len(report.changes.reopened))
    if delivery is not None:
        try:
            with run_lock(url):  # not while a pipeline run posts the same cards
                report.delivery = post_alert_cards(
                    delivery, session, config, with_unposted(session, report.changes, ids), now
                )
            report.errors += [f"alert {a}: {e}" for a, e in report.delivery.failed]
        except RunInProgress:
            # the cards stay unposted: the run in progress, or the next frequent check
            # (schedule.snooze_check_minutes), posts them
            report.note = "alert cards left to the pipeline run in progress"
        except Exception as exc:  # noqa: BLE001 - Slack down must not undo the scores
            session.rollback()
            report.errors.append(f"alert cards: {exc}")
    report.timings["alerts"] = time.perf_counter() - started
    report.stamps["cards"] = epoch_seconds()


def _write_back(
    session: Session, config: PulseConfig, report: RescoreReport, now: datetime
) -> None:
    """Send the accounts' changed fields to each configured CRM (each committed)."""
    started = time.perf_counter()
    written = write_back_health(session=session, config=config, systems=ready_crms(config),
                                now=now, account_ids=report.accounts)
    for outcome in written.outcomes:
        system, wb = outcome.system, outcome.report
        if wb is None:
            report.errors.append(f"{system} writeback: {outcome.error}")
            continue
        report.crm[system] = f"{wb.succeeded}/{wb.sent} updated, {wb.unchanged} unchanged" + (
            f", {wb.restored} edited in the CRM put back" if wb.restored else ""
        )
        report.errors += [f"{system} {who}: {why}" for who, why in wb.failed]
    report.timings["crm"] = time.perf_counter() - started
    report.stamps["crm"] = epoch_seconds()
