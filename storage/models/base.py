"""The declarative base, what every source record shares, and the values some columns take."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, DateTime, String, Table, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

LIFECYCLES = ("trial", "paid", "churned")
CONTACT_ROLES = ("owner", "admin", "power_user", "member")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
DELETED_TICKET_STATUS = "deleted"
"""A ticket deleted in its help desk: kept (a later sync updates, never resurrects it),
counted nowhere."""
CLOSED_TICKET_STATUSES = ("solved", "closed")
"""Statuses of a ticket that is no longer open (solved, whether or not ``solved_at`` is
known)."""
TICKET_STATUSES = ("new", "open", "pending", "hold", *CLOSED_TICKET_STATUSES,
                   DELETED_TICKET_STATUS)
SENTIMENTS = ("negative", "neutral", "positive")
SURVEY_KINDS = ("nps", "csat")
INVOICE_STATUSES = ("draft", "open", "paid", "void", "uncollectible")
OPPORTUNITY_KINDS = ("renewal", "expansion", "new", "other")
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
