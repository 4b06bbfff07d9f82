"""The Account fields Salesforce health is written to, and checking the org has them.

Field lengths, types and decimal places (``scale``) come from the sObject Describe
resource (https://developer.salesforce.com/docs/platform/api-rest/guide/dome-sobject-describe.md).
The two score fields are expected as Number(4,1): 3 digits before the point and
:data:`~connectors.writeback.SCORE_DECIMALS` after it, so 60.9 is stored as 60.9.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simple_salesforce import Salesforce

from connectors.salesforce.client import SalesforceClient, as_client, source_config
from connectors.writeback import SCORE_DECIMALS
from pulse.kernel.config import PulseConfig

WRITEBACK_FIELDS: dict[str, str] = {
    "score": "Health_Score__c",
    "tier": "Health_Tier__c",
    "reasons": "Health_Reasons__c",
    "expansion_score": "Expansion_Score__c",
    "renewal_risk": "Renewal_Risk__c",
    "updated": "Health_Updated__c",
}
"""Pulse health value -> Salesforce Account field it is written to."""

EXPECTED_TYPES: dict[str, tuple[str, ...]] = {
    "Health_Score__c": ("double", "int", "percent"),
    "Health_Tier__c": ("picklist", "string"),
    "Health_Reasons__c": ("textarea", "string"),
    "Expansion_Score__c": ("double", "int", "percent"),
    "Renewal_Risk__c": ("picklist", "string"),
    "Health_Updated__c": ("datetime",),
}
"""Describe ``type`` values each writeback field may have (first one is the suggestion)."""
SCORE_FIELDS = ("Health_Score__c", "Expansion_Score__c")
"""The fields holding a score, written with :data:`~connectors.writeback.SCORE_DECIMALS`."""
SCORE_FIELD_TYPE = f"Number({3 + SCORE_DECIMALS},{SCORE_DECIMALS})"
"""How to create a score field: 0.0 to 100.0 needs 3 digits before the point."""


def score_decimals(fields: dict[str, dict[str, Any]]) -> int:
    """Decimals the org's score fields keep: :data:`SCORE_DECIMALS`, or the smaller
    ``scale`` of a field created with fewer decimal places (an ``int`` field keeps none),
    so Pulse writes what the field will hold and does not resend it every run."""
    decimals = SCORE_DECIMALS
    for name in SCORE_FIELDS:
        field = fields.get(name) or {}
        scale = 0 if field.get("type") == "int" else field.get("scale")
        if isinstance(scale, int):
            decimals = min(decimals, scale)
    return decimals


def _scale_problem(name: str, field: dict[str, Any]) -> str | None:
    """Why a score field stores fewer decimals than Pulse writes, or None."""
    if name not in SCORE_FIELDS:
        return None
    kept = score_decimals({name: field})
    if kept >= SCORE_DECIMALS:
        return None
    return (
        f"keeps {kept} decimal places, so scores are written rounded to {kept}; "
        f"make it {SCORE_FIELD_TYPE}"
    )


@dataclass(frozen=True)
class FieldCheck:
    """One Account field Pulse reads or writes, as the org describes it."""

    name: str
    present: bool
    found: str | None  # the describe ``type``; None when the field is missing
    length: int | None
    expected: str  # the types Pulse accepts ("double or int or percent"), or "any"
    problem: str | None = None


def check_fields(sf: Salesforce | SalesforceClient | None, config: PulseConfig) -> list[FieldCheck]:
    """The writeback fields, then the mapped account fields: present, type, length."""
    settings = source_config(config)
    client = as_client(sf, settings.api_version)
    present = client.fields("Account")
    checks: list[FieldCheck] = []
    wanted = [(name, EXPECTED_TYPES[name]) for name in WRITEBACK_FIELDS.values()]
    wanted += [(name, ()) for name in settings.account_fields.values()]
    seen: set[str] = set()
    for name, expected in wanted:
        if name in seen:
            continue
        seen.add(name)
        expected_label = " or ".join(expected) if expected else "any"
        field = present.get(name)
        if field is None:
            create = (
                f"create it as {SCORE_FIELD_TYPE}" if name in SCORE_FIELDS
                else f"create it as {expected[0]}" if expected else "fix account_fields"
            )
            missing = f"missing on Account ({create})"
            checks.append(FieldCheck(name, False, None, None, expected_label, missing))
            continue
        kind, length = field.get("type"), field.get("length") or None
        problem = None
        if expected and kind not in expected:
            problem = f"type is {kind}, expected {expected_label}"
        elif name in WRITEBACK_FIELDS.values() and not field.get("updateable", True):
            problem = "not updateable by this user (field-level security)"
        else:
            problem = _scale_problem(name, field)
        checks.append(FieldCheck(name, True, kind, length, expected_label, problem))
    return checks
