"""What an import file holds: each entity's columns, how a value is parsed and what makes
it invalid (the column format is documented in ``docs/import-format.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pulse.kernel.records import Entity
from storage import models

INT_MAX = 2**31 - 1  # storage Integer columns are 32-bit on PostgreSQL
CUSTOM_PREFIX = "custom."

Kind = Literal["str", "email", "int", "float", "bool", "date", "datetime", "enum", "currency"]


@dataclass(frozen=True)
class FieldSpec:
    """One column of an import file: how it is parsed and what makes a value invalid."""

    name: str
    kind: Kind = "str"
    required: bool = False
    choices: tuple[str, ...] = ()
    default: Any = None  # value of an empty cell (storage's own default for the column)
    max_len: int | None = None
    minimum: float | None = None
    lower: bool = False  # identifiers such as statuses are compared lower-case


@dataclass(frozen=True)
class FileSpec:
    """The columns of one entity's file, its duplicate key and how records are handed over."""

    entity: Entity
    fields: tuple[FieldSpec, ...]
    key: tuple[str, ...]
    as_frame: bool = False  # bulk daily facts go out as DataFrames, the rest as dicts
    custom: bool = False  # accepts ``custom.<name>`` columns into the ``custom`` dict

    @property
    def by_name(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


def _length(model: type[models.Base], column: str) -> int | None:
    """Column width from the model, so an over-long value is rejected here, not by the DB."""
    return getattr(model.__table__.c[column].type, "length", None)


def _text(model: type[models.Base], name: str, *, required: bool = False, lower: bool = False,
          column: str | None = None) -> FieldSpec:
    return FieldSpec(name, "str", required=required, lower=lower,
                     max_len=_length(model, column or name))


_EXT = _length(models.Owner, "external_id")


def _ref(name: str, *, required: bool = False) -> FieldSpec:
    return FieldSpec(name, "str", required=required, max_len=_EXT)


def _ext() -> FieldSpec:
    return FieldSpec("external_id", "str", required=True, max_len=_EXT)


def _date(name: str, *, required: bool = False) -> FieldSpec:
    return FieldSpec(name, "date", required=required)


def _dt(name: str, *, required: bool = False) -> FieldSpec:
    return FieldSpec(name, "datetime", required=required)


FILE_SPECS: dict[Entity, FileSpec] = {
    "owners": FileSpec("owners", (
        _ext(),
        _text(models.Owner, "name", required=True),
        FieldSpec("email", "email", max_len=_length(models.Owner, "email")),
        _text(models.Owner, "crm_owner_id"),
        _text(models.Owner, "slack_user_id"),
        _text(models.Owner, "team"),
        FieldSpec("is_manager", "bool", default=False),
        _ref("manager_external_id"),
    ), key=("external_id",)),
    "accounts": FileSpec("accounts", (
        _ext(),
        _text(models.Account, "name", required=True),
        _text(models.Account, "domain", lower=True),
        _text(models.Account, "salesforce_id"),
        _text(models.Account, "hubspot_id"),
        _text(models.Account, "stripe_customer_id"),
        _text(models.Account, "zendesk_org_id"),
        _ref("owner_external_id"),
        _text(models.Account, "tier"),
        _text(models.Account, "segment"),
        _text(models.Account, "region"),
        _text(models.Account, "industry"),
        FieldSpec("arr", "float", minimum=0),
        FieldSpec("mrr", "float", minimum=0),
        FieldSpec("licensed_seats", "int", minimum=0),
        _date("contract_start"),
        _date("renewal_date"),
        FieldSpec("lifecycle", "enum", choices=models.LIFECYCLES, default="paid"),
        _date("churned_on"),
        FieldSpec("do_not_contact", "bool", default=False),
    ), key=("external_id",), custom=True),
    "contacts": FileSpec("contacts", (
        _ext(),
        _ref("account_external_id", required=True),
        FieldSpec("email", "email", required=True, max_len=_length(models.Contact, "email")),
        _text(models.Contact, "name"),
        _text(models.Contact, "department"),
        FieldSpec("role", "enum", choices=models.CONTACT_ROLES, default="member"),
        FieldSpec("is_main_contact", "bool", default=False),
        _date("created_on"),
        _dt("last_seen_at"),
        _dt("deactivated_at"),
    ), key=("external_id",)),
    "usage": FileSpec("usage", (
        _ref("account_external_id", required=True),
        _ref("user_external_id", required=True),
        _text(models.UsageDaily, "feature", required=True),
        _date("day", required=True),
        FieldSpec("events", "int", default=0, minimum=0),
        FieldSpec("minutes", "float", default=0.0, minimum=0),
    ), key=("account_external_id", "user_external_id", "feature", "day"), as_frame=True),
    "integrations": FileSpec("integrations", (
        _ref("account_external_id", required=True),
        _text(models.IntegrationDaily, "integration", required=True),
        _date("day", required=True),
        FieldSpec("runs", "int", default=0, minimum=0),
        FieldSpec("failures", "int", default=0, minimum=0),
    ), key=("account_external_id", "integration", "day"), as_frame=True),
    "subscriptions": FileSpec("subscriptions", (
        _ext(),
        _ref("account_external_id", required=True),
        _text(models.Subscription, "plan"),
        _text(models.Subscription, "status", required=True, lower=True),
        FieldSpec("quantity", "int", minimum=0),
        FieldSpec("mrr", "float", minimum=0),
        _date("started_on"),
        _date("current_period_end"),
        _date("trial_end"),
        _date("canceled_on"),
    ), key=("external_id",)),
    "invoices": FileSpec("invoices", (
        _ext(),
        _ref("account_external_id", required=True),
        _ref("subscription_external_id"),
        FieldSpec("amount", "float", required=True),
        FieldSpec("currency", "currency", default="usd"),
        FieldSpec("status", "enum", required=True, choices=models.INVOICE_STATUSES),
        _date("issued_on"),
        _date("due_on"),
        _date("paid_on"),
    ), key=("external_id",)),
    "tickets": FileSpec("tickets", (
        _ext(),
        _ref("account_external_id", required=True),
        _ref("contact_external_id"),
        _text(models.Ticket, "subject"),
        FieldSpec("priority", "enum", choices=models.TICKET_PRIORITIES, default="normal"),
        FieldSpec("status", "enum", choices=models.TICKET_STATUSES, default="open"),
        _dt("created_at", required=True),
        _dt("solved_at"),
        _text(models.Ticket, "satisfaction", lower=True),
        FieldSpec("sentiment", "enum", choices=models.SENTIMENTS),
    ), key=("external_id",)),
    "surveys": FileSpec("surveys", (
        _ext(),
        _ref("account_external_id", required=True),
        _ref("contact_external_id"),
        FieldSpec("kind", "enum", required=True, choices=models.SURVEY_KINDS),
        FieldSpec("score", "int", required=True),
        FieldSpec("comment", "str"),
        _dt("responded_at", required=True),
    ), key=("external_id",)),
    "opportunities": FileSpec("opportunities", (
        _ext(),
        _ref("account_external_id", required=True),
        _ref("owner_external_id"),
        _text(models.Opportunity, "name"),
        FieldSpec("kind", "enum", choices=models.OPPORTUNITY_KINDS, default="other"),
        _text(models.Opportunity, "stage"),
        FieldSpec("amount", "float", minimum=0),
        _date("close_date"),
        FieldSpec("is_closed", "bool", default=False),
        FieldSpec("is_won", "bool", default=False),
    ), key=("external_id",)),
    "arr_history": FileSpec("arr_history", (
        _ref("account_external_id", required=True),
        _date("effective_on", required=True),
        FieldSpec("arr", "float", required=True, minimum=0),
    ), key=("account_external_id", "effective_on"), as_frame=True),
}
SCORE_RANGES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5)}
