"""Which CRM Pulse can write to here: configured in pulse.yml and with credentials."""

from __future__ import annotations

import os

from pulse.kernel.config import PulseConfig

CRM_SYSTEMS = ("salesforce", "hubspot")
CREDENTIALS = {  # any one of these variables set is enough
    "salesforce": ("SALESFORCE_ACCESS_TOKEN", "SALESFORCE_USERNAME"),
    "hubspot": ("HUBSPOT_ACCESS_TOKEN",),
}


def crm_problem(config: PulseConfig, system: str) -> str | None:
    """Why ``system`` cannot be written to (not in pulse.yml, no credentials), or None."""
    needs = CREDENTIALS[system]
    if getattr(config.sources, system) is None:
        return f"{system} is not configured (no sources.{system} in {config.source_label})"
    if not any(os.environ.get(name, "").strip() for name in needs):
        return f"{system} is not configured: {' or '.join(needs)} is not set"
    return None
