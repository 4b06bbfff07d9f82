"""The small per-account queries: integrations, tickets, surveys, invoices, snapshots,
CSM overrides. Each is bounded above by ``as_of`` (see :mod:`scoring.signals`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Float, and_, case, cast, distinct, func, literal, not_, or_, select

from scoring.signals.windows import Windows
from storage.models import (
    CLOSED_TICKET_STATUSES,
    DELETED_TICKET_STATUS,
    IntegrationDaily,
    Invoice,
    Override,
    ScoreSnapshot,
    SurveyResponse,
    Ticket,
)
from storage.tuning import AnySelect

URGENT_PRIORITIES = ("urgent", "high")
"""Ticket priorities that count as urgent/high."""
SETTLED_INVOICE_STATUSES = ("void", "draft")
"""Invoices that are never owed."""
UNPAID_INVOICE_STATUSES = ("open", "uncollectible")
"""Statuses of an invoice still owed (when it has no ``paid_on``)."""
PREVIOUS_SCORES = 2
"""Snapshots read per account before ``as_of``: the score-drop flag looks two runs back."""


def integrations_stmt(windows: Windows) -> AnySelect:
    runs = IntegrationDaily
    last7 = runs.day >= windows.integration_7d_start
    failing = runs.failures > 0
    return (
        select(
            runs.account_id.label("account_id"),
            func.sum(runs.runs).label("integration_runs"),
            func.sum(runs.failures).label("integration_failures"),
            func.count(distinct(case((failing, runs.integration)))).label("failing_integrations"),
            func.max(case((failing, runs.integration))).label("failing_integration_name"),
            func.sum(case((last7, runs.runs), else_=0)).label("integration_runs_7d"),
            func.sum(case((last7, runs.failures), else_=0)).label("integration_failures_7d"),
        )
        .where(runs.day >= windows.start, runs.day <= windows.as_of)
        .group_by(runs.account_id)
    )


def tickets_stmt(windows: Windows) -> AnySelect:
    """Ticket counts; "open" is reconstructed for ``as_of`` from ``solved_at``."""
    ticket = Ticket
    recent = ticket.created_at >= windows.ticket_start_dt
    urgent = ticket.priority.in_(URGENT_PRIORITIES)
    open_at = or_(
        ticket.solved_at >= windows.end_dt,
        and_(ticket.solved_at.is_(None), not_(ticket.status.in_(CLOSED_TICKET_STATUSES))),
    )
    negative = ticket.sentiment == "negative"
    new = ticket.created_at >= windows.window_start_dt
    recent_sentiment = ticket.created_at >= windows.sentiment_start_dt
    lookback = min(windows.ticket_start_dt, windows.sentiment_start_dt)

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    return (
        select(
            ticket.account_id.label("account_id"),
            count(recent).label("tickets_90d"),
            count(and_(urgent, open_at)).label("open_urgent_high"),
            count(and_(urgent, new)).label("new_urgent_high"),
            count(and_(recent, ticket.satisfaction == "bad")).label("bad_satisfaction_90d"),
            count(and_(recent, ticket.satisfaction == "good")).label("good_satisfaction_90d"),
            count(and_(recent, negative)).label("negative_sentiment_90d"),
            count(and_(recent_sentiment, negative)).label("negative_sentiment_flag"),
        )
        .where(
            ticket.created_at < windows.end_dt,
            ticket.status != DELETED_TICKET_STATUS,
            or_(ticket.created_at >= lookback, open_at),
        )
        .group_by(ticket.account_id)
    )


def nps_stmt(windows: Windows) -> AnySelect:
    """Latest NPS answer within the lookback (ties on the same instant are averaged)."""
    survey = SurveyResponse
    in_range = and_(
        survey.kind == "nps",
        survey.responded_at >= windows.nps_start_dt,
        survey.responded_at < windows.end_dt,
    )
    latest = (
        select(
            survey.account_id.label("account_id"),
            func.max(survey.responded_at).label("latest_at"),
            func.count().label("nps_responses"),
        )
        .where(in_range)
        .group_by(survey.account_id)
        .subquery("latest_nps")
    )
    return (
        select(
            latest.c.account_id,
            func.avg(cast(survey.score, Float)).label("nps_latest"),
            func.max(latest.c.latest_at).label("nps_latest_at"),
            func.max(latest.c.nps_responses).label("nps_responses"),
        )
        .join(
            latest,
            and_(
                survey.account_id == latest.c.account_id,
                survey.responded_at == latest.c.latest_at,
            ),
        )
        .where(survey.kind == "nps")
        .group_by(latest.c.account_id)
    )


def csat_stmt(windows: Windows) -> AnySelect:
    survey = SurveyResponse
    return (
        select(
            survey.account_id.label("account_id"),
            func.avg(cast(survey.score, Float)).label("csat_avg"),
            func.count().label("csat_responses"),
        )
        .where(
            survey.kind == "csat",
            survey.responded_at >= windows.csat_start_dt,
            survey.responded_at < windows.end_dt,
        )
        .group_by(survey.account_id)
    )


def invoices_stmt(windows: Windows) -> AnySelect:
    """Invoices unpaid on ``as_of`` and already due (paid later counts as unpaid then)."""
    invoice = Invoice
    unpaid = and_(
        not_(invoice.status.in_(SETTLED_INVOICE_STATUSES)),
        or_(
            invoice.paid_on > windows.as_of,
            and_(invoice.paid_on.is_(None), invoice.status.in_(UNPAID_INVOICE_STATUSES)),
        ),
    )
    overdue = and_(unpaid, invoice.due_on < windows.as_of)
    return (
        select(
            invoice.account_id.label("account_id"),
            func.count().label("invoices_on_file"),
            func.sum(case((overdue, 1), else_=0)).label("overdue_invoices"),
            func.sum(case((overdue, invoice.amount), else_=literal(0.0, Float))).label(
                "overdue_amount"
            ),
            func.min(case((overdue, invoice.due_on))).label("oldest_overdue_due_on"),
        )
        .where(or_(invoice.issued_on.is_(None), invoice.issued_on <= windows.as_of))
        .group_by(invoice.account_id)
    )


def snapshots_stmt(windows: Windows) -> AnySelect:
    """The two most recent snapshots per account before ``as_of`` (for the score-drop flag)."""
    snapshot = ScoreSnapshot
    ranked = (
        select(
            snapshot.account_id.label("account_id"),
            snapshot.as_of.label("as_of"),
            snapshot.score.label("score"),
            func.row_number()
            .over(partition_by=snapshot.account_id, order_by=snapshot.as_of.desc())
            .label("rn"),
        )
        .where(snapshot.as_of < windows.as_of, snapshot.as_of >= windows.snapshot_start)
        .subquery("ranked")
    )
    return select(ranked.c.account_id, ranked.c.as_of, ranked.c.score, ranked.c.rn).where(
        ranked.c.rn <= PREVIOUS_SCORES
    )


def overrides_stmt(windows: Windows) -> AnySelect:
    """The CSM override in force on ``as_of``: set by then, not yet ended, not expired.

    Bounded like every other query (an override recorded after ``as_of`` is not seen),
    so a backtest never sees a CSM's later judgement. Newest first per account: the
    first row of each account is the one in force.
    """
    return (
        select(
            Override.account_id.label("account_id"),
            Override.kind.label("csm_kind"),
            Override.sentiment.label("csm_sentiment"),
            Override.score.label("csm_score"),
            Override.reason.label("csm_reason"),
            Override.author_name.label("csm_author"),
            Override.expires_on.label("csm_until"),
        )
        .where(
            Override.created_at < windows.end_dt,
            Override.expires_on >= windows.as_of,
            or_(Override.ended_at.is_(None), Override.ended_at >= windows.end_dt),
        )
        .order_by(Override.account_id, Override.created_at.desc(), Override.id.desc())
    )


def previous_scores(snapshots: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`snapshots_stmt` as one row per account: the previous score and
    date (``prev1_*``) and the one before (``prev2_*``)."""
    cols = ["prev1_score", "prev1_as_of", "prev2_score", "prev2_as_of"]
    if snapshots.empty:
        return pd.DataFrame(columns=["account_id", *cols])
    snapshots = snapshots.astype({"rn": int})
    first = snapshots[snapshots["rn"] == 1].set_index("account_id")
    second = snapshots[snapshots["rn"] == 2].set_index("account_id")
    out = pd.DataFrame(
        {
            "prev1_score": first["score"],
            "prev1_as_of": first["as_of"],
        }
    )
    out = out.join(
        pd.DataFrame({"prev2_score": second["score"], "prev2_as_of": second["as_of"]}),
        how="left",
    )
    return out.reset_index(names="account_id")
