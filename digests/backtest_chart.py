"""Backtest chart as PNG bytes: churn rate per score decile against the overall rate.

One picture answers "does a low score mean churn?": if the score works, the bars fall
from the lowest-scoring decile on the left to the highest on the right, and the first
bars stand well above the dashed overall rate. Same conventions as :mod:`digests.chart`:
matplotlib's object API on the Agg canvas (no pyplot, no display, thread-safe) and no
timestamps in the PNG, so the same figures give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from digests.chart import (
    AT_RISK_BELOW,
    AT_RISK_COLOUR,
    FINE_COLOUR,
    HEALTHY_COLOUR,
    HEALTHY_FROM,
    mathtext_safe,
)
from scoring.backtest import Decile


def _colour(decile: Decile, at_risk_below: float, healthy_from: float) -> str:
    """Bars take the colour of the tier their scores mostly fall in."""
    middle = (decile.min_score + decile.max_score) / 2.0
    if middle < at_risk_below:
        return AT_RISK_COLOUR
    return HEALTHY_COLOUR if middle >= healthy_from else FINE_COLOUR


def decile_chart_png(
    deciles: Sequence[Decile],
    overall_rate: float,
    title: str,
    *,
    at_risk_below: float = AT_RISK_BELOW,
    healthy_from: float = HEALTHY_FROM,
    width: float = 7.0,
    height: float = 3.6,
    dpi: int = 100,
) -> bytes:
    """Bars of churn rate per score decile (lowest scores first) and the overall rate."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if deciles:
        xs = [d.decile for d in deciles]
        rates = [d.churn_rate for d in deciles]
        colours = [_colour(d, at_risk_below, healthy_from) for d in deciles]
        ax.bar(xs, rates, color=colours, alpha=0.85, width=0.75)
        ax.axhline(overall_rate, color="#444444", linewidth=1.0, linestyle="--")
        ax.text(
            len(xs) + 0.45,
            overall_rate,
            f"all: {overall_rate:.1%}",
            ha="right",
            va="bottom",
            fontsize=8,
            color="#444444",
        )
        ax.set_xticks(xs)
        ax.set_xticklabels(
            [f"{d.decile}\n{d.min_score:.0f}-{d.max_score:.0f}" for d in deciles], fontsize=7
        )
        ax.set_xlim(0.4, len(xs) + 0.6)
        top = max([*rates, overall_rate]) or 0.01
        ax.set_ylim(0, top * 1.15)
    else:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "No scored accounts", transform=ax.transAxes, ha="center")
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlabel("Score decile (1 = lowest scores) and its score range", fontsize=9)
    ax.set_ylabel("Churn rate", fontsize=9)
    ax.set_title(mathtext_safe(title), fontsize=11)
    ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
