"""What sources bring: owners, accounts, contacts, billing, support, surveys, opportunities,
daily usage and integration facts, and the ARR ledger."""

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
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, SourceKeyed


class Owner(SourceKeyed, Base):
    """A CSM or CS manager; ``manager_id`` points at the owner's manager.

    ``slack_user_source`` says where ``slack_user_id`` came from: ``source`` (the source
    record carried it, e.g. the sample or a file), ``override`` (``people.slack_users``
    in pulse.yml) or ``email`` (Slack's ``users.lookupByEmail``); None when unmatched.
    See :mod:`pulse.services.people`.
    """

    __tablename__ = "owners"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_owners_source_ext"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    crm_owner_id: Mapped[str | None] = mapped_column(String(120))
    slack_user_id: Mapped[str | None] = mapped_column(String(40))
    slack_user_source: Mapped[str | None] = mapped_column(String(20))
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
    # When the CRM record was deleted, merged into another or archived (naive UTC); None
    # while it exists. Kept, not removed: its history stays readable, and a record
    # restored in the CRM comes back with its next sync.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The CRM id of the record this one was merged into (deleted by the merge), when the
    # CRM says: identity resolution follows it for ids that name this record.
    merged_into: Mapped[str | None] = mapped_column(String(40))

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
    # When the CRM record was deleted (naive UTC); None while it exists. A deleted
    # opportunity counts in no forecast and no ARR.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)


class ArrChange(Base):
    """One account's ARR from ``effective_on`` on: the ledger retention metrics read.

    Accounts carry only their current ARR, but gross and net revenue retention need each
    account's ARR at a period's start and end. The ARR of an account on a day is the
    ``arr`` of its latest change effective on or before that day (0 before the first);
    ``arr`` 0 means churned. Rows come from a source's ``arr_history`` (the loader keys
    them on ``(account_id, effective_on)``, like daily facts) and from
    ``storage.arr_ledger.record_arr_ledger``, which appends a row whenever an account's
    current ARR differs from its ledger (``source`` "pulse"). ``reason`` is a label for
    people (``storage.arr_ledger.change_reason``: new, expansion, contraction, churn,
    reactivation, observed); metrics never read it, and rows loaded without one are
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
