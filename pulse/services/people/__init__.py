"""People: CRM owners matched to Slack users, their managers and teams.

Parts: ``matching`` (owners -> Slack users: overrides, the source's id, the cached
``users.lookupByEmail``), ``teams`` (managers and teams from the CRM or ``people.teams``),
``listing`` (what ``pulse people`` shows). :func:`refresh_people` runs both updates; the
pipeline runs it after every sync and before alerts (docs/slack.md, "Who gets what").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from pulse.services.people.listing import Person, people
from pulse.services.people.matching import (
    FOUND_RECHECK,
    MatchReport,
    SlackDirectory,
    match_slack_users,
)
from pulse.services.people.teams import TeamReport, apply_teams


@dataclass(frozen=True)
class PeopleReport:
    matching: MatchReport
    teams: TeamReport

    def __str__(self) -> str:
        return f"{self.matching}; {self.teams}"


def refresh_people(
    session: Session, config: PulseConfig, directory: SlackDirectory | None, now: datetime
) -> PeopleReport:
    """Match owners to Slack users, then set managers and teams; the caller commits."""
    matching = match_slack_users(session, config, directory, now)
    return PeopleReport(matching, apply_teams(session, config))


__all__ = [
    "FOUND_RECHECK",
    "MatchReport",
    "PeopleReport",
    "Person",
    "SlackDirectory",
    "TeamReport",
    "apply_teams",
    "match_slack_users",
    "people",
    "refresh_people",
]
