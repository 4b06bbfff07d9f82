"""Settings of each source Pulse syncs (key ``sources`` of ``pulse.yml``); credentials
and endpoints come from environment variables, named in each docstring."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from pulse.kernel.config.base import StrictModel


class SampleSourceConfig(StrictModel):
    seed: int = Field(42, description="Seed of the generated workspace: the same seed, the "
                      "same accounts and history.")
    end_date: date | None = Field(
        None, description="Last day of generated history; today when absent."
    )
    accounts: int = Field(500, ge=20, description="Accounts generated.")
    days: int = Field(180, ge=30, description="Days of usage history generated.")


class FilesSourceConfig(StrictModel):
    path: str = Field(
        "./data", description="Directory of CSV or Parquet drops (docs/import-format.md)."
    )


class SalesforceSourceConfig(StrictModel):
    """Salesforce; the login comes from SALESFORCE_* environment variables (docs/connectors.md)."""

    api_version: str = Field("59.0", description="Salesforce REST API version Pulse calls.")
    account_fields: dict[str, str] = Field(
        default_factory=lambda: {
            "tier": "Tier__c",
            "segment": "Segment__c",
            "arr": "ARR__c",
            "renewal_date": "Renewal_Date__c",
        },
        description="Pulse account column -> Salesforce Account field API name.",
    )
    writeback: bool = Field(True, description="Write health to the Account fields Pulse "
                            "owns (docs/connectors.md).")
    sync: bool = Field(True, description="Pull accounts, contacts, opportunities and users; "
                       "false: only write health back (accounts come from another source).")
    bulk_threshold: int = Field(2000, ge=1, description="Use Bulk API 2.0 above this many.")


class HubSpotSourceConfig(StrictModel):
    """HubSpot: token from HUBSPOT_ACCESS_TOKEN, host from HUBSPOT_API_URL.

    ARR has no default company property: HubSpot's ``annualrevenue`` is the customer
    company's own revenue, not what it pays you. Where ARR comes from instead is
    :func:`pulse.kernel.arr.arr_source` (an ``arr`` entry here, else Stripe, else deals).
    """

    company_properties: dict[str, str] = Field(
        default_factory=lambda: {
            "tier": "tier",
            "segment": "segment",
            "renewal_date": "renewal_date",
        },
        description="Pulse account column -> HubSpot company property name. Add "
        "arr: <property> only for a property holding what the customer pays you per year "
        "(not annualrevenue, the customer's own revenue); it then wins over Stripe and deals.",
    )
    deal_arr_property: str = Field(
        "hs_arr",
        description="Deal property read as a deal's value (the opportunity amount): hs_arr "
        "is HubSpot's annual recurring revenue of the deal's recurring line items; deals "
        "where it is empty use amount. Set amount to read only the deal amount.",
    )
    arr_from_deals: bool = Field(
        True,
        description="Without an arr company property or Stripe, take each company's ARR "
        "from its deals won in the last 12 months; false: accounts get no ARR.",
    )
    writeback: bool = Field(True, description="Write health to the company properties "
                            "Pulse owns (docs/connectors.md).")
    sync: bool = Field(True, description="Pull companies, contacts, deals and owners; false: "
                       "only write health back (accounts come from another source).")
    property_group: str = Field(
        "customer_health",
        description="Internal name of the company property group Pulse creates its health "
        "properties in (label \"Customer health\").",
    )


class StripeSourceConfig(StrictModel):
    """Stripe: key from STRIPE_API_KEY, base from STRIPE_API_BASE."""

    account_id_metadata: str = Field(
        "pulse_account_id", description="Customer metadata key holding the CRM account id."
    )


class ZendeskSourceConfig(StrictModel):
    """Zendesk: ZENDESK_URL, ZENDESK_EMAIL, ZENDESK_API_TOKEN."""

    start_time: int = Field(0, ge=0, description="Unix time of the first full export.")


class WarehouseSourceConfig(StrictModel):
    """Daily usage from a SQL query on any SQLAlchemy URL (taken from ``url_env``)."""

    url_env: str = "WAREHOUSE_URL"
    query: str = Field(
        "SELECT account_external_id, user_external_id, feature, day, events, minutes "
        "FROM product_usage_daily WHERE day >= :since",
        description="Must return the usage columns of docs/import-format.md; :since is bound.",
    )
    account_source: str = Field("salesforce", description="Source whose account ids it uses.")


class SourcesConfig(StrictModel):
    sample: SampleSourceConfig | None = None
    files: FilesSourceConfig | None = None
    salesforce: SalesforceSourceConfig | None = None
    hubspot: HubSpotSourceConfig | None = None
    stripe: StripeSourceConfig | None = None
    zendesk: ZendeskSourceConfig | None = None
    warehouse: WarehouseSourceConfig | None = None
