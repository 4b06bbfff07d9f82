"""HubSpot: owners, companies, contacts and deals in; health values back out.

* :mod:`.client`: the hubspot-api-client with Pulse's retries and error wording;
* :mod:`.read`: the incremental pull (:class:`HubSpotConnector`, the ``hubspot`` source),
  with :mod:`.values` turning property strings into Python values;
* :mod:`.properties`: the health properties on companies, checked and created;
* :mod:`.writeback`: writing health back in batch updates;
* :mod:`.tasks`: tasks for playbooks;
* :mod:`.notes`: notes logged from Slack on a company.

:data:`CRM` is this package's :class:`connectors.crm.CrmSystem`, the one face the rest of
Pulse uses to write to HubSpot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy.orm import Session

from connectors.crm import CrmSystem
from connectors.hubspot.client import HubSpotError, classify, make_client
from connectors.hubspot.notes import create_note
from connectors.hubspot.properties import (
    HEALTH_PROPERTIES,
    PropertyCheck,
    check_properties,
    ensure_properties,
)
from connectors.hubspot.read import HubSpotConnector, dump_cursor, parse_cursor
from connectors.hubspot.tasks import create_task
from connectors.hubspot.writeback import BATCH_SIZE, write_back
from connectors.writeback import WritebackReport
from pulse.kernel.config import PulseConfig

__all__ = [
    "BATCH_SIZE",
    "CRM",
    "HEALTH_PROPERTIES",
    "HubSpotConnector",
    "HubSpotCrm",
    "HubSpotError",
    "check_properties",
    "classify",
    "create_note",
    "create_task",
    "dump_cursor",
    "ensure_properties",
    "make_client",
    "parse_cursor",
    "write_back",
]


class HubSpotCrm:
    """HubSpot as a :class:`connectors.crm.CrmSystem`; the token from the environment."""

    name = "hubspot"

    def check_fields(self, config: PulseConfig) -> list[PropertyCheck]:
        return check_properties(None, config)

    def write_back(
        self,
        session: Session,
        config: PulseConfig,
        *,
        now: datetime,
        account_ids: Collection[int] | None = None,
    ) -> WritebackReport:
        return write_back(session, config, now=now, account_ids=account_ids)

    def create_task(
        self,
        config: PulseConfig,
        *,
        subject: str,
        description: str,
        due: datetime,
        owner_id: str | None,
        record_id: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> str:
        """A task due at ``due`` on the company ``record_id`` (no per-source settings)."""
        return create_task(subject=subject, description=description, due=due,
                           owner_id=owner_id, company_id=record_id, sleep=sleep)

    def log_note(
        self,
        config: PulseConfig,
        *,
        text: str,
        at: datetime,
        owner_id: str | None,
        record_id: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> str:
        """A note on the company ``record_id``'s timeline (no per-source settings)."""
        return create_note(text=text, at=at, owner_id=owner_id, company_id=record_id,
                           sleep=sleep)


CRM: CrmSystem = HubSpotCrm()
