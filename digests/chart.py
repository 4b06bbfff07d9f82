"""Health-trend chart as PNG bytes, for uploading next to a card or digest.

Built on matplotlib's object API with the Agg canvas (no pyplot, no global state, no
display), so it is safe in the bot's worker threads and in CI. Output is deterministic
for the same input: no timestamps or version strings in the PNG metadata.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

from pulse.kernel.config import TierThresholds

_DEFAULT_TIERS = TierThresholds()
AT_RISK_BELOW = float(_DEFAULT_TIERS.at_risk)
"""The default tier threshold under which a score is at risk (50)."""
HEALTHY_FROM = float(_DEFAULT_TIERS.healthy)
"""The default tier threshold from which a score is healthy (80)."""
AT_RISK_COLOUR = "#d62728"
FINE_COLOUR = "#ffbf00"
HEALTHY_COLOUR = "#2ca02c"
TIER_BANDS: tuple[tuple[float, float, str], ...] = (
    (0.0, AT_RISK_BELOW, AT_RISK_COLOUR),
    (AT_RISK_BELOW, HEALTHY_FROM, FINE_COLOUR),
    (HEALTHY_FROM, 100.0, HEALTHY_COLOUR),
)
"""Score bands shaded behind the lines, at the default tier thresholds."""
MAX_SERIES = 8
"""More lines than this are unreadable in a chat-sized image; extra series are dropped."""


def mathtext_safe(text: str) -> str:
    """Account names may contain ``$``; escape it so matplotlib does not parse mathtext."""
    return text.replace("\\", "\\\\").replace("$", r"\$")


Series = Mapping[str, Sequence[tuple[date, float]]]
"""Scores over time by name: ``{"Acme": [(date, score), ...]}``."""


def _plot_series(ax: Axes, series: Series) -> tuple[int, list[date]]:
    """One line per series (at most :data:`MAX_SERIES`): how many and every date plotted."""
    plotted = 0
    all_dates: list[date] = []
    for name, points in list(series.items())[:MAX_SERIES]:
        pts = sorted((d, float(v)) for d, v in points if v is not None)
        if not pts:
            continue
        xs = [d for d, _ in pts]
        all_dates.extend(xs)
        ys = [v for _, v in pts]
        # matplotlib plots dates through its units registry; its stubs admit only numbers.
        ax.plot(
            xs,  # type: ignore[arg-type]
            ys,
            marker="o",
            markersize=3,
            linewidth=1.6,
            label=mathtext_safe(str(name)),
        )
        plotted += 1
    return plotted, all_dates


def trend_chart_png(
    series: Series,
    title: str,
    *,
    width: float = 6.0,
    height: float = 3.0,
    dpi: int = 100,
) -> bytes:
    """A small line chart of health scores over time, one line per series.

    Tier bands at the default thresholds (50 and 80) are shaded lightly so a reader sees
    at a glance whether a line crossed into "at risk". An empty input still renders (with
    a "no scores yet" note) so callers never have to special-case it.
    """
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for lo, hi, colour in TIER_BANDS:
        ax.axhspan(lo, hi, color=colour, alpha=0.08, linewidth=0)
    for y in (AT_RISK_BELOW, HEALTHY_FROM):
        ax.axhline(y, color="#888888", linewidth=0.6, linestyle="--")

    plotted, all_dates = _plot_series(ax, series)
    ax.set_ylim(0, 100)
    ax.set_ylabel("Health score")
    ax.set_title(mathtext_safe(title), fontsize=11)
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    if plotted:
        first, last = min(all_dates), max(all_dates)
        if first == last:  # one day: give the date axis some width
            ax.set_xlim(
                first - timedelta(days=3),  # type: ignore[arg-type]
                last + timedelta(days=3),  # type: ignore[arg-type]
            )
        ax.xaxis.set_major_locator(AutoDateLocator(maxticks=6))
        ax.xaxis.set_major_formatter(DateFormatter("%b %d"))
        if plotted > 1:
            ax.legend(loc="lower left", fontsize=8, frameon=False)
    else:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "No scores yet", transform=ax.transAxes, ha="center", va="center")
    fig.tight_layout()

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
