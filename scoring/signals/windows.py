"""The dates of one scoring run: lookbacks, windows, and the workspace facts they frame."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from pulse.kernel.config import ScoringConfig

TICKET_LOOKBACK_DAYS = 90
"""Support tickets older than this no longer describe how the relationship feels today."""
NPS_LOOKBACK_DAYS = 180
"""NPS is surveyed rarely; an answer older than six months is too stale to score."""
CSAT_LOOKBACK_DAYS = 180
"""CSAT answers are averaged over the same six months as NPS."""
ONBOARDING_MAX_AGE_DAYS = 60
"""Past two months an account is no longer "onboarding": the usage components take over."""
SNAPSHOT_LOOKBACK_DAYS = 62
"""Previous snapshots older than this are too stale for the score-drop flag."""
INTEGRATION_RECENT_DAYS = 7
"""The recent stretch of integration runs, so a fresh breakage is not diluted by a good month."""
PREVIOUS_WINDOW_SLACK_DAYS = 7
"""Usage history starting up to a week into the previous window still covers it."""


@dataclass(frozen=True)
class Windows:
    """Every date boundary of one scoring run, computed once so all queries agree.

    The current window is the ``window_days`` days ending on ``as_of`` inclusive
    (``start .. as_of``); the previous window is the same length just before it.
    Timestamp bounds are exclusive upper bounds at midnight after ``as_of``.
    """

    as_of: date
    window_days: int
    start: date
    prev_start: date
    scan_start: date
    end_dt: datetime
    window_start_dt: datetime
    ticket_start_dt: datetime
    sentiment_start_dt: datetime
    nps_start_dt: datetime
    csat_start_dt: datetime
    power_user_start_dt: datetime
    integration_7d_start: date
    snapshot_start: date

    @classmethod
    def build(cls, as_of: date, cfg: ScoringConfig) -> Windows:
        window_days = cfg.window_days
        flags = cfg.flags
        end_dt = datetime.combine(as_of + timedelta(days=1), time())
        # One scan of usage serves every purpose, so it reaches back far enough for both
        # windows, both silence thresholds and the whole onboarding period.
        scan_days = max(
            2 * window_days,
            flags.owner_silent_days + 1,
            flags.main_contact_silent_days + 1,
            ONBOARDING_MAX_AGE_DAYS,
        )
        return cls(
            as_of=as_of,
            window_days=window_days,
            start=as_of - timedelta(days=window_days - 1),
            prev_start=as_of - timedelta(days=2 * window_days - 1),
            scan_start=as_of - timedelta(days=scan_days - 1),
            end_dt=end_dt,
            window_start_dt=end_dt - timedelta(days=window_days),
            ticket_start_dt=end_dt - timedelta(days=TICKET_LOOKBACK_DAYS),
            sentiment_start_dt=end_dt - timedelta(days=flags.negative_sentiment_days),
            nps_start_dt=end_dt - timedelta(days=NPS_LOOKBACK_DAYS),
            csat_start_dt=end_dt - timedelta(days=CSAT_LOOKBACK_DAYS),
            power_user_start_dt=end_dt - timedelta(days=flags.power_user_deactivated_days),
            integration_7d_start=as_of - timedelta(days=INTEGRATION_RECENT_DAYS - 1),
            snapshot_start=as_of - timedelta(days=SNAPSHOT_LOOKBACK_DAYS),
        )

    @property
    def scan_days(self) -> int:
        """Days of usage history read (the silence of a contact is known up to this)."""
        return (self.as_of - self.scan_start).days + 1


@dataclass(frozen=True)
class WorkspaceMeta:
    """Workspace-wide facts that decide whether a signal has data at all.

    A source that is not connected (no usage rows anywhere, no tickets anywhere) means
    "no data" for every account; an account without rows in a connected source means
    a genuine zero (e.g. nobody used the product), which must count against it.
    """

    windows: Windows
    has_usage: bool
    usage_first_day: date | None
    catalogue: tuple[str, ...]
    has_tickets: bool
    has_surveys: bool
    has_integrations: bool = False
    usage_baselines: tuple[float, float] | None = None
    """The usage component's frequency and depth baselines fixed in advance (the daily
    run's, cached for live rescoring: :mod:`scoring.figures`); None: the medians of the
    accounts being scored (:func:`scoring.components.usage.usage_baselines`)."""

    @property
    def usage_covers_previous_window(self) -> bool:
        """True when usage history reaches back (within a week) to the previous window."""
        if self.usage_first_day is None:
            return False
        slack = timedelta(days=PREVIOUS_WINDOW_SLACK_DAYS)
        return self.usage_first_day <= self.windows.prev_start + slack
