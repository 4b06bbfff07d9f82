"""Typed SQLAlchemy 2.0 models of everything Pulse stores.

Every record that comes from a source system carries ``(source, external_id)`` and is
unique on it, so loading the same data twice changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

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
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

LIFECYCLES = ("trial", "paid", "churned")
CONTACT_ROLES = ("owner", "admin", "power_user", "member")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
SENTIMENTS = ("negative", "neutral", "positive")
SURVEY_KINDS = ("nps", "csat")
INVOICE_STATUSES = ("draft", "open", "paid", "void", "uncollectible")
ALERT_STATUSES = ("open", "acknowledged", "snoozed", "resolved")
SEVERITIES = ("info", "warning", "critical")
OPPORTUNITY_KINDS = ("renewal", "expansion", "new", "other")
ARR_REASONS = ("new", "expansion", "contraction", "churn", "reactivation", "observed")
LINKED_ONLY_SOURCES = ("stripe", "zendesk")
"""Sources whose accounts (Stripe customers, Zendesk organisations) only carry records to
be linked to a CRM account by identity resolution; they are never scored on their own."""


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class SourceKeyed:
    """Columns shared by every record loaded from a source system."""

    if TYPE_CHECKING:  # declared by each model
        __tablename__: str
        id: Mapped[int]

    source: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), server_default=func.now(), onupdate=func.now()
    )


def table_of(model: type[Base] | type[SourceKeyed]) -> Table:
    """The Core table of ``model`` (``__table__`` is typed as any ``FromClause``)."""
    return Base.metadata.tables[model.__tablename__]


class Owner(SourceKeyed, Base):
    """A CSM or CS manager; ``manager_id`` points at the owner's manager."""

    __tablename__ = "owners"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_owners_source_ext"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    crm_owner_id: Mapped[str | None] = mapped_column(String(120))
    slack_user_id: Mapped[str | None] = mapped_column(String(40))
    team: Mapped[str | None] = mapped_column(String(120))
    is_manager: Mapped[bool] = mapped_column(Boolean, default=False)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))

    manager: Mapped[Owner | None] = relationship(remote_side="Owner.id")


class Account(SourceKeyed, Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_accounts_source_ext"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    salesforce_id: Mapped[str | None] = mapped_column(String(40))
    hubspot_id: Mapped[str | None] = mapped_column(String(40))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(60))
    zendesk_org_id: Mapped[str | None] = mapped_column(String(40))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"), index=True)
    tier: Mapped[str | None] = mapped_column(String(40))
    segment: Mapped[str | None] = mapped_column(String(80))
    region: Mapped[str | None] = mapped_column(String(80))
    industry: Mapped[str | None] = mapped_column(String(120))
    arr: Mapped[float | None] = mapped_column(Float)
    mrr: Mapped[float | None] = mapped_column(Float)
    licensed_seats: Mapped[int | None] = mapped_column(Integer)
    contract_start: Mapped[date | None] = mapped_column(Date)
    renewal_date: Mapped[date | None] = mapped_column(Date)
    lifecycle: Mapped[str] = mapped_column(String(20), default="paid")
    churned_on: Mapped[date | None] = mapped_column(Date)
    do_not_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    owner: Mapped[Owner | None] = relationship()


class Contact(SourceKeyed, Base):
    """A person at a customer: a CRM contact and/or a product user."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_contacts_source_ext"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20), default="member")
    is_main_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    created_on: Mapped[date | None] = mapped_column(Date)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime)


class UsageDaily(Base):
    """One account x user x feature x day of product usage.

    The biggest table by far (tens of millions of rows), so it carries as few indexes as
    its readers need: the natural key is the primary key, ordered (account, day, ...) so
    one account's recent days are one index range (cards, live rescoring, the loader's
    existence check), and PostgreSQL gets a BRIN index on ``day`` for the whole-portfolio
    window scan, which costs almost nothing to maintain during bulk loads. ``account_id``
    and ``user_id`` are not declared foreign keys: the loader only writes ids it has just
    resolved from ``accounts``/``contacts`` (neither is ever deleted), and PostgreSQL's
    per-row referential check took 80% of a bulk load. A surrogate id, a (day, account)
    B-tree and the two foreign keys together cut the load from ~275k to ~30k rows/s
    (docs/performance.md).
    """

    __tablename__ = "usage_daily"
    __table_args__ = (
        Index("ix_usage_day_brin", "day", postgresql_using="brin").ddl_if(
            dialect="postgresql"
        ),
    )

    account_id: Mapped[int] = mapped_column(primary_key=True)  # accounts.id
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(primary_key=True)  # contacts.id
    feature: Mapped[str] = mapped_column(String(80), primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    events: Mapped[int] = mapped_column(Integer, default=0)
    minutes: Mapped[float] = mapped_column(Float, default=0.0)


class IntegrationDaily(Base):
    """Daily runs and failures of one customer integration (for the integration-failure flag)."""

    __tablename__ = "integration_daily"
    __table_args__ = (
        UniqueConstraint("account_id", "integration", "day", name="uq_integration_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    integration: Mapped[str] = mapped_column(String(80))
    day: Mapped[date] = mapped_column(Date)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class Subscription(SourceKeyed, Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_subscriptions_source_ext"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    plan: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(30))
    quantity: Mapped[int | None] = mapped_column(Integer)
    mrr: Mapped[float | None] = mapped_column(Float)
    started_on: Mapped[date | None] = mapped_column(Date)
    current_period_end: Mapped[date | None] = mapped_column(Date)
    trial_end: Mapped[date | None] = mapped_column(Date)
    canceled_on: Mapped[date | None] = mapped_column(Date)


class Invoice(SourceKeyed, Base):
    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_invoices_source_ext"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"))
    amount: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    status: Mapped[str] = mapped_column(String(20))
    issued_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    paid_on: Mapped[date | None] = mapped_column(Date)


class Ticket(SourceKeyed, Base):
    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_tickets_source_ext"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    subject: Mapped[str | None] = mapped_column(String(500))
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    solved_at: Mapped[datetime | None] = mapped_column(DateTime)
    satisfaction: Mapped[str | None] = mapped_column(String(20))
    sentiment: Mapped[str | None] = mapped_column(String(20))


class SurveyResponse(SourceKeyed, Base):
    """An NPS (0-10) or CSAT (1-5) response."""

    __tablename__ = "survey_responses"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_surveys_source_ext"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    kind: Mapped[str] = mapped_column(String(10))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime] = mapped_column(DateTime)


class ScoreSnapshot(Base):
    """One account's scored state on one date, with every component kept for explanation."""

    __tablename__ = "score_snapshots"
    __table_args__ = (
        UniqueConstraint("account_id", "as_of", name="uq_snapshot_account_day"),
        Index("ix_snapshot_as_of", "as_of"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    as_of: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(DateTime)
    score: Mapped[float] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(20))
    components: Mapped[list[Any]] = mapped_column(JSON)
    expansion_score: Mapped[float] = mapped_column(Float)
    renewal_risk: Mapped[str] = mapped_column(String(10))
    renewal_risk_score: Mapped[float] = mapped_column(Float)
    flags: Mapped[list[Any]] = mapped_column(JSON)
    reasons: Mapped[list[Any]] = mapped_column(JSON)


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
    # The account as it stood when someone acknowledged or snoozed the alert: the baseline
    # "materially worse" is measured from (a further score drop, a new critical flag, the
    # renewal entering its notice window), which reopens the alert early.
    quiet_since: Mapped[datetime | None] = mapped_column(DateTime)
    quiet_score: Mapped[float | None] = mapped_column(Float)
    quiet_flags: Mapped[list[Any] | None] = mapped_column(JSON)
    quiet_reason: Mapped[str | None] = mapped_column(Text)  # the CSM's optional why
    reopen_reason: Mapped[str | None] = mapped_column(Text)  # why Pulse reopened it early


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


class Opportunity(SourceKeyed, Base):
    """A CRM renewal or expansion opportunity (Salesforce Opportunity, HubSpot deal)."""

    __tablename__ = "opportunities"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_opportunities_source_ext"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    name: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(20), default="other")  # renewal|expansion|new|other
    stage: Mapped[str | None] = mapped_column(String(80))
    amount: Mapped[float | None] = mapped_column(Float)
    close_date: Mapped[date | None] = mapped_column(Date)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)


class ArrChange(Base):
    """One account's ARR from ``effective_on`` on: the ledger retention metrics read.

    Accounts carry only their current ARR, but gross and net revenue retention need each
    account's ARR at a period's start and end. The ARR of an account on a day is the
    ``arr`` of its latest change effective on or before that day (0 before the first);
    ``arr`` 0 means churned. Rows come from a source's ``arr_history`` (the loader keys
    them on ``(account_id, effective_on)``, like daily facts) and from
    ``storage.arr_ledger.record_arr_ledger``, which appends a row whenever an account's
    current ARR differs from its ledger (``source`` "pulse"). ``reason`` is a label for
    people (``ARR_REASONS``); metrics never read it, and rows loaded without one are
    labelled from the sequence by the next catch-up.
    """

    __tablename__ = "arr_changes"
    __table_args__ = (
        UniqueConstraint("account_id", "effective_on", name="uq_arr_changes_account_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    effective_on: Mapped[date] = mapped_column(Date)
    arr: Mapped[float] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(40))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime, server_default=func.now(), onupdate=func.now()
    )


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
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | ok | failed
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    host: Mapped[str] = mapped_column(String(200), default="")


class PlaybookFiring(Base):
    """A playbook fired for an account: its cooldown clock and what each action did.

    ``status`` is ``done`` (every action ran), ``partial`` (some failed), ``deferred``
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
