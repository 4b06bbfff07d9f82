"""Components of the relationship: engagement (support, NPS, CSAT), contract, and the
CSM's own judgement."""

from __future__ import annotations

from math import isnan
from typing import Any

import numpy as np
import pandas as pd

from pulse.kernel.config import ScoringConfig
from scoring.components.base import ComponentResult, Texts, plural
from scoring.components.curves import days_between, nps_category, nps_value, weighted_mean
from scoring.signals import TICKET_LOOKBACK_DAYS, Signals

SENTIMENT_VALUES: dict[str, float] = {"green": 1.0, "yellow": 0.5, "red": 0.0}
"""The value of a CSM's recorded sentiment (the ``csm`` component)."""

# Engagement sub-signals and their relative weights (renormalised over what is on file).
ENGAGEMENT_PARTS: dict[str, float] = {"support": 0.6, "nps": 0.25, "csat": 0.15}
"""Support leads: complaints and ticket volume are on file for far more accounts than
survey answers (issue 16: customers who complained churned at 71%, and weighed about 2
points when support was 40% of engagement and a complaint cost 0.15 of it)."""
SUPPORT_PENALTY_OPEN_URGENT = 0.2
"""Support part lost per urgent/high ticket open on ``as_of``."""
SUPPORT_PENALTY_BAD_SATISFACTION = 0.3
"""Support part lost per ticket rated bad in the ticket lookback (a complaint)."""
SUPPORT_PENALTY_NEGATIVE_SENTIMENT = 0.3
"""Support part lost per negative-sentiment ticket in the ticket lookback (a complaint):
one complaint costs about 4.5 points of the default score, two about 9."""
TICKETS_WITHOUT_PENALTY = 2
"""Tickets in the lookback that cost nothing: asking for help now and then is healthy."""
SUPPORT_PENALTY_PER_TICKET = 0.04
"""Support part lost per ticket beyond :data:`TICKETS_WITHOUT_PENALTY` (ticket volume)."""
SUPPORT_VOLUME_MAX_PENALTY = 0.3
"""Ticket volume costs at most this much of the support part (complaints cost more)."""
CSAT_SCALE = (1.0, 5.0)
"""CSAT answers run from 1 (0 marks) to 5 (full marks)."""

# Contract sub-signals.
CONTRACT_PARTS: dict[str, float] = {
    "invoices": 0.4, "renewal": 0.2, "lifecycle": 0.2, "tenure": 0.2,
}
TENURE_NEW_VALUE = 0.5
"""Tenure sub-score on contract start: new customers churn more than established ones."""
TENURE_ESTABLISHED_DAYS = 730.0
"""Days of tenure from which the tenure sub-score is full (rising linearly until then)."""
INVOICE_ZERO_DAYS = 60.0
"""Days overdue at which the invoice sub-score reaches zero (half at 30)."""
RENEWAL_IMMINENT_VALUE = 0.6
"""Renewal sub-score on renewal day; rises linearly to 1 at ``renewal_window_days`` out."""
RENEWAL_PASSED_VALUE = 0.5
"""Renewal date in the past with no new date on file: renewal status needs confirming."""
LIFECYCLE_VALUES: dict[str, float] = {"paid": 1.0, "trial": 0.6, "churned": 1.0}
"""``churned`` only appears when scoring a date before the churn, when it was still paying."""


def engagement_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """Support health, latest NPS and CSAT, renormalised over what is on file.

    Definition for accounts with no tickets and no surveys: "no tickets" is a real,
    fine signal (support part = 1) when the workspace has a support source at all, but
    NPS and CSAT are left out and the detail says "no NPS on file" / "no CSAT on file".
    Without any support or survey source the component has no data.
    """
    frame = signals.frame
    has_tickets = signals.meta.has_tickets
    volume = (frame["tickets_90d"] - TICKETS_WITHOUT_PENALTY).clip(lower=0)
    penalty = (
        SUPPORT_PENALTY_OPEN_URGENT * frame["open_urgent_high"]
        + SUPPORT_PENALTY_BAD_SATISFACTION * frame["bad_satisfaction_90d"]
        + SUPPORT_PENALTY_NEGATIVE_SENTIMENT * frame["negative_sentiment_90d"]
        + (SUPPORT_PENALTY_PER_TICKET * volume).clip(upper=SUPPORT_VOLUME_MAX_PENALTY)
    )
    support = np.clip(1.0 - penalty.to_numpy(dtype="float64"), 0.0, 1.0)
    if not has_tickets:
        support = np.full(len(frame), np.nan)
    nps = nps_value(frame["nps_latest"])
    low, high = CSAT_SCALE
    csat = ((frame["csat_avg"] - low) / (high - low)).clip(0.0, 1.0).to_numpy(dtype="float64")
    value = weighted_mean({"support": support, "nps": nps, "csat": csat}, ENGAGEMENT_PARTS)
    raw = pd.DataFrame(
        {
            "tickets_90d": frame["tickets_90d"],
            "open_urgent_high": frame["open_urgent_high"],
            "new_urgent_high": frame["new_urgent_high"],
            "bad_satisfaction_90d": frame["bad_satisfaction_90d"],
            "negative_sentiment_90d": frame["negative_sentiment_90d"],
            "nps_latest": frame["nps_latest"],
            "nps_latest_on": frame["nps_latest_at"].dt.strftime("%Y-%m-%d"),
            "csat_avg": np.round(frame["csat_avg"], 2),
            "csat_responses": frame["csat_responses"],
            "support_score": np.round(support, 3),
            "nps_score": np.round(nps, 3),
            "csat_score": np.round(csat, 3),
        },
        index=frame.index,
    )
    return ComponentResult(
        "engagement",
        pd.Series(value, index=frame.index),
        raw,
        lambda: _engagement_texts(frame, has_tickets),
    )


def _support_text(has_tickets: bool, t: float, o: float, b: float, n: float) -> str:
    """Tickets in the lookback: total, open urgent/high, rated bad, negative sentiment."""
    if not has_tickets:
        return "no support data"
    if t == 0 and o == 0:
        return f"no tickets in {TICKET_LOOKBACK_DAYS} days"
    bits = [plural(t, "ticket") + f" in {TICKET_LOOKBACK_DAYS} days"]
    if o:
        bits.append(f"{o:.0f} open urgent/high")
    if b:
        bits.append(f"{b:.0f} rated bad")
    if n:
        bits.append(f"{n:.0f} with negative sentiment")
    return ", ".join(bits)


def _engagement_texts(frame: pd.DataFrame, has_tickets: bool) -> Texts:
    detail = []
    reason = []
    columns = [
        frame[c].tolist()  # lists, math.isnan: texts 0.41 -> 0.24 s CPU (20,000)
        for c in (
            "tickets_90d",
            "open_urgent_high",
            "bad_satisfaction_90d",
            "negative_sentiment_90d",
            "nps_latest",
            "csat_avg",
            "csat_responses",
        )
    ]
    for t, o, b, n, score, csat_avg, csat_n in zip(*columns, strict=True):
        nps_text = (
            "no NPS on file" if isnan(score) else f"latest NPS {score:.0f} ({nps_category(score)})"
        )
        csat_text = (
            "no CSAT on file"
            if isnan(csat_avg)
            else f"CSAT {csat_avg:.1f}/5 ({plural(csat_n, 'response')})"
        )
        support_text = _support_text(has_tickets, t, o, b, n)
        detail.append("; ".join((support_text, nps_text, csat_text)))
        problems = [
            f"{o:.0f} open urgent/high ticket{'s' if o != 1 else ''}" if o else "",
            f"{b:.0f} ticket{'s' if b != 1 else ''} rated bad" if b else "",
            f"{n:.0f} negative-sentiment ticket{'s' if n != 1 else ''}" if n else "",
            nps_text if not isnan(score) else "",
            f"CSAT {csat_avg:.1f}/5" if not isnan(csat_avg) else "",
        ]
        short = ", ".join(p for p in problems if p)
        reason.append(short or support_text)
    return detail, reason


def contract_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """Overdue invoices, renewal proximity, lifecycle (trial scores below paid) and
    tenure (days since contract start: new customers score below established ones).

    Renewal proximity is a mild factor (0.6 on renewal day) because less time to fix
    problems is a risk in itself; the lifecycle is always known, so the component always
    has data, with a missing renewal date renormalised away and said in the detail.
    """
    frame = signals.frame
    as_of = pd.Timestamp(signals.meta.windows.as_of)
    days_overdue = days_between(as_of, frame["oldest_overdue_due_on"]).fillna(0.0).clip(lower=0)
    invoice = np.clip(1.0 - days_overdue.to_numpy() / INVOICE_ZERO_DAYS, 0.0, 1.0)
    to_renewal = days_between(frame["renewal_date"], pd.Series(as_of, index=frame.index))
    renewal = np.interp(
        to_renewal.fillna(0.0).clip(lower=0),
        [0.0, float(cfg.renewal_window_days)],
        [RENEWAL_IMMINENT_VALUE, 1.0],
    )
    renewal = np.where(to_renewal < 0, RENEWAL_PASSED_VALUE, renewal)
    renewal = np.where(to_renewal.isna(), np.nan, renewal)
    lifecycle = frame["lifecycle"].map(LIFECYCLE_VALUES).fillna(1.0).to_numpy(dtype="float64")
    tenure_days = days_between(as_of, frame["contract_start"]).clip(lower=0)
    tenure = np.interp(tenure_days.fillna(0.0), [0.0, TENURE_ESTABLISHED_DAYS],
                       [TENURE_NEW_VALUE, 1.0])
    tenure = np.where(tenure_days.isna(), np.nan, tenure)
    value = weighted_mean(
        {"invoices": invoice, "renewal": renewal, "lifecycle": lifecycle, "tenure": tenure},
        CONTRACT_PARTS,
    )
    raw = pd.DataFrame(
        {
            "days_to_renewal": to_renewal,
            "overdue_invoices": frame["overdue_invoices"],
            "max_days_overdue": days_overdue,
            "overdue_amount": np.round(frame["overdue_amount"], 2),
            "lifecycle": frame["lifecycle"],
            "invoice_score": np.round(invoice, 3),
            "renewal_score": np.round(renewal, 3),
            "lifecycle_score": np.round(lifecycle, 3),
            "tenure_days": tenure_days,
            "tenure_score": np.round(tenure, 3),
        },
        index=frame.index,
    )
    window = cfg.renewal_window_days
    return ComponentResult(
        "contract",
        pd.Series(value, index=frame.index),
        raw,
        lambda: _contract_texts(frame, to_renewal, days_overdue, tenure_days, window),
    )


def _contract_texts(
    frame: pd.DataFrame,
    to_renewal: pd.Series,
    days_overdue: pd.Series,
    tenure_days: pd.Series,
    window: int,
) -> Texts:
    detail = []
    reason = []
    for r, n, d, amt, life, age in zip(
        to_renewal.tolist(),
        frame["overdue_invoices"].tolist(),
        days_overdue.tolist(),
        frame["overdue_amount"].tolist(),
        frame["lifecycle"].tolist(),
        tenure_days.tolist(),
        strict=True,
    ):
        if isnan(r):
            renewal_text = "no renewal date on file"
        elif r < 0:
            renewal_text = f"renewal date passed {-r:.0f} days ago"
        else:
            renewal_text = f"renewal in {r:.0f} days"
        if n > 0:
            invoice_text = f"{plural(n, 'invoice')} overdue, oldest {d:.0f} days (${amt:,.0f})"
        else:
            invoice_text = "no overdue invoices"
        tenure_text = "" if isnan(age) else f"; customer for {age:.0f} days"
        detail.append(f"{renewal_text}; {invoice_text}; {life}{tenure_text}")
        notable = [
            invoice_text if n > 0 else "",
            renewal_text if isnan(r) or r <= window else "",
            "still in trial" if life == "trial" else "",
        ]
        reason.append(", ".join(x for x in notable if x) or f"{invoice_text}, {renewal_text}")
    return detail, reason


def csm_component(signals: Signals, cfg: ScoringConfig) -> ComponentResult:
    """The CSM's recorded sentiment as a component: green 1, yellow 0.5, red 0.

    A score override is not a weighted value (it pins the score): its value stays NaN
    here and :func:`apply_score_overrides` adds the difference as this component's points.
    """
    del cfg
    frame = signals.frame
    kind = frame["csm_kind"]
    sentiment = frame["csm_sentiment"].map(SENTIMENT_VALUES)
    value = sentiment.where(kind == "sentiment").astype("float64")
    raw = pd.DataFrame(
        {
            "kind": kind,
            "sentiment": frame["csm_sentiment"],
            "score": frame["csm_score"],
            "reason": frame["csm_reason"],
            "author": frame["csm_author"],
            "until": pd.Series(
                [
                    d.date().isoformat() if isinstance(d, pd.Timestamp) else None
                    for d in frame["csm_until"]
                ],
                index=frame.index,
                dtype=object,
            ),
        },
        index=frame.index,
    )

    def texts() -> Texts:
        return [
            _csm_text(k, sen, sc, why, who, until)
            for k, sen, sc, why, who, until in zip(
                kind,
                frame["csm_sentiment"],
                frame["csm_score"],
                frame["csm_reason"],
                frame["csm_author"],
                frame["csm_until"],
                strict=True,
            )
        ], None

    return ComponentResult("csm", value, raw, texts)


def _csm_text(kind: Any, sentiment: Any, score: Any, reason: Any, author: Any, until: Any) -> str:
    """ "red, champion left, until 31 Jan 2027, by Dana Scully" (or "score set to 45, ...")."""
    if kind is None:
        return "no CSM sentiment recorded"
    head = f"score set to {float(score):.0f}" if kind == "score" else str(sentiment)
    ends = f", until {until:%-d %b %Y}" if isinstance(until, pd.Timestamp) else ""
    return f"{head}, {reason}{ends}, by {author}"
