"""Who is who (key ``people`` of ``pulse.yml``): Slack users of CRM owners and teams.

CRM owners are matched to Slack users by email (``pulse.services.people``); these keys
fix what the lookup cannot, and name teams and managers a CRM does not hold (HubSpot's
owner teams have no manager). See docs/slack.md, "Who gets what".
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from pulse.kernel.config.base import StrictModel

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
"""Slack user ids start with U (W on Enterprise Grid) followed by capitals and digits."""


class TeamConfig(StrictModel):
    """One team: its name, its manager and its members (emails or CRM owner ids)."""

    name: str = Field(description="The team's name, shown in digests and `pulse people`.")
    manager: str = Field(
        description="The manager: an owner's email or CRM owner id (Salesforce User Id, "
        "HubSpot owner id)."
    )
    members: list[str] = Field(
        default_factory=list,
        description="Members (emails or CRM owner ids). Owners whose CRM team has this "
        "name (HubSpot owner teams) are members too.",
    )

    @field_validator("name", "manager")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


class PeopleConfig(StrictModel):
    """Overrides of the email lookup, and teams that replace what the CRM says."""

    slack_users: dict[str, str] = Field(
        default_factory=dict,
        description="Owner email or CRM owner id -> Slack user id (U...). Always wins over "
        "the users.lookupByEmail match.",
        examples=[{"jane.doe@example.com": "U0123JANE", "0055e000001AbCdEAK": "U0456OMAR"}],
    )
    teams: list[TeamConfig] = Field(
        default_factory=list,
        description="Teams with a manager and members; they override the CRM's manager "
        "and team for the owners they name.",
        examples=[[{"name": "EMEA", "manager": "maria.rossi@example.com",
                    "members": ["jane.doe@example.com", "omar.haddad@example.com"]}]],
    )

    @field_validator("slack_users")
    @classmethod
    def _slack_ids(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [f"{k}: {v}" for k, v in value.items() if not SLACK_USER_ID.match(v.strip())]
        if bad:
            raise ValueError(
                "not Slack user ids (U... or W..., from the person's Slack profile, "
                f"'Copy member ID'): {', '.join(bad)}"
            )
        return {k.strip(): v.strip() for k, v in value.items()}

    @model_validator(mode="after")
    def _unique_teams(self) -> PeopleConfig:
        names = [t.name.lower() for t in self.teams]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"team name(s) used twice: {', '.join(twice)}")
        return self
