"""One validated configuration object, loaded once by each entry point and passed down.

Settings come from ``pulse.yml`` (path from ``PULSE_CONFIG``, default ``./pulse.yml``);
secrets and endpoints come only from environment variables. Anything unknown or out of
range fails at start-up with the key, the file and what is allowed, because a typo in a
weight silently changing every score is worse than refusing to start.

The sections of ``sources`` and of ``playbooks`` live in their own modules
(:mod:`.sources`, :mod:`.automation`); every name is importable from here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from pulse.kernel.config.automation import (
    AutomationConfig,
    Playbook,
    PlaybookAction,
    PlaybookConditions,
    PlaybookTrigger,
)
from pulse.kernel.config.base import ConfigError, StrictModel
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
    "MetricsConfig",
    "OverridesConfig",
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
    "StrictModel",
    "StripeSourceConfig",
    "TierThresholds",
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
    name: str = "Sample workspace"
    timezone: str = "UTC"

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

    enabled: bool = True
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


class TierThresholds(StrictModel):
    """Score cut-offs: healthy at or above ``healthy``, at risk below ``at_risk``."""

    healthy: float = Field(80, ge=0, le=100)
    at_risk: float = Field(50, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> TierThresholds:
        if self.at_risk >= self.healthy:
            raise ValueError("at_risk must be lower than healthy")
        return self


class SignalWeights(StrictModel):
    """Relative weights of the health components; renormalised over signals with data."""

    usage: float = Field(25, ge=0)
    breadth: float = Field(10, ge=0)
    seats: float = Field(20, ge=0)
    engagement: float = Field(15, ge=0)
    contract: float = Field(15, ge=0)
    trend: float = Field(15, ge=0)
    csm: float = Field(
        15, ge=0,
        description="A CSM's recorded sentiment (green 1, yellow 0.5, red 0); counts only "
        "on accounts that have one.",
    )

    @model_validator(mode="after")
    def _not_all_zero(self) -> SignalWeights:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one weight must be above zero")
        return self


class FlagSettings(StrictModel):
    """Thresholds of the churn flags."""

    main_contact_silent_days: int = Field(7, ge=1)
    owner_silent_days: int = Field(30, ge=1)
    score_drop_points: float = Field(5, gt=0)
    integration_failure_rate: float = Field(0.20, gt=0, le=1)
    negative_sentiment_count: int = Field(2, ge=1)
    negative_sentiment_days: int = Field(90, ge=1)
    onboarding_days: int = Field(14, ge=1)
    invoice_overdue_days: int = Field(30, ge=0)
    power_user_deactivated_days: int = Field(30, ge=1)


class LearnConfig(StrictModel):
    """What ``pulse tune`` may learn from besides the signals Pulse computes."""

    categorical: list[str] = Field(
        default_factory=lambda: ["segment", "region", "tier", "industry"],
        description="Account fields learned as categories: segment, region, tier, industry, "
        "or any custom field (custom.NAME, or a bare NAME that is not one of those).",
    )
    numeric: list[str] = Field(
        default_factory=lambda: ["tenure_days", "licensed_seats", "arr"],
        description="Account fields learned as numbers: tenure_days (days since "
        "contract_start on each as-of date), licensed_seats (or seats), arr, mrr, or a "
        "custom field (custom.NAME or a bare NAME) holding numbers.",
    )

    @model_validator(mode="after")
    def _distinct(self) -> LearnConfig:
        names = [n.strip() for n in (*self.categorical, *self.numeric)]
        if any(not n or n == "custom." for n in names):
            raise ValueError("account field names must not be empty")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"named both categorical and numeric, or twice: {repeated}")
        return self


class ScoringConfig(StrictModel):
    weights: SignalWeights = SignalWeights()
    tiers: TierThresholds = TierThresholds()
    flags: FlagSettings = FlagSettings()
    window_days: int = Field(30, ge=7, le=365)
    core_features: list[str] = Field(
        default_factory=lambda: ["reports", "dashboards", "workflows", "integrations", "api"]
    )
    feature_weights: dict[str, float] = Field(
        default_factory=lambda: {"login": 0.2, "search": 0.5},
        description="Value weight per feature; unlisted features weigh 1, core features 3.",
    )
    seat_risk_below: float = Field(0.60, ge=0, le=1)
    seat_healthy_above: float = Field(0.80, ge=0, le=1)
    renewal_window_days: int = Field(90, ge=1)
    expansion_seat_ratio: float = Field(0.85, gt=0, le=2)
    learn: LearnConfig = Field(
        default_factory=LearnConfig,
        description="Account fields `pulse tune` learns from (docs/scoring.md).",
    )

    @model_validator(mode="after")
    def _seat_bounds(self) -> ScoringConfig:
        if self.seat_risk_below >= self.seat_healthy_above:
            raise ValueError("seat_risk_below must be lower than seat_healthy_above")
        return self


class AlertRoute(StrictModel):
    """Where alert cards go. The first route whose filters all match an alert wins."""

    severity: Literal["any", "warning", "critical"] = "any"
    team: str | None = None
    segment: str | None = None
    to: str = Field(
        "owner",
        description="'owner' (the account owner's DM), 'manager' (the owner's manager's DM) "
        "or a Slack channel id such as C0123ABCD",
        pattern=r"^(owner|manager|[CGD][A-Z0-9]{2,})$",
    )


class SlackConfig(StrictModel):
    port: int = Field(3000, ge=1, le=65535)
    manager_digest_channel: str | None = Field(
        None, description="Post the portfolio digest here instead of each manager's DM."
    )
    alert_routes: list[AlertRoute] = Field(default_factory=lambda: [AlertRoute()])
    digest_limit: int = Field(10, ge=1, le=20, description="Accounts listed per digest section.")
    chart: bool = True
    admin_channel: str | None = Field(
        None, description="Channel id told when a step of the daily pipeline fails."
    )


class AlertsConfig(StrictModel):
    """When a quiet (acknowledged or snoozed) alert reopens before its time."""

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


class FreshnessConfig(StrictModel):
    """When a source's data counts as stale (docs/slack.md, "Freshness")."""

    max_age_hours: float = Field(
        36, gt=0, description="A source not synced successfully for this long is stale."
    )
    sources: dict[str, float] = Field(
        default_factory=dict, description="Per source (e.g. zendesk: 6), overriding the above."
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

    admins: list[str] = Field(default_factory=list)
    read_only: list[str] = Field(default_factory=list)
    account_executives: list[str] = Field(default_factory=list)
    user_map: dict[str, str] = Field(
        default_factory=dict, description="Slack user id -> CRM owner email, overriding lookup."
    )


Probability = Annotated[float, Field(ge=0, le=1)]


class MetricsConfig(StrictModel):
    """Settings of ``pulse metrics`` and the retention line of the manager digest
    (definitions in docs/metrics.md)."""

    period_months: int = Field(
        12, ge=1, le=60,
        description="Default period: this many months up to --to (and the digest's period).",
    )
    stage_probabilities: dict[str, Probability] = Field(
        default_factory=lambda: {
            "Discovery": 0.1, "Proposal": 0.4, "Negotiation": 0.7, "Committed": 0.9
        },
        description="Expansion opportunity stage -> probability of closing (0-1); stage "
        "names are matched ignoring case and surrounding spaces.",
    )
    default_stage_probability: Probability = Field(
        0.1, description="Probability of a stage not listed in stage_probabilities."
    )
    adoption_days: int = Field(
        4, ge=1, le=365,
        description="Adopted: a core feature used on at least this many distinct days ...",
    )
    adoption_window_days: int = Field(30, ge=1, le=365, description="... in this many days.")
    improvement_days: int = Field(
        60, ge=1, le=365,
        description="An acknowledged alert's account counts as improved when it reaches a "
        "higher health tier within this many days.",
    )

    @field_validator("stage_probabilities")
    @classmethod
    def _distinct_stages(cls, value: dict[str, float]) -> dict[str, float]:
        seen: dict[str, str] = {}
        for name in value:
            key = name.strip().lower()
            if not key:
                raise ValueError("a stage name is empty")
            if key in seen:
                raise ValueError(f"stages '{seen[key]}' and '{name}' differ only in case")
            seen[key] = name
        return value

    @model_validator(mode="after")
    def _adoption_fits_window(self) -> MetricsConfig:
        if self.adoption_days > self.adoption_window_days:
            raise ValueError("adoption_days cannot exceed adoption_window_days")
        return self


class PulseConfig(StrictModel):
    """The whole of ``pulse.yml``."""

    slack: SlackConfig = SlackConfig()
    alerts: AlertsConfig = AlertsConfig()
    overrides: OverridesConfig = OverridesConfig()
    freshness: FreshnessConfig = FreshnessConfig()
    live: LiveConfig = LiveConfig()
    access: AccessConfig = AccessConfig()
    workspace: WorkspaceConfig = WorkspaceConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    retention: RetentionConfig = RetentionConfig()
    playbooks: list[Playbook] = Field(default_factory=list)
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
    return parse_config(data, str(cfg_path) if cfg_path.exists() else "(built-in defaults)")

