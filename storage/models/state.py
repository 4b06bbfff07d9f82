"""What Pulse itself records besides score snapshots (:mod:`storage.models.snapshots`):
alerts, the audit log, sync and pipeline runs, write-backs, playbooks, reminders, trial
extensions, overrides, webhook events, Slack lookups of CRM owners, the Slack requests
answered (against replays), the accounts alert evaluation watches and the digests sent."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class Alert(Base):
    """One alert per (account, rule) while its condition lasts (see ``pulse.services.alerts``).

    ``label`` and ``action`` are copied from the flag when the alert is raised, so a card
    can still be rendered after the flag cleared from the latest snapshot. ``quiet_*``
    record the account when the alert was acknowledged or snoozed. The partial
    unique index ``uq_alerts_live`` guarantees at most one live alert per (account, rule)
    even when two evaluations race.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_account_rule", "account_id", "rule"),
        Index(
            "uq_alerts_live",
            "account_id",
            "rule",
            unique=True,
            sqlite_where=text("status <> 'resolved'"),
            postgresql_where=text("status <> 'resolved'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    rule: Mapped[str] = mapped_column(String(80))
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="open")
    message: Mapped[str] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(String(120))
    action: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    snoozed_by: Mapped[str | None] = mapped_column(String(80))
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    slack_channel: Mapped[str | None] = mapped_column(String(40))
    slack_ts: Mapped[str | None] = mapped_column(String(40))
    # True when the card went to the catch-all channel because the person its route names
    # (the owner, the manager) has no Slack user (pulse.services.alerts.routing).
    catch_all: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The account as it stood when someone acknowledged or snoozed the alert: the baseline
    # "materially worse" is measured from (a further score drop, a new critical flag, the
    # renewal entering its notice window), which reopens the alert early.
    quiet_since: Mapped[datetime | None] = mapped_column(DateTime)
    quiet_score: Mapped[float | None] = mapped_column(Float)
    quiet_flags: Mapped[list[Any] | None] = mapped_column(JSON)
    quiet_reason: Mapped[str | None] = mapped_column(Text)  # the CSM's optional why
    reopen_reason: Mapped[str | None] = mapped_column(Text)  # why Pulse reopened it early
    # The message of one person's new alerts it was posted in (AlertMessage), whose
    # channel and ts slack_channel and slack_ts repeat; None for a card of its own.
    bundle_id: Mapped[int | None] = mapped_column(ForeignKey("alert_messages.id"))
    # When the alert was kept out of the DMs (over the per-message cap, or below
    # alerts.dm_min_severity): the morning digest lists it instead.
    held_at: Mapped[datetime | None] = mapped_column(DateTime)


class AlertMessage(Base):
    """One person's new alerts of a run, posted as one message (``digests.cards.bundle``).

    Kept so the message can be re-rendered after a click or a resolve with what its footer
    said: ``held`` new alerts waiting for the digest, the ``baseline`` summary
    (``{"accounts": n, "at_risk": k, "team": bool}``) or None.
    """

    __tablename__ = "alert_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    destination: Mapped[str] = mapped_column(String(40))  # Slack user id or channel id
    channel: Mapped[str] = mapped_column(String(40))
    ts: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[datetime] = mapped_column(DateTime)
    held: Mapped[int] = mapped_column(Integer, default=0)
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AuditLog(Base):
    """Append-only record of what Pulse and its users did."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(80))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str] = mapped_column(String(20), default="ok")


class SyncState(Base):
    """Per-source cursor and last run, so the next sync resumes where this one stopped."""

    __tablename__ = "sync_state"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)  # composite JSON cursors can be long
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CrmWriteback(Base):
    """What Pulse last wrote to one CRM record, so only changed values are sent again.

    ``values`` holds the last values the CRM accepted; ``last_error`` the reason of the
    last per-record failure (a deleted record, a validation rule), retried next run.
    """

    __tablename__ = "crm_writeback"
    __table_args__ = (UniqueConstraint("system", "account_id", name="uq_writeback_system_acct"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(20))  # salesforce | hubspot
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    record_id: Mapped[str] = mapped_column(String(40))
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    written_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime)


RUN_RUNNING = "running"
"""A pipeline run's status from its start until its steps are written."""
RUN_INTERRUPTED = "interrupted"
"""A pipeline run cut short (its process died or was stopped): set by the next run
(``pulse.jobs.pipeline.settle_interrupted``); a scheduled one is run again by the next
process that runs the day's pipeline."""


class PipelineRun(Base):
    """One run of the daily pipeline and each step's outcome (``pulse runs``).

    A scheduled run claims its local day by inserting its row first; the partial unique
    index makes a second claim for the same day fail in the database, so however many
    processes share it and whenever one comes back after missing 06:00, a day's
    scheduled pipeline runs once. Manual runs (``pulse run``) are not limited.
    """

    __tablename__ = "pipeline_runs"
    __table_args__ = (
        Index(
            "uq_pipeline_scheduled_day",
            "run_date",
            unique=True,
            sqlite_where=text("kind = 'scheduled'"),
            postgresql_where=text("kind = 'scheduled'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))  # scheduled | manual
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    # RUN_RUNNING | ok | failed | RUN_INTERRUPTED
    status: Mapped[str] = mapped_column(String(20), default=RUN_RUNNING)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    host: Mapped[str] = mapped_column(String(200), default="")


class PlaybookFiring(Base):
    """A playbook fired for an account: its cooldown clock and what each action did.

    ``status`` is ``done`` (every action ran), ``partial`` (some failed), ``failed``
    (all failed: no cooldown starts for a failed action), ``deferred``
    (the CSM's daily cap was reached: listed in the next digest instead) or ``held``
    (do-not-contact account: only internal actions ran).
    """

    __tablename__ = "playbook_firings"
    __table_args__ = (Index("ix_playbook_firings_key", "playbook", "account_id", "fired_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    playbook: Mapped[str] = mapped_column(String(80))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    fired_at: Mapped[datetime] = mapped_column(DateTime)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Reminder(Base):
    """A follow-up a playbook scheduled: DM ``slack_user_id`` at ``due_at`` (once)."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_due", "sent_at", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    playbook: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    due_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str | None] = mapped_column(String(200))


class TrialExtension(Base):
    """One step of a trial's extension history (the handbook's policy, issue 7).

    Step 1 is automatic (7 days), step 2 needs a CSM's written justification (14 days),
    step 3 and later need a manager's approval: they are stored ``pending`` until the
    manager clicks Approve or Decline. ``step`` is the policy step (granted extensions
    before it + 1). The partial unique index on ``(subscription_id, step)`` over granted
    and pending rows makes two concurrent requests for the same step collide in the
    database instead of extending the trial twice, while a declined or failed step can
    be asked again.
    """

    __tablename__ = "trial_extensions"
    __table_args__ = (
        Index(
            "uq_trial_extension_live_step",
            "subscription_id",
            "step",
            unique=True,
            sqlite_where=text("status IN ('granted', 'pending')"),
            postgresql_where=text("status IN ('granted', 'pending')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"))
    step: Mapped[int] = mapped_column(Integer)
    days: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # granted | pending | declined | failed
    requested_by: Mapped[str] = mapped_column(String(80))  # Slack user id
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    justification: Mapped[str | None] = mapped_column(Text)
    approver: Mapped[str | None] = mapped_column(String(80))  # Slack user id asked to decide
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    previous_end: Mapped[date | None] = mapped_column(Date)
    new_end: Mapped[date | None] = mapped_column(Date)
    error: Mapped[str | None] = mapped_column(Text)
    slack_channel: Mapped[str | None] = mapped_column(String(40))  # the approval DM
    slack_ts: Mapped[str | None] = mapped_column(String(40))


class Override(Base):
    """A CSM's judgement on an account: a sentiment (green/yellow/red) or a pinned score.

    It has a reason, an author and an expiry, and lives outside the scored data, so no
    later scoring run can clobber it: scoring reads the override active on its as-of date
    and shows it as the ``csm`` component. One active override per account (partial
    unique index); a new one replaces the old (status ``replaced``), ``clear`` ends it
    (``cleared``), the date ends it (``expired``). ``reminded_at``: the author was told it
    is about to expire.
    """

    __tablename__ = "overrides"
    __table_args__ = (
        Index(
            "uq_overrides_active",
            "account_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # sentiment | score
    sentiment: Mapped[str | None] = mapped_column(String(10))  # green | yellow | red
    score: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(80))  # Slack user id
    author_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_on: Mapped[date] = mapped_column(Date)  # last day it applies
    status: Mapped[str] = mapped_column(String(20), default="active")
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_by: Mapped[str | None] = mapped_column(String(80))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime)


class WebhookEvent(Base):
    """One webhook event Pulse accepted for live rescoring (``pulse.jobs.live``), kept as its inbox.

    The row is inserted *before* anything else happens, and ``(source, event_id)`` is
    unique: a second delivery of the same event (Stripe, HubSpot and Zendesk retry, and
    Salesforce delivers "at least once") fails on the constraint and is answered 200
    without doing anything, however many ``pulse serve`` processes receive it. The
    payload is stored so the background worker works from the database, not from memory:
    an event acked just before a restart is processed after it. ``status``: ``received``
    (waiting for the worker), ``processing``, ``done``, ``ignored`` (nothing of Pulse's
    in it) or ``failed`` (``error`` says why); ``account_ids`` the Pulse accounts it
    rescored.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_webhook_events_source_event"),
        Index("ix_webhook_events_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # stripe | zendesk | hubspot | salesforce
    event_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(120))  # the source's event type
    received_at: Mapped[datetime] = mapped_column(DateTime)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(20), default="received")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    account_ids: Mapped[list[Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class SlackLookup(Base):
    """What Slack's ``users.lookupByEmail`` answered for one email, and when.

    ``status``: ``found`` (``slack_user_id`` set), ``not_found`` (Slack's
    ``users_not_found``) or ``error`` (``error`` holds Slack's error code). Emails are
    stored lower-cased, once each, so two owners with the same email (the same person in
    two CRMs) cost one lookup. Re-check rules: :mod:`pulse.services.people.matching`.
    """

    __tablename__ = "slack_lookups"
    __table_args__ = (UniqueConstraint("email", name="uq_slack_lookups_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20))
    slack_user_id: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(String(200))
    checked_at: Mapped[datetime] = mapped_column(DateTime)


class SeenSlackRequest(Base):
    """A signed Slack request ``pulse serve`` has answered, remembered so an identical
    one (a replay within the 5-minute window) is answered once across every process.

    ``key`` is the hex of the request's ``X-Slack-Signature`` (HMAC-SHA256 of timestamp
    and body: identical requests, identical key); the primary key makes the database
    decide which of two concurrent deliveries is first. Rows are deleted once older than
    the longest time a replay could still pass the timestamp check
    (:mod:`storage.seen_requests`).
    """

    __tablename__ = "seen_slack_requests"
    __table_args__ = (Index("ix_seen_slack_requests_seen_at", "seen_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime)


class WatchedAccount(Base):
    """An account Pulse's alert evaluation has seen, and since when.

    The first evaluation that sees an account (the first run, or its history just imported)
    takes its conditions as the baseline (``pulse.services.alerts.baseline``): they are
    recorded as ``baseline`` alerts and summarised once, not raised; from then on changes
    raise alerts.
    """

    __tablename__ = "watched_accounts"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    since: Mapped[date] = mapped_column(Date)  # the snapshot date first evaluated
    at: Mapped[datetime] = mapped_column(DateTime)


class DigestSend(Base):
    """A digest delivered: one person (or channel) and kind a local day, unless forced.

    ``pulse digest`` and ``pulse run`` skip a recipient who already has the day's digest
    of that kind (``--force`` sends again and records another row).
    """

    __tablename__ = "digest_sends"
    __table_args__ = (Index("ix_digest_sends_day", "day", "destination"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)  # the workspace's local date
    destination: Mapped[str] = mapped_column(String(40))  # Slack user id or channel id
    kind: Mapped[str] = mapped_column(String(20))  # csm | manager
    sent_at: Mapped[datetime] = mapped_column(DateTime)
    channel: Mapped[str | None] = mapped_column(String(40))
    ts: Mapped[str | None] = mapped_column(String(40))
