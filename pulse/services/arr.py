"""ARR of the CRMs' accounts from billing or won deals, and the line saying where it comes
from (the order is :mod:`pulse.kernel.arr`'s)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from sqlalchemy.orm import Session

from pulse.kernel.arr import ArrSource, arr_source
from pulse.kernel.config import PulseConfig
from storage.arr_sources import arr_from_opportunities, arr_from_subscriptions, clear_arr

CRMS = ("salesforce", "hubspot")
"""The CRMs whose accounts' ARR may come from billing or deals."""


class CheckedField(Protocol):
    """One field line of ``pulse crm check`` (``connectors.crm.FieldState``)."""

    @property
    def name(self) -> str: ...

    @property
    def found(self) -> str | None: ...


@dataclass(frozen=True)
class ArrReport:
    """What :func:`fill_arr` did: accounts whose ARR changed, per CRM and source."""

    changed: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.changed:
            return "ARR: as the CRM holds it"
        return "ARR: " + ", ".join(f"{key}, {n:,} account(s) changed"
                                   for key, n in self.changed.items())


def fill_arr(session: Session, config: PulseConfig, today: date) -> ArrReport:
    """Set the ARR of each synced CRM's accounts whose ARR comes from billing or deals
    (and clear it where no source is left: kind ``none``).

    Run after identity resolution (so Stripe subscriptions sit on the CRM account) and
    before the ARR ledger (so it records the change). The caller commits.
    """
    changed: dict[str, int] = {}
    for crm in CRMS:
        source = arr_source(config, crm)
        if source.kind == "billing":
            changed[f"{crm} from Stripe"] = arr_from_subscriptions(session, crm)
        elif source.kind == "deals":
            changed[f"{crm} from deals"] = arr_from_opportunities(session, crm, today)
        elif source.kind == "none":
            changed[f"{crm} none"] = clear_arr(session, crm)
    return ArrReport(changed)


def arr_line(config: PulseConfig, crm: str, checks: Sequence[CheckedField]) -> str:
    """Where ``crm``'s accounts get their ARR, for ``pulse crm check``; a mapped field the
    CRM lacks (per ``checks``, the check's field lines) is said to be missing."""
    source: ArrSource = arr_source(config, crm)
    line = source.describe()
    if source.kind == "property" and any(
        c.name == source.field and c.found is None for c in checks
    ):
        what, key = (("HubSpot has no company property", "hubspot.company_properties")
                     if crm == "hubspot" else
                     ("Salesforce has no Account field", "salesforce.account_fields"))
        line += (f" — but {what} {source.field}: create it, or remove sources.{key}.arr "
                 "to take ARR from Stripe or won deals")
    return line
