"""Salesforce: owners, accounts, contacts and opportunities in; health values back out.

* :mod:`.auth`: credentials and the logins (JWT bearer, client credentials, legacy
  username/password), the process's tokens;
* :mod:`.client`: the simple-salesforce session, retries, renewal on expiry;
* :mod:`.read`: the incremental pull (:class:`SalesforceConnector`, the ``salesforce``
  source);
* :mod:`.fields`: the health fields on Account and ``pulse crm check``;
* :mod:`.writeback` and :mod:`.bulk`: writing health back (sObject Collections, or one
  Bulk API 2.0 job for many records);
* :mod:`.tasks`: Tasks for playbooks, and notes logged from Slack (completed Tasks).

:data:`CRM` is this package's :class:`connectors.crm.CrmSystem`, the one face the rest of
Pulse uses to write to Salesforce.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy.orm import Session

from connectors.crm import CrmSystem
from connectors.salesforce.auth import Credentials, SalesforceConfigError, SalesforceLoginError
from connectors.salesforce.client import (
    SalesforceClient,
    SalesforceTokenExpired,
    classify_salesforce,
    source_config,
)
from connectors.salesforce.fields import FieldCheck, check_fields
from connectors.salesforce.read import (
    SalesforceConnector,
    domain_of,
    opportunity_kind,
    parse_cursor,
)
from connectors.salesforce.tasks import create_task, log_note
from connectors.salesforce.writeback import write_back
from connectors.writeback import WritebackReport
from pulse.kernel.clock import local_date
from pulse.kernel.config import PulseConfig

__all__ = [
    "CRM",
    "Credentials",
    "SalesforceClient",
    "SalesforceConfigError",
    "SalesforceConnector",
    "SalesforceCrm",
    "SalesforceLoginError",
    "SalesforceTokenExpired",
    "check_fields",
    "classify_salesforce",
    "create_task",
    "domain_of",
    "log_note",
    "opportunity_kind",
    "parse_cursor",
    "write_back",
]


class SalesforceCrm:
    """Salesforce as a :class:`connectors.crm.CrmSystem`; credentials from the environment."""

    name = "salesforce"

    def check_fields(self, config: PulseConfig) -> list[FieldCheck]:
        return check_fields(None, config)

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
        """A Task due on ``due``'s date, on the Account ``record_id``."""
        client = SalesforceClient.from_env(source_config(config).api_version, sleep=sleep)
        return create_task(config, subject=subject, description=description, due=due.date(),
                           owner_id=owner_id, account_id=record_id, sf=client)

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
        """A completed Task "Note from Slack" on the Account ``record_id``, dated the
        workspace's local day at ``at``."""
        client = SalesforceClient.from_env(source_config(config).api_version, sleep=sleep)
        day = local_date(config.workspace.timezone, at)
        return log_note(config, text=text, day=day, owner_id=owner_id, account_id=record_id,
                        sf=client)


CRM: CrmSystem = SalesforceCrm()
