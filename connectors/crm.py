"""The CRMs Pulse writes health to, behind one interface, and which of them is usable here.

Salesforce and HubSpot each implement :class:`CrmSystem` in their own package
(``connectors.salesforce``, ``connectors.hubspot``, as ``CRM``). :func:`crm_system` finds
one by name and imports only that package, so writing to HubSpot never loads
simple-salesforce and the other way round. Whether a CRM can be used at all (in pulse.yml,
with credentials in the environment) is answered here without importing either.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from connectors.base import MODULES
from pulse.kernel.config import PulseConfig

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connectors.writeback import WritebackReport

CRM_SYSTEMS = ("salesforce", "hubspot")
"""Every CRM, in the order Pulse writes to them (and looks for an account's task record)."""
CREDENTIALS = {  # any one of these variables set is enough
    "salesforce": ("SALESFORCE_CLIENT_ID", "SALESFORCE_ACCESS_TOKEN", "SALESFORCE_USERNAME"),
    "hubspot": ("HUBSPOT_ACCESS_TOKEN",),
}


class FieldState(Protocol):
    """One line of ``pulse crm check``: a field (or property group) Pulse needs."""

    @property
    def name(self) -> str: ...

    @property
    def found(self) -> str | None:
        """The type the CRM has; None when the field is missing."""

    @property
    def expected(self) -> str | None:
        """The type Pulse expects; None when any type will do."""

    @property
    def problem(self) -> str | None:
        """What is wrong, worded for the admin; None when the field is fine."""


class CrmSystem(Protocol):
    """A CRM Pulse writes health values to, creates playbook tasks in and logs notes in."""

    @property
    def name(self) -> str:
        """The CRM's source name: ``salesforce`` or ``hubspot``."""

    def check_fields(self, config: PulseConfig) -> Sequence[FieldState]:
        """The fields Pulse reads and writes, as the CRM describes them (read only)."""

    def write_back(
        self,
        session: Session,
        config: PulseConfig,
        *,
        now: datetime,
        account_ids: Collection[int] | None = None,
    ) -> WritebackReport:
        """Send the health values the CRM shows differently from the latest scores (of
        ``account_ids`` only, when given), reading its current values back first.

        Per-record outcomes are flushed to ``session``; the caller commits.
        """

    def create_task(
        self,
        config: PulseConfig,
        *,
        subject: str,
        description: str,
        due: datetime,
        owner_id: str | None,
        record_id: str,
        sleep: Callable[[float], None],
    ) -> str:
        """Create a task on the account's CRM record for ``owner_id``; returns its id."""

    def log_note(
        self,
        config: PulseConfig,
        *,
        text: str,
        at: datetime,
        owner_id: str | None,
        record_id: str,
        sleep: Callable[[float], None],
    ) -> str:
        """Log ``text`` on the account's CRM record (its activity timeline) as written by
        ``owner_id`` (a CRM user id) when given, at ``at``; returns the CRM record's id."""


def crm_system(name: str) -> CrmSystem:
    """The CRM called ``name``, importing its package (and client library) on first use."""
    if name not in CRM_SYSTEMS:
        raise KeyError(f"unknown CRM '{name}' (known: {', '.join(CRM_SYSTEMS)})")
    crm: CrmSystem = importlib.import_module(MODULES[name]).CRM
    return crm


def crm_problem(config: PulseConfig, system: str) -> str | None:
    """Why ``system`` cannot be written to (not in pulse.yml, no credentials), or None."""
    needs = CREDENTIALS[system]
    if getattr(config.sources, system) is None:
        return f"{system} is not configured (no sources.{system} in {config.source_label})"
    if not any(os.environ.get(name, "").strip() for name in needs):
        return f"{system} is not configured: {' or '.join(needs)} is not set"
    return None


def configured_crms(config: PulseConfig) -> list[str]:
    """The CRMs named in pulse.yml, whether or not their credentials are set."""
    return [system for system in CRM_SYSTEMS if getattr(config.sources, system) is not None]


def ready_crms(config: PulseConfig) -> list[str]:
    """The CRMs named in pulse.yml whose credentials are set."""
    return [system for system in CRM_SYSTEMS if crm_problem(config, system) is None]
