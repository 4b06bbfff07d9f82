"""The records connectors hand to storage: one :class:`Batch` per entity.

A connector pulls everything changed since a cursor and yields :class:`Batch` objects in
dependency order (owners, accounts, contacts, then the rest). Storage upserts each batch
idempotently on ``(source, external_id)`` and stores the batch's cursor only once the
batch is committed, so a failure mid-run resumes without gaps or duplicates.

Records are plain dicts whose keys are the storage columns, except that references to
other records use the referenced record's external id from the same source:

========================  ===================================================================
entity                    keys (required in **bold** by convention of the loader)
========================  ===================================================================
``owners``                external_id, name, email, crm_owner_id, slack_user_id, team,
                          is_manager, manager_external_id
``accounts``              external_id, name, domain, salesforce_id, hubspot_id,
                          stripe_customer_id, zendesk_org_id, owner_external_id, tier, segment,
                          region, industry, arr, mrr, licensed_seats, contract_start,
                          renewal_date, lifecycle, churned_on, do_not_contact, custom
``contacts``              external_id, account_external_id, email, name, department, role,
                          is_main_contact, created_on, last_seen_at, deactivated_at
``usage``                 account_external_id, user_external_id, feature, day, events, minutes
``integrations``          account_external_id, integration, day, runs, failures
``subscriptions``         external_id, account_external_id, plan, status, quantity, mrr,
                          started_on, current_period_end, trial_end, canceled_on
``invoices``              external_id, account_external_id, subscription_external_id, amount,
                          currency, status, issued_on, due_on, paid_on
``tickets``               external_id, account_external_id, contact_external_id, subject,
                          priority, status, created_at, solved_at, satisfaction, sentiment
``surveys``               external_id, account_external_id, contact_external_id, kind,
                          score, comment, responded_at
``opportunities``         external_id, account_external_id, owner_external_id, name, kind,
                          stage, amount, close_date, is_closed, is_won
``arr_history``           account_external_id, effective_on, arr
========================  ===================================================================

A CRM connector's accounts and opportunities also carry ``deleted_at``: when the record
was deleted (or merged away) in the CRM, None while it exists (files have no such column);
a merged-away account may carry ``merged_into``, the CRM id of the record that survived.
A *tombstone* (:func:`tombstone`) says only that a record was deleted at its source:
``{"external_id", "deleted_at", "_tombstone": True}`` (and ``merged_into`` when known), for
accounts and opportunities.
Storage sets ``deleted_at`` on the stored record of that id and ignores an id it does not
hold, so a connector can report what it saw deleted without knowing what was stored.

Dates are ``datetime.date``, times naive UTC ``datetime.datetime``. ``usage``,
``integrations`` and ``arr_history`` may be given as a pandas DataFrame with those columns,
for bulk loads. ``arr_history`` is an account's ARR from ``effective_on`` on (0 once it
churned): the ledger GRR and NRR are computed from (``storage.models.ArrChange``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:  # only named in an annotation: importing a connector loads no pandas
    import pandas as pd

Entity = Literal[
    "owners",
    "accounts",
    "contacts",
    "usage",
    "integrations",
    "subscriptions",
    "invoices",
    "tickets",
    "surveys",
    "opportunities",
    "arr_history",
]
ENTITY_ORDER: tuple[Entity, ...] = get_args(Entity)
"""Every entity, in the order a pull yields them (what references must exist first)."""


TOMBSTONE = "_tombstone"
"""The key marking a record as a tombstone (see the module's docstring)."""


def tombstone(
    external_id: str, deleted_at: datetime, merged_into: str | None = None
) -> dict[str, Any]:
    """The record saying ``external_id`` was deleted at its source at ``deleted_at``
    (merged into the account whose CRM id is ``merged_into``, when known)."""
    record: dict[str, Any] = {"external_id": external_id, "deleted_at": deleted_at,
                              TOMBSTONE: True}
    if merged_into:
        record["merged_into"] = merged_into
    return record


@dataclass(frozen=True)
class Rejection:
    """A record the connector could not accept (or stored without a link it named), with
    where it came from and why."""

    where: str  # e.g. "accounts.csv:14" or "Account 001xx0000003DGb"
    reason: str
    imported: bool = False  # the record was stored, only a reference in it did not resolve


@dataclass
class Batch:
    """Records of one entity, and the cursor to store once they are committed."""

    entity: Entity
    records: list[dict[str, Any]] | pd.DataFrame
    cursor: str | None = None
    rejected: list[Rejection] = field(default_factory=list)
    ref_source: str | None = None
    """Resolve ``*_external_id`` references against this source's records instead of the
    batch's own (e.g. warehouse usage keyed by Salesforce account and contact ids)."""
    distinct_keys: bool = False
    """True when no other batch of the same pull holds a fact with the same key (the
    files connector rejects repeats across a whole file), so the sync may write this
    batch at the same time as the one before it."""
    unlinked_ok: frozenset[str] = frozenset()
    """Optional references (e.g. ``contact_external_id``) this source expects to leave
    unresolved, stored without a report (Zendesk's requesters: Pulse pulls no Zendesk
    users). Any other unknown optional reference is reported per record."""
    pages: int = 1
    """How many API pages (requests) the records were read from: a connector that gathers
    a whole query's pages into one batch says so, and the progress line counts them."""

    def __len__(self) -> int:
        return len(self.records)
