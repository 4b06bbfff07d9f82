"""Playbooks (key ``playbooks``: trigger, conditions, actions, cooldown) and the limits
of automation (key ``automation``); docs/scheduling.md describes them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from pulse.kernel.config.base import StrictModel

PLAYBOOK_EXAMPLES: list[dict[str, Any]] = [
    {
        "name": "into risk",
        "description": "Enterprise accounts falling into the at-risk tier",
        "trigger": {"type": "tier_crossed", "tier": "at_risk"},
        "when": {"segment": ["Enterprise"], "arr_min": 50000, "lifecycle": ["paid"]},
        "actions": [
            {"type": "dm_owner"},
            {"type": "escalate_to_manager"},
            {"type": "notify_channel", "channel": "C0123CS"},
            {"type": "webhook", "url": "https://hooks.example.com/pulse",
             "secret_env": "PULSE_WEBHOOK_SECRET"},
        ],
        "cooldown_days": 7,
    },
    {
        "name": "sliding",
        "trigger": {"type": "score_drop", "points": 15, "days": 30},
        "when": {"tier": ["Gold"], "region": ["EMEA"], "arr_max": 250000},
        "actions": [{"type": "crm_task", "subject": "Pulse: {playbook} - {account}",
                     "due_days": 2}],
    },
    {
        "name": "overdue invoice",
        "trigger": {"type": "flag_raised", "flag": "invoice_overdue"},
        "actions": [{"type": "notify_user", "user": "U0123FIN"}],
    },
    {
        "name": "alert left open",
        "trigger": {"type": "alert_unacknowledged", "hours": 48},
        "actions": [{"type": "reminder", "text": "Follow up on {account}: {reason}",
                     "due_days": 1}],
    },
    {
        "name": "team adopting",
        "trigger": {"type": "usage_milestone", "milestone": "active_users", "value": 10},
        "when": {"product_line": ["Analytics"], "custom": {"plan": "enterprise"}},
        "actions": [{"type": "dm_owner"}],
    },
]
"""The playbooks ``pulse.example.yml`` shows (commented out): between them, every key."""


class PlaybookTrigger(StrictModel):
    """What starts a playbook for an account (one of these types, with its parameters)."""

    type: Literal[
        "tier_crossed", "score_drop", "flag_raised", "renewal_within", "alert_unacknowledged",
        "usage_milestone",
    ] = Field(description="The event; the keys below are its parameters.")
    tier: Literal["healthy", "fine", "at_risk"] | None = Field(
        None, description="tier_crossed: the health tier the account moved into."
    )
    points: float | None = Field(None, gt=0, description="score_drop: at least this many points")
    days: int | None = Field(
        None, ge=1, le=730, description="score_drop: over this many days; renewal_within: days"
    )
    flag: str | None = Field(None, description="flag_raised: this churn flag (any when absent)")
    hours: float | None = Field(None, gt=0, description="alert_unacknowledged: open this long")
    milestone: Literal["first_core_action", "active_users", "seat_use_over"] | None = Field(
        None, description="usage_milestone: which one"
    )
    value: float | None = Field(
        None, gt=0, description="usage_milestone: N active users, or the seat share (0-1)"
    )

    @model_validator(mode="after")
    def _parameters(self) -> PlaybookTrigger:
        needs = {"tier_crossed": ("tier",), "score_drop": ("points", "days"),
                 "renewal_within": ("days",), "alert_unacknowledged": ("hours",),
                 "usage_milestone": ("milestone",)}
        missing = [n for n in needs.get(self.type, ()) if getattr(self, n) is None]
        if missing:
            raise ValueError(f"trigger '{self.type}' needs {', '.join(missing)}")
        if self.milestone in ("active_users", "seat_use_over") and self.value is None:
            raise ValueError(f"milestone '{self.milestone}' needs value")
        if self.milestone == "seat_use_over" and (self.value or 0) > 1:
            raise ValueError("milestone 'seat_use_over' takes a share between 0 and 1")
        return self


class PlaybookConditions(StrictModel):
    """Every condition given must hold (lists: any of their values)."""

    tier: list[str] = Field(default_factory=list, description="Account tier (CRM), e.g. Gold.")
    segment: list[str] = Field(default_factory=list, description="Account segment.")
    region: list[str] = Field(default_factory=list, description="Account region.")
    product_line: list[str] = Field(default_factory=list, description="custom.product_line")
    lifecycle: list[Literal["trial", "paid", "churned"]] = Field(
        default_factory=list, description="Account lifecycle."
    )
    arr_min: float | None = Field(None, ge=0, description="ARR at least this.")
    arr_max: float | None = Field(None, ge=0, description="ARR at most this.")
    custom: dict[str, str] = Field(default_factory=dict, description="custom attribute values")


class PlaybookAction(StrictModel):
    """One thing a playbook does; the keys after ``type`` are the parameters of some types."""

    type: Literal[
        "notify_channel", "notify_user", "dm_owner", "escalate_to_manager", "webhook",
        "crm_task", "reminder",
    ] = Field(description="What to do.")
    channel: str | None = Field(None, description="notify_channel: Slack channel id")
    user: str | None = Field(None, description="notify_user: Slack user id")
    url: str | None = Field(None, description="webhook: where the signed JSON is POSTed")
    secret_env: str = Field(
        "PULSE_WEBHOOK_SECRET", description="webhook: environment variable holding the key"
    )
    subject: str = Field(
        "Pulse: {playbook} - {account}",
        description="crm_task: task subject; {playbook}, {account}, {reason} are filled in",
    )
    due_days: int = Field(
        2, ge=0, le=90, description="crm_task: due this many days later; reminder: sent then"
    )
    text: str = Field(
        "Follow up on {account}: {reason}",
        description="reminder: the DM to the owner; {playbook}, {account}, {reason} filled in",
    )

    @model_validator(mode="after")
    def _target(self) -> PlaybookAction:
        needs = {"notify_channel": "channel", "notify_user": "user", "webhook": "url"}
        field = needs.get(self.type)
        if field and not getattr(self, field):
            raise ValueError(f"action '{self.type}' needs {field}")
        return self


class Playbook(StrictModel):
    name: str = Field(min_length=1, max_length=80, description="Unique; shown to people.")
    description: str = Field("", description="What it is for, for the people reading it.")
    trigger: PlaybookTrigger = Field(description="What starts it.")
    when: PlaybookConditions = Field(
        PlaybookConditions(), description="Which accounts it applies to (all when absent)."
    )
    actions: list[PlaybookAction] = Field(min_length=1, description="What it does, in order.")
    cooldown_days: int = Field(7, ge=1, le=365, description="Once per account this often.")


class AutomationConfig(StrictModel):
    daily_cap_per_csm: int = Field(
        10, ge=1, le=500,
        description="Playbook firings a CSM gets a day; the rest wait for the next digest.",
    )
