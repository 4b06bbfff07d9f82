"""Where a CRM's accounts get their ARR from: one decision, read by the sync (which fills
``Account.arr``) and by ``pulse crm check`` (which prints it).

ARR is what the customer pays you per year. It is never a CRM's "annual revenue" field
(HubSpot ``annualrevenue``, Salesforce ``AnnualRevenue``): that is the customer company's
own revenue. For each CRM the first of these that applies is used, for every account:

1. ``property``: a CRM field mapped explicitly to ``arr``
   (``sources.hubspot.company_properties.arr``, ``sources.salesforce.account_fields.arr``),
   stored as the CRM holds it;
2. ``billing``: Stripe is configured (``sources.stripe``): ARR is 12 x the summed MRR of
   the subscriptions linked to the account (the Stripe connector stores MRR 0 for
   trialing, canceled and incomplete subscriptions);
3. ``deals``: the summed amount of the account's deals (Salesforce opportunities) won in
   the last :data:`DEAL_ARR_WINDOW_DAYS` days, contracts being booked (and renewed) once
   a year; a HubSpot deal's amount is its ``sources.hubspot.deal_arr_property``
   (``hs_arr``: HubSpot's annual recurring revenue of the deal's recurring line items,
   https://knowledge.hubspot.com/crm-deals/hubspots-default-deal-properties), else its
   ``amount``. A contract booked for several years in one deal drops out after a year:
   map an ARR property for those;
4. ``none``: accounts have no ARR (HubSpot with ``arr_from_deals: false``).

A CRM that is not synced (``sync: false``) brings no accounts, so none of this applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pulse.kernel.config import PulseConfig

DEAL_ARR_WINDOW_DAYS = 365
"""Deals won within this many days (today included) make up an account's ARR from deals."""
MONTHS_PER_YEAR = 12
"""ARR from billing is this many times the monthly recurring revenue."""

ArrKind = Literal["property", "billing", "deals", "none", "not_synced"]


@dataclass(frozen=True)
class ArrSource:
    """Where ``crm``'s accounts get their ARR; ``field`` is the mapped CRM field (kind
    ``property``) or the deal field summed (kind ``deals``)."""

    crm: str
    kind: ArrKind
    field: str | None = None

    def describe(self) -> str:
        """The one line ``pulse crm check`` prints."""
        hubspot = self.crm == "hubspot"
        if self.kind == "property":
            where = "HubSpot company property" if hubspot else "Salesforce Account field"
            return f"ARR: from {where} {self.field}"
        if self.kind == "billing":
            return "ARR: from Stripe subscriptions (12 x MRR of the linked subscriptions)"
        if self.kind == "deals":
            what = "deals" if hubspot else "opportunities"
            return (f"ARR: from closed-won {what} ({self.field}) won in the last "
                    f"{DEAL_ARR_WINDOW_DAYS} days")
        if self.kind == "not_synced":
            return f"ARR: not read from {self.crm} (sync: false)"
        return (
            "ARR: none mapped — set sources.hubspot.company_properties.arr, configure "
            "sources.stripe, or set sources.hubspot.arr_from_deals: true"
        )


def arr_source(config: PulseConfig, crm: str) -> ArrSource:
    """Where the accounts of ``crm`` (``hubspot`` or ``salesforce``) get their ARR."""
    if crm == "hubspot":
        hubspot = config.sources.hubspot
        if hubspot is None or not hubspot.sync:
            return ArrSource(crm, "not_synced")
        if hubspot.company_properties.get("arr"):
            return ArrSource(crm, "property", hubspot.company_properties["arr"])
        if config.sources.stripe is not None:
            return ArrSource(crm, "billing")
        if hubspot.arr_from_deals:
            return ArrSource(crm, "deals", hubspot.deal_arr_property)
        return ArrSource(crm, "none")
    if crm == "salesforce":
        salesforce = config.sources.salesforce
        if salesforce is None or not salesforce.sync:
            return ArrSource(crm, "not_synced")
        if salesforce.account_fields.get("arr"):
            return ArrSource(crm, "property", salesforce.account_fields["arr"])
        if config.sources.stripe is not None:
            return ArrSource(crm, "billing")
        return ArrSource(crm, "deals", "Amount")
    raise KeyError(f"unknown CRM '{crm}'")
