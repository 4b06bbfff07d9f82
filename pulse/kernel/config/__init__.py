"""One validated configuration object, loaded once by each entry point and passed down.

Settings come from ``pulse.yml`` (path from ``PULSE_CONFIG``, default ``./pulse.yml``);
secrets and endpoints come only from environment variables. Anything unknown or out of
range fails at start-up with the key, the file and what is allowed, because a typo in a
weight silently changing every score is worse than refusing to start.

The sections ``scoring``, ``sources``, ``playbooks``, ``metrics`` and ``people`` live in
their own modules (:mod:`.scoring`, :mod:`.sources`, :mod:`.automation`, :mod:`.metrics`,
:mod:`.people`); every name is importable from here. :mod:`.example` writes
``pulse.example.yml`` from these models.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from pulse.kernel.config.automation import (
    PLAYBOOK_EXAMPLES,
    AutomationConfig,
    Playbook,
    PlaybookAction,
    PlaybookConditions,
    PlaybookTrigger,
)
from pulse.kernel.config.base import ConfigError, StrictModel
from pulse.kernel.config.metrics import MetricsConfig
from pulse.kernel.config.people import PeopleConfig, TeamConfig
from pulse.kernel.config.scoring import (
    FlagSettings,
    LearnConfig,
    ScoringConfig,
    SignalWeights,
    TierThresholds,
    UsageEngineConfig,
)
from pulse.kernel.config.sources import (
    FilesSourceConfig,
    HubSpotSourceConfig,
    SalesforceSourceConfig,
    SampleSourceConfig,
    SourcesConfig,
    StripeSourceConfig,
    WarehouseSourceConfig,
    ZendeskSourceConfig,
)

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_DATABASE_URL",
    "AccessConfig",
    "AlertRoute",
    "AlertsConfig",
    "AutomationConfig",
    "ConfigError",
    "FilesSourceConfig",
    "FlagSettings",
    "FreshnessConfig",
    "HubSpotSourceConfig",
    "LearnConfig",
    "LiveConfig",
    "LoggingConfig",
    "MetricsConfig",
    "OverridesConfig",
    "PeopleConfig",
    "Playbook",
    "PlaybookAction",
    "PlaybookConditions",
    "PlaybookTrigger",
    "PulseConfig",
    "RetentionConfig",
    "SalesforceSourceConfig",
    "SampleSourceConfig",
    "ScheduleConfig",
    "ScoringConfig",
    "SignalWeights",
    "SlackConfig",
    "SourcesConfig",
    "TeamConfig",
    "StillAlert",
    "StrictModel",
    "StripeSourceConfig",
    "TierThresholds",
    "UsageEngineConfig",
    "WarehouseSourceConfig",
    "WorkspaceConfig",
    "ZendeskSourceConfig",
    "load_config",
    "normalise_database_url",
    "parse_config",
]

DEFAULT_CONFIG_PATH = "pulse.yml"
DEFAULT_DATABASE_URL = "sqlite:///./pulse.db"


class WorkspaceConfig(StrictModel):
    name: str = Field("Sample workspace", description="Shown in `pulse demo`'s summary.")
    timezone: str = Field(
        "UTC", description="IANA time zone: when the daily run starts and what \"today\" is."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Paris)") from None
        return value


class ScheduleConfig(StrictModel):
    """When the daily pipeline runs (sync -> score -> alerts -> writeback -> digests)."""

    enabled: bool = Field(True, description="Run the daily pipeline from `pulse serve` / "
                          "`pulse scheduler`; false: only `pulse run` runs it.")
    time: str = Field("06:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                      description="Local time (workspace.timezone), HH:MM.")
    grace_minutes: int = Field(
        180, ge=0, le=1440,
        description="A run missed while no process was up still runs this long after.",
    )
    attempts: int = Field(3, ge=1, le=10, description="Tries per step before it is failed.")
    retry_seconds: float = Field(30.0, ge=0, description="First pause between tries (doubles).")
    snooze_check_minutes: int = Field(
        15, ge=1, le=1440, description="How often expired snoozes and renewal windows are checked."
    )

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.time.split(":")
        return int(hour), int(minute)


class RetentionConfig(StrictModel):
    usage_months: int = Field(
        24, ge=1, le=240,
        description="Usage rows older than this are purged (scores and audit stay).",
    )
    snapshot_daily_days: int = Field(
        90, ge=1, le=3650,
        description="Score snapshots younger than this many days are all kept; older ones "
        "are thinned to each account's latest of each calendar week.",
    )
    snapshot_weekly_days: int = Field(
        730, ge=1, le=36500,
        description="Score snapshots older than this many days are thinned further, to each "
        "account's latest of each calendar month (at least snapshot_daily_days).",
    )


class AlertRoute(StrictModel):
    """Where alert cards go. The first route whose filters all match an alert wins."""

    severity: Literal["any", "warning", "critical"] = Field(
        "any", description="Alerts of this severity only."
    )
    team: str | None = Field(None, description="Only accounts whose owner is in this team.")
    segment: str | None = Field(None, description="Only accounts of this segment.")
    to: str = Field(
        "owner",
        description="'owner' (the account owner's DM), 'manager' (the owner's manager's DM) "
        "or a Slack channel id such as C0123ABCD",
        pattern=r"^(owner|manager|[CGD][A-Z0-9]{2,})$",
    )


class SlackConfig(StrictModel):
    port: int = Field(3000, ge=1, le=65535, description="Port `pulse serve` listens on.")
    manager_digest_channel: str | None = Field(
        None, description="Post the portfolio digest here instead of each manager's DM.",
        examples=["C0123ABCD"],
    )
    alert_routes: list[AlertRoute] = Field(
        default_factory=lambda: [AlertRoute()],
        description="Where alert cards go: the first route whose filters all match wins.",
        examples=[[{"severity": "critical", "segment": "Enterprise", "to": "manager"},
                   {"team": "EMEA", "to": "C0123ABCD"}]],
    )
    digest_limit: int = Field(10, ge=1, le=20, description="Accounts listed per digest section.")
    chart: bool = Field(True, description="Attach the health trend chart to digests.")
    max_request_bytes: int = Field(
        1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024,
        description="Largest request body `pulse serve` accepts from Slack (bytes); a larger "
        "one is refused with 413 before it is read.",
    )
    work_threads: int | None = Field(
        None, ge=1, le=64,
        description="Threads per `pulse serve` process for the slow part of Slack's requests "
        "(/health answers, buttons, modal submissions, the Home tab); default: the number of "
        "cores, at least 2.",
        examples=[4],
    )
    work_queue: int | None = Field(
        None, ge=0, le=1000,
        description="Slow Slack work that may wait for one of those threads, per process; "
        "beyond it a request is answered at once with 'Pulse is busy, try again in a minute' "
        "instead of late. Default: 4 per thread.",
        examples=[16],
    )
    admin_channel: str | None = Field(
        None, description="Channel id told when a step of the daily pipeline fails.",
        examples=["C0123ADMIN"],
    )
    catch_all_channel: str | None = Field(
        None,
        description="Channel id for alert cards whose owner (or manager) has no Slack user; "
        "admin_channel when not set. Without either, such cards are not posted.",
        pattern=r"^[CGD][A-Z0-9]{2,}$",
    )

    @property
    def catch_all(self) -> str | None:
        """Where cards of unreachable owners go: catch_all_channel, else admin_channel."""
        return self.catch_all_channel or self.admin_channel


class StillAlert(StrictModel):
    """A condition that alerts even when it already held when Pulse started watching."""

    rule: str = Field(
        description="A churn-flag code (invoice_overdue, owner_silent ...) or tier_crossed."
    )
    severity: Literal["warning", "critical"] = Field(
        "critical", description="Only at this severity or worse."
    )
    renewal_within_notice: bool = Field(
        False,
        description="Only when the account renews within alerts.renewal_notice_days.",
    )


def _default_still_alert() -> list[StillAlert]:
    # an invoice 60+ days overdue (critical at 2x scoring.flags.invoice_overdue_days) on an
    # account renewing inside its notice window
    return [StillAlert(rule="invoice_overdue", severity="critical", renewal_within_notice=True)]


class AlertsConfig(StrictModel):
    """When a quiet (acknowledged or snoozed) alert reopens before its time (it also reopens
    when a critical flag appears that was not there); what the first run of an account
    alerts (the baseline); how alerts reach people (one message per person and run)."""

    reopen_score_drop: float = Field(
        10, gt=0,
        description="Reopen when the score falls this many points below where it stood "
        "when the alert was acknowledged or snoozed.",
    )
    renewal_notice_days: int = Field(
        60, ge=1,
        description="Reopen when the renewal comes within this many days (the contract's "
        "notice window) and was further away when the alert went quiet.",
    )
    baseline_still_alert: list[StillAlert] = Field(
        default_factory=_default_still_alert,
        description="Conditions that alert even on an account's first evaluation (the "
        "first run, or its history just imported); every other condition that already "
        "held is summarised once as the baseline and alerts only when it gets worse.",
    )
    baseline_max_alerts: int = Field(
        15, ge=0,
        description="At most this many alerts from baseline_still_alert in one run "
        "(largest ARR first); the rest join the baseline summary.",
    )
    dm_min_severity: Literal["warning", "critical"] = Field(
        "warning",
        description="Alerts below this severity are not sent by DM: they wait for the "
        "morning digest.",
    )
    dm_max_alerts: int = Field(
        8, ge=1, le=20,
        description="New alerts listed in one person's alert message per run (largest ARR "
        "first); the rest wait for the morning digest, and the message says how many.",
    )


class FreshnessConfig(StrictModel):
    """When a source's data counts as stale (docs/slack.md, "Freshness")."""

    max_age_hours: float = Field(
        36, gt=0, description="A source not synced successfully for this long is stale."
    )
    sources: dict[str, float] = Field(
        default_factory=dict, description="Per source, overriding the above.",
        examples=[{"zendesk": 6}],
    )


class LiveConfig(StrictModel):
    """Live rescoring from webhooks (docs/live.md)."""

    coalesce_seconds: float = Field(
        2.0,
        ge=0,
        le=30,
        description="Wait this long after an event before rescoring, so a burst of events "
        "(Stripe sends several for one failed renewal) costs one rescoring run.",
    )
    figures_max_age_hours: float = Field(
        36.0,
        gt=0,
        le=24 * 14,
        description="Rescore only the accounts events touch against the workspace figures "
        "(usage medians, peer groups, tier cut-offs) the daily run stored, while they are "
        "at most this old; older or missing, one batch scores the whole workspace and "
        "stores fresh ones (docs/live.md).",
    )


class LoggingConfig(StrictModel):
    """How the long-running processes log (docs/deploy.md, "Logs"); the environment's
    ``PULSE_LOG_FORMAT`` and ``PULSE_LOG_LEVEL`` win over these."""

    format: Literal["text", "json"] = Field(
        "text", description="'text' (one readable line) or 'json' (one JSON object a line)."
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="The least severe level written."
    )


class OverridesConfig(StrictModel):
    """CSM sentiments and score overrides (``/health NAME sentiment red "why"``)."""

    default_days: int = Field(30, ge=1, le=365, description="Expiry when --until is not given.")
    max_days: int = Field(180, ge=1, le=730, description="The furthest --until allowed.")
    remind_days_before: int = Field(
        3, ge=0, le=60, description="DM the author this many days before it expires."
    )


class AccessConfig(StrictModel):
    """Who sees what. CRM owners are matched to Slack users by email; these lists add roles.

    Entries are emails or Slack user ids. Managers see their team's accounts; CSMs their
    own; admins and read-only users see everything (read-only cannot act); account
    executives read the accounts they own.
    """

    admins: list[str] = Field(default_factory=list, examples=[["maya@example.com"]])
    read_only: list[str] = Field(default_factory=list, examples=[["U0123FIN"]])
    account_executives: list[str] = Field(
        default_factory=list, examples=[["tom@example.com"]]
    )
    user_map: dict[str, str] = Field(
        default_factory=dict, description="Slack user id -> CRM owner email, overriding lookup.",
        examples=[{"U0123MAYA": "maya.lindqvist@example.com"}],
    )


class PulseConfig(StrictModel):
    """The whole of ``pulse.yml``."""

    slack: SlackConfig = SlackConfig()
    alerts: AlertsConfig = AlertsConfig()
    overrides: OverridesConfig = OverridesConfig()
    freshness: FreshnessConfig = FreshnessConfig()
    live: LiveConfig = LiveConfig()
    logging: LoggingConfig = LoggingConfig()
    access: AccessConfig = AccessConfig()
    people: PeopleConfig = PeopleConfig()
    workspace: WorkspaceConfig = WorkspaceConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    retention: RetentionConfig = RetentionConfig()
    playbooks: list[Playbook] = Field(
        default_factory=list,
        description="What Pulse does by itself when something happens to an account "
        "(docs/scheduling.md).",
        examples=[PLAYBOOK_EXAMPLES],
    )
    automation: AutomationConfig = AutomationConfig()
    metrics: MetricsConfig = MetricsConfig()
    database_url: str = DEFAULT_DATABASE_URL
    scoring: ScoringConfig = ScoringConfig()
    sources: SourcesConfig = SourcesConfig(sample=SampleSourceConfig())
    source_file: str | None = None

    @model_validator(mode="after")
    def _unique_playbooks(self) -> PulseConfig:
        names = [p.name for p in self.playbooks]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"playbook name(s) used twice: {', '.join(twice)}")
        return self

    @property
    def synced_sources(self) -> list[str]:
        """Configured sources ``pulse sync`` pulls (a CRM may be writeback-only)."""
        return [name for name, value in self.sources
                if value is not None and getattr(value, "sync", True)]

    @property
    def source_label(self) -> str:
        return self.source_file or "(built-in defaults)"


def _format_error(err: ErrorDetails, path: str) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key '{key}'"
    allowed = ""
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        allowed = f" (allowed: {ctx['expected']})"
    elif "ge" in ctx or "le" in ctx or "gt" in ctx:
        bounds = ", ".join(f"{k} {v}" for k, v in ctx.items() if k in {"ge", "le", "gt", "lt"})
        allowed = f" (allowed: {bounds})"
    return f"{path}: key '{key}': {err['msg']}{allowed}"


def parse_config(data: dict[str, Any] | None, path: str = "(inline)") -> PulseConfig:
    """Validate raw YAML data, turning pydantic's errors into ones that name key and file."""
    data = dict(data or {})
    if "source_file" in data:
        raise ConfigError(f"{path}: unknown key 'source_file'")
    data["source_file"] = path
    try:
        return PulseConfig.model_validate(data)
    except ValidationError as exc:
        lines = [_format_error(e, path) for e in exc.errors()]
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(lines)) from None


def normalise_database_url(url: str) -> str:
    """Use the installed psycopg 3 driver for plain ``postgres(ql)://`` URLs (as Heroku-style
    platforms hand them out), instead of SQLAlchemy's default psycopg2, which is not installed."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


LOGGING_ENV = {"format": "PULSE_LOG_FORMAT", "level": "PULSE_LOG_LEVEL"}


def _logging_from_env(data: dict[str, Any]) -> None:
    """``PULSE_LOG_FORMAT`` / ``PULSE_LOG_LEVEL`` over the file's ``logging`` section."""
    section = data.get("logging")
    for key, name in LOGGING_ENV.items():
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        value = value.lower() if key == "format" else value.upper()
        allowed = get_args(LoggingConfig.model_fields[key].annotation)
        if value not in allowed:
            raise ConfigError(f"{name}={value!r} is not one of: {', '.join(allowed)}")
        section = {**(section if isinstance(section, dict) else {}), key: value}
    if section is not None:
        data["logging"] = section


def load_config(path: str | os.PathLike[str] | None = None) -> PulseConfig:
    """Read ``pulse.yml`` and the environment; sane defaults when the file is absent."""
    explicit = path is not None or "PULSE_CONFIG" in os.environ
    cfg_path = Path(path or os.environ.get("PULSE_CONFIG", DEFAULT_CONFIG_PATH))
    data: dict[str, Any] = {}
    if cfg_path.exists():
        try:
            loaded = yaml.safe_load(cfg_path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{cfg_path}: not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{cfg_path}: top level must be a mapping of keys")
        data = loaded
    elif explicit:
        raise ConfigError(f"{cfg_path}: configuration file not found (set by PULSE_CONFIG)")
    if "database_url" in data:
        raise ConfigError(
            f"{cfg_path}: key 'database_url' is not allowed in the file; "
            "set the DATABASE_URL environment variable instead (it may hold a password)"
        )
    env_url = os.environ.get("DATABASE_URL")
    if env_url:
        data["database_url"] = normalise_database_url(env_url)
    _logging_from_env(data)
    return parse_config(data, str(cfg_path) if cfg_path.exists() else "(built-in defaults)")

