"""The HubSpot company properties Pulse writes health to: checking and creating them.

The property group and the health properties live under ``/crm/v3/properties/companies``
and ``.../companies/groups`` (https://developers.hubspot.com/docs/api/crm/properties).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from hubspot import HubSpot

from connectors.hubspot.client import Sleep, call, make_client
from pulse.kernel.config import HubSpotSourceConfig, PulseConfig
from pulse.kernel.tiers import TIER_LABELS

log = logging.getLogger("pulse.connectors.hubspot")

GROUP_LABEL = "Customer health"


@dataclass(frozen=True)
class PropertySpec:
    name: str
    label: str
    type: str
    field_type: str
    options: tuple[str, ...] = ()


HEALTH_PROPERTIES: dict[str, PropertySpec] = {
    # writeback value key -> HubSpot company property
    "score": PropertySpec("health_score", "Health score", "number", "number"),
    "tier": PropertySpec(
        "health_tier", "Health tier", "enumeration", "select", tuple(TIER_LABELS.values())
    ),
    "reasons": PropertySpec("health_reasons", "Health reasons", "string", "textarea"),
    "expansion_score": PropertySpec("expansion_score", "Expansion score", "number", "number"),
    "renewal_risk": PropertySpec(
        "renewal_risk", "Renewal risk", "enumeration", "select", ("low", "medium", "high")
    ),
    "updated": PropertySpec("health_updated", "Health updated", "datetime", "date"),
}
COMPATIBLE_TYPES = {
    "enumeration": {"enumeration", "string"},
    "string": {"string"},
    "number": {"number"},
    "datetime": {"datetime", "date"},
}


@dataclass(frozen=True)
class PropertyCheck:
    """One line of ``pulse crm check``: a group or property Pulse needs, and its state."""

    name: str
    kind: str  # "group" | "writeback" | "read"
    expected: str | None  # HubSpot type expected (None: any)
    found: str | None  # type found in HubSpot; None when missing
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _groups_and_properties(
    client: HubSpot, sleep: Sleep
) -> tuple[set[str], dict[str, dict[str, Any]]]:
    props = client.crm.properties
    groups = call(
        lambda: props.groups_api.get_all(object_type="companies", _preload_content=False),
        "HubSpot company property groups",
        sleep,
    )
    found = call(
        lambda: props.core_api.get_all(object_type="companies", _preload_content=False),
        "HubSpot company properties",
        sleep,
    )
    return (
        {g.get("name") for g in groups.get("results") or []},
        {p.get("name"): p for p in found.get("results") or []},
    )


def check_properties(
    client: HubSpot | None, config: PulseConfig | HubSpotSourceConfig, *, sleep: Sleep = time.sleep
) -> list[PropertyCheck]:
    """What Pulse needs on HubSpot companies, and whether the portal has it (read only)."""
    settings = _settings(config)
    client = client or make_client()
    groups, found = _groups_and_properties(client, sleep)
    checks = [
        PropertyCheck(
            settings.property_group,
            "group",
            "property group",
            "property group" if settings.property_group in groups else None,
            None if settings.property_group in groups else "missing (created on first writeback)",
        )
    ]
    for spec in HEALTH_PROPERTIES.values():
        have = found.get(spec.name)
        kind = have.get("type") if have else None
        problem = None
        if have is None:
            problem = "missing (created on first writeback)"
        elif kind not in COMPATIBLE_TYPES[spec.type]:
            problem = f"has type {kind}, Pulse writes {spec.type}"
        checks.append(PropertyCheck(spec.name, "writeback", spec.type, kind, problem))
    for column, prop in settings.company_properties.items():
        have = found.get(prop)
        checks.append(
            PropertyCheck(
                prop,
                "read",
                None,
                have.get("type") if have else None,
                None if have else f"missing: account {column} will stay empty",
            )
        )
    return checks


def ensure_properties(
    client: HubSpot, config: PulseConfig | HubSpotSourceConfig, *, sleep: Sleep = time.sleep
) -> list[str]:
    """Create the property group and any missing health property; returns what was created."""
    settings = _settings(config)
    props = client.crm.properties
    groups, found = _groups_and_properties(client, sleep)
    created: list[str] = []
    if settings.property_group not in groups:
        group = {"name": settings.property_group, "label": GROUP_LABEL, "displayOrder": -1}
        call(
            lambda: props.groups_api.create(
                object_type="companies", property_group_create=group, _preload_content=False
            ),
            "HubSpot create property group",
            sleep,
        )
        created.append(settings.property_group)
    for spec in HEALTH_PROPERTIES.values():
        if spec.name in found:
            continue
        body: dict[str, Any] = {
            "name": spec.name,
            "label": spec.label,
            "type": spec.type,
            "fieldType": spec.field_type,
            "groupName": settings.property_group,
            "description": "Written by Pulse (customer health scoring).",
        }
        if spec.options:
            body["options"] = [
                {
                    "label": o.capitalize() if o.islower() else o,
                    "value": o,
                    "displayOrder": i,
                    "hidden": False,
                }
                for i, o in enumerate(spec.options)
            ]
        call(
            partial(
                props.core_api.create,
                object_type="companies",
                property_create=body,
                _preload_content=False,
            ),
            f"HubSpot create property {spec.name}",
            sleep,
        )
        created.append(spec.name)
    if created:
        log.info("created HubSpot company properties: %s", ", ".join(created))
    return created


def _settings(config: PulseConfig | HubSpotSourceConfig) -> HubSpotSourceConfig:
    if isinstance(config, HubSpotSourceConfig):
        return config
    return config.sources.hubspot or HubSpotSourceConfig()
