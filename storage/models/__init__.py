"""Typed SQLAlchemy 2.0 models of everything Pulse stores.

Every record that comes from a source system carries ``(source, external_id)`` and is
unique on it, so loading the same data twice changes nothing.

Parts: ``base`` (the declarative base, ``SourceKeyed``, column vocabularies),
``records`` (what sources bring), ``snapshots`` (each account's scored state of each
day), ``state`` (what else Pulse records), ``preferences`` (what
each Slack user chose about what reaches them), ``figures`` (what the latest scoring run
derived from the whole workspace).
"""

from __future__ import annotations

from storage.models.base import (
    CLOSED_TICKET_STATUSES,
    CONTACT_ROLES,
    DELETED_TICKET_STATUS,
    INVOICE_STATUSES,
    LIFECYCLES,
    LINKED_ONLY_SOURCES,
    OPPORTUNITY_KINDS,
    SENTIMENTS,
    SURVEY_KINDS,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
    Base,
    SourceKeyed,
    table_of,
)
from storage.models.figures import ScoringFigures
from storage.models.preferences import AccountFollow, AccountMute, UserPreference
from storage.models.records import (
    Account,
    ArrChange,
    Contact,
    IntegrationDaily,
    Invoice,
    Opportunity,
    Owner,
    Subscription,
    SurveyResponse,
    Ticket,
    UsageDaily,
)
from storage.models.snapshots import ScoreSnapshot
from storage.models.state import (
    RUN_INTERRUPTED,
    RUN_RUNNING,
    Alert,
    AlertMessage,
    AuditLog,
    CrmWriteback,
    DigestSend,
    Override,
    PipelineRun,
    PlaybookFiring,
    Reminder,
    SeenSlackRequest,
    SlackLookup,
    SyncState,
    TrialExtension,
    WatchedAccount,
    WebhookEvent,
)

__all__ = [
    "RUN_INTERRUPTED",
    "RUN_RUNNING",
    "Account",
    "AccountFollow",
    "AccountMute",
    "Alert",
    "AlertMessage",
    "ArrChange",
    "AuditLog",
    "Base",
    "CLOSED_TICKET_STATUSES",
    "CONTACT_ROLES",
    "DELETED_TICKET_STATUS",
    "Contact",
    "CrmWriteback",
    "DigestSend",
    "INVOICE_STATUSES",
    "IntegrationDaily",
    "Invoice",
    "LIFECYCLES",
    "LINKED_ONLY_SOURCES",
    "OPPORTUNITY_KINDS",
    "Opportunity",
    "Override",
    "Owner",
    "PipelineRun",
    "PlaybookFiring",
    "Reminder",
    "SENTIMENTS",
    "SURVEY_KINDS",
    "ScoreSnapshot",
    "ScoringFigures",
    "SeenSlackRequest",
    "SlackLookup",
    "SourceKeyed",
    "Subscription",
    "SurveyResponse",
    "SyncState",
    "TICKET_PRIORITIES",
    "TICKET_STATUSES",
    "Ticket",
    "TrialExtension",
    "WatchedAccount",
    "UsageDaily",
    "UserPreference",
    "WebhookEvent",
    "table_of",
]
