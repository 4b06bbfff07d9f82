"""Managers and teams: from the CRM, or from ``people.teams`` in pulse.yml, which wins.

* **Salesforce**: ``User.ManagerId`` fills ``owners.manager_id`` (the loader links it);
  here anyone who manages someone becomes ``is_manager``. The role hierarchy
  (``UserRole.ParentRoleId``) is not read: a role names no single person, so it cannot
  say who the manager is.
* **HubSpot**: the owners API gives each owner's teams (``id``, ``name``, ``primary``;
  https://developers.hubspot.com/docs/api-reference/crm-crm-owners-v3/guide), and the
  connector keeps the primary team in ``owners.team``. A HubSpot team names no manager,
  so a HubSpot team has one only through ``people.teams``.
* **pulse.yml** ``people.teams``: each ``{name, manager, members}`` (emails or CRM owner
  ids) makes the manager ``is_manager`` with that team, and each member (listed, or whose
  CRM team has the team's name) reports to the manager in that team.

``is_manager`` of Salesforce and HubSpot owners is recomputed on every run (someone who
no longer manages anyone stops being a manager); other sources (the sample, files) state
it themselves and it is only ever turned on here. A HubSpot owner's manager is the one
``people.teams`` gives, or none. A Salesforce owner taken out of a configured team keeps
the configured manager until their User record changes or a ``pulse sync --full``.
A manager's scope (digest, ``/health``, App Home) is themselves plus the owners whose
``manager_id`` is theirs (:mod:`pulse.services.access`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from pulse.services.people.matching import norm
from storage.models import Owner

DERIVED_MANAGER_SOURCES = ("salesforce", "hubspot")
"""Sources whose owners' ``is_manager`` Pulse derives (the CRM has no such flag)."""
NO_MANAGER_SOURCES = ("hubspot",)
"""Sources with no manager of their own: the manager comes only from ``people.teams``."""


@dataclass
class TeamReport:
    managers: int = 0
    teams: int = 0  # configured teams applied
    unknown: list[str] = field(default_factory=list)  # config entries naming no owner

    def __str__(self) -> str:
        text = f"{self.managers:,} manager(s), {self.teams:,} configured team(s)"
        if self.unknown:
            text += f"; no owner for {', '.join(self.unknown[:5])}"
        return text


def owner_index(owners: list[Owner]) -> dict[str, Owner]:
    """Owners by email, CRM owner id and external id (lower case); first (lowest id) wins."""
    index: dict[str, Owner] = {}
    for owner in owners:
        for key in (owner.email, owner.crm_owner_id, owner.external_id):
            if norm(key):
                index.setdefault(norm(key), owner)
    return index


def apply_teams(session: Session, config: PulseConfig) -> TeamReport:
    """Set managers and teams (rules in the module docstring); the caller commits."""
    report = TeamReport()
    owners = list(session.scalars(select(Owner).order_by(Owner.id)))
    index = owner_index(owners)
    configured: dict[int, int | None] = {}  # owner id -> manager id given by pulse.yml
    named_managers: set[int] = set()
    for team in config.people.teams:
        manager = index.get(norm(team.manager))
        if manager is None:
            report.unknown.append(f"team {team.name}: manager {team.manager}")
            continue
        report.teams += 1
        named_managers.add(manager.id)
        manager.team = team.name
        members = {o.id: o for o in owners if norm(o.team) == norm(team.name)}
        for entry in team.members:
            member = index.get(norm(entry))
            if member is None:
                report.unknown.append(f"team {team.name}: member {entry}")
            else:
                members[member.id] = member
        for member in members.values():
            if member.id != manager.id:
                member.team, member.manager_id = team.name, manager.id
                configured[member.id] = manager.id
    for owner in owners:
        if owner.source in NO_MANAGER_SOURCES and owner.id not in configured:
            owner.manager_id = None
    session.flush()
    managing = {o.manager_id for o in owners if o.manager_id is not None} | named_managers
    for owner in owners:
        if owner.id in managing:
            owner.is_manager = True
        elif owner.source in DERIVED_MANAGER_SOURCES:
            owner.is_manager = False
    session.flush()
    report.managers = sum(1 for o in owners if o.is_manager)
    return report
