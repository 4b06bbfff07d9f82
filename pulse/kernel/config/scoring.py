"""Scoring settings (key ``scoring`` of ``pulse.yml``): component weights, tier cut-offs,
flag thresholds, and the account fields ``pulse tune`` learns from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pulse.kernel.config.base import StrictModel


class TierThresholds(StrictModel):
    """Score cut-offs: healthy at or above ``healthy``, at risk below ``at_risk``; or, in
    ``shares`` mode, the lowest ``at_risk_share`` of the scored accounts at risk and the
    highest ``healthy_share`` healthy (cut-offs that fit the workspace's own spread).
    A learned model (``pulse tune --write``) brings its own at-risk threshold instead."""

    mode: Literal["thresholds", "shares"] = Field(
        "thresholds",
        description="thresholds: the fixed scores below; shares: tiers as shares of the "
        "portfolio (at_risk_share, healthy_share) on each scoring run.",
    )
    healthy: float = Field(80, ge=0, le=100, description="At or above: healthy.")
    at_risk: float = Field(50, ge=0, le=100, description="Below: at risk; in between: fine.")
    at_risk_share: float = Field(
        0.15, ge=0, le=1, description="shares mode: the lowest-scored share of accounts at risk."
    )
    healthy_share: float = Field(
        0.5, ge=0, le=1, description="shares mode: the highest-scored share of accounts healthy."
    )

    @model_validator(mode="after")
    def _ordered(self) -> TierThresholds:
        if self.at_risk >= self.healthy:
            raise ValueError("at_risk must be lower than healthy")
        if self.at_risk_share + self.healthy_share > 1:
            raise ValueError("at_risk_share and healthy_share must add up to 1 or less")
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

    main_contact_silent_days: int = Field(
        7, ge=1, description="Main contact inactive this long (critical at 3x)."
    )
    owner_silent_days: int = Field(
        30, ge=1, description="No owner-role contact active this long (critical at 2x)."
    )
    score_drop_points: float = Field(
        5, gt=0, description="Score fell on each of the last two runs, by this much in total."
    )
    integration_failure_rate: float = Field(
        0.20, gt=0, le=1, description="Share of integration runs failing (critical at 0.5)."
    )
    negative_sentiment_count: int = Field(
        2, ge=1, description="This many negative-sentiment tickets ..."
    )
    negative_sentiment_days: int = Field(90, ge=1, description="... in this many days.")
    onboarding_days: int = Field(
        14, ge=1, description="No core-feature use this long after the contract started."
    )
    invoice_overdue_days: int = Field(
        30, ge=0, description="Oldest unpaid invoice this many days past due."
    )
    power_user_deactivated_days: int = Field(
        30, ge=1, description="A power user deactivated within this many days."
    )


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


USAGE_ENGINES = ("pulse", "duckdb", "warehouse")
"""Where scoring aggregates usage: Pulse's own database, DuckDB, or the customer's warehouse."""


class UsageEngineConfig(StrictModel):
    """Where the usage rows live, so the scoring aggregation runs there (docs/connectors.md,
    "Where usage is aggregated"). ``pulse``: the ``usage_daily`` table a sync fills;
    ``duckdb``: a ``.duckdb`` file or Parquet/CSV files read in place; ``warehouse``: any
    SQLAlchemy URL (Snowflake, BigQuery, Databricks SQL, Redshift, PostgreSQL)."""

    engine: Literal["pulse", "duckdb", "warehouse"] = Field(
        "pulse",
        description="pulse: Pulse's database (usage copied in by a sync); duckdb: a .duckdb "
        "file or Parquet/CSV files read in place; warehouse: the database at url_env's URL.",
    )
    path: str = Field(
        "",
        description="duckdb: a .duckdb file (then `table` names the table), or Parquet or "
        "CSV usage files read in place (a glob such as ./data/usage*.parquet, or the files "
        "drop's usage.parquet).",
    )
    url_env: str = Field(
        "WAREHOUSE_URL",
        description="warehouse: the environment variable holding the SQLAlchemy URL.",
    )
    table: str = Field(
        "product_usage_daily",
        description="The table or view of usage rows (a .duckdb file or the warehouse); "
        "may be schema-qualified (analytics.product_usage_daily).",
    )
    columns: dict[str, str] = Field(
        default_factory=lambda: {
            "user": "user_external_id",
            "feature": "feature",
            "day": "day",
            "events": "events",
        },
        description="Usage column -> the column of `table` (or of the files) holding it: "
        "user (the user's external id), feature, day (a date), events.",
    )
    user_source: str = Field(
        "files",
        description="The source whose contact ids the user column holds (files, salesforce, "
        "hubspot, sample).",
    )

    @model_validator(mode="after")
    def _complete(self) -> UsageEngineConfig:
        missing = sorted({"user", "feature", "day", "events"} - set(self.columns))
        if missing:
            raise ValueError(f"columns lacks {', '.join(missing)}")
        if self.engine == "duckdb" and not self.path:
            raise ValueError("engine duckdb needs a path (a .duckdb file or usage files)")
        return self


class ScoringConfig(StrictModel):
    weights: SignalWeights = SignalWeights()
    tiers: TierThresholds = TierThresholds()
    flags: FlagSettings = FlagSettings()
    window_days: int = Field(
        30, ge=7, le=365,
        description="Days of recent activity the signals read (compared with the days before).",
    )
    core_features: list[str] = Field(
        default_factory=lambda: ["reports", "dashboards", "workflows", "integrations", "api"],
        description="Features whose use shows the product's value (breadth, onboarding, "
        "adoption).",
    )
    feature_weights: dict[str, float] = Field(
        default_factory=lambda: {"login": 0.2, "search": 0.5},
        description="Value weight per feature; unlisted features weigh 1, core features 3.",
    )
    seat_risk_below: float = Field(
        0.60, ge=0, le=1, description="Active users per licensed seat under which seats score "
        "under half."
    )
    seat_healthy_above: float = Field(
        0.80, ge=0, le=1, description="Active users per seat from which seats score in full."
    )
    renewal_window_days: int = Field(
        90, ge=1, description="A renewal nearer than this lowers the contract signal."
    )
    expansion_seat_ratio: float = Field(
        0.85, gt=0, le=2, description="Seat use from which an account is an expansion candidate."
    )
    learn: LearnConfig = Field(
        default_factory=LearnConfig,
        description="Account fields `pulse tune` learns from (docs/scoring.md).",
    )
    usage: UsageEngineConfig = Field(
        default_factory=UsageEngineConfig,
        description="Where usage is aggregated: Pulse's database, DuckDB or the warehouse.",
    )

    @model_validator(mode="after")
    def _seat_bounds(self) -> ScoringConfig:
        if self.seat_risk_below >= self.seat_healthy_above:
            raise ValueError("seat_risk_below must be lower than seat_healthy_above")
        return self
