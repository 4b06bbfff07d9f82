"""Workspace figures (scoring.figures): a daily run stores them, and accounts scored
against them alone get exactly what a full run with the same figures gives them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from fakes.harness import END, NOW, load_sample_workspace, prepare_database
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig, parse_config
from scoring.engine import score_accounts, score_accounts_with_figures
from scoring.figures import WorkspaceFigures, cached_figures
from storage.db import session_factory
from storage.models import Account, Contact, Invoice, Override, ScoringFigures, UsageDaily

CONFIG = parse_config({"sources": {"sample": {}}})
SHARES = parse_config({"sources": {"sample": {}},
                       "scoring": {"tiers": {"mode": "shares", "at_risk_share": 0.2}}})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The sample workspace, scored a week before and on ``END`` (the daily runs)."""
    url = prepare_database(request, request.param, tmp_path_factory.mktemp("figures"))
    load_sample_workspace(url, CONFIG, watched=False)
    return url


@pytest.fixture
def session(url: str) -> Iterator[Session]:
    """A session whose changes are rolled back after the test."""
    with session_factory(url)() as session:
        yield session
        session.rollback()


def _rows(scored: pd.DataFrame, ids: list[int]) -> dict[int, Any]:
    """Each account's whole scored row (score, tier, components, flags, reasons...) as
    the JSON values a snapshot stores (NaN as None)."""
    rows = scored[scored["account_id"].isin(ids)].set_index("account_id").sort_index()
    return {int(a): json.loads(json.dumps(r, default=str), parse_constant=lambda _: None)
            for a, r in zip(rows.index, rows.to_dict("records"), strict=True)}


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two rows differ. Numbers compare by value, unrounded ones to 1e-12: a whole
    raw figure is written 5 or 5.0 depending on the other accounts scored with it
    (``scoring.components.entries.py_list`` decides per column), and PostgreSQL sums a
    usage window's floats in an order that depends on the plan, so the component values
    before rounding (``value_*``, not stored) may differ in their last bit."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in _differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _differences(x, y, f"{path}[{i}]")]
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return [] if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) else [f"{path}: {a} {b}"]
    return [] if a == b else [f"{path}: {a!r} {b!r}"]


def _figures(session: Session) -> WorkspaceFigures:
    figures, why = cached_figures(session, CONFIG.scoring, END, NOW, 36)
    assert figures is not None, why
    return figures


def _paid(session: Session, n: int) -> list[int]:
    return list(session.scalars(select(Account.id).where(Account.lifecycle == "paid")
                                .order_by(Account.id).limit(n)))


def test_the_daily_run_stores_the_figures_of_its_day_only(session: Session) -> None:
    stored = session.scalars(select(ScoringFigures)).all()
    assert [row.as_of for row in stored] == [END]  # the week-earlier run's were dropped
    figures = _figures(session)
    assert figures.meta.usage_baselines is not None and figures.meta.catalogue
    assert sum(len(v) for v in figures.peers["usage"].values()) > 400


def test_accounts_scored_alone_against_the_figures_get_the_daily_runs_rows(
    session: Session,
) -> None:
    """Nothing changed since the daily run: scoring 25 accounts against its stored figures
    gives them the rows the run computed (percentiles, medians and cut-offs included)."""
    ids = _paid(session, 400)[::16]
    daily = score_accounts(session, CONFIG, END)
    alone = score_accounts(session, CONFIG, END, figures=_figures(session), only=ids)
    assert sorted(alone["account_id"]) == sorted(ids)
    assert _differences(_rows(alone, ids), _rows(daily, ids)) == []


def _change(session: Session, ids: list[int]) -> None:
    """An overdue invoice, a burst of usage, a new segment and seat count (another peer
    group), a CSM score override: one for each of four accounts."""
    overdue, busy, moved, pinned = ids[:4]
    session.add(Invoice(source="stripe", external_id="in_test_overdue", account_id=overdue,
                        amount=9_000.0, status="open", issued_on=END - timedelta(days=40),
                        due_on=END - timedelta(days=10)))
    users = session.scalars(select(Contact.id).where(Contact.account_id == busy)).all()
    session.add_all(UsageDaily(account_id=busy, day=END - timedelta(days=d), user_id=u,
                               feature="test_feature", source="sample", events=40)
                    for u in users for d in range(3))
    account = session.get(Account, moved)
    assert account is not None
    account.segment, account.licensed_seats = "Enterprise", 500
    session.add(Override(account_id=pinned, kind="score", score=33.0, reason="test",
                         author="U1", author_name="Ann", created_at=NOW - timedelta(hours=1),
                         expires_on=END + timedelta(days=10)))
    session.flush()


@pytest.mark.parametrize("config", [CONFIG, SHARES], ids=["thresholds", "shares"])
def test_affected_accounts_alone_score_as_in_a_full_run_with_the_same_figures(
    session: Session, config: PulseConfig
) -> None:
    """After changes to some accounts, scoring only them against the figures gives each
    the same score, tier, components, flags and reasons as scoring everyone against them."""
    ids = _paid(session, 400)[::40]
    before = score_accounts(session, config, END)
    _, figures = score_accounts_with_figures(session, config, END)
    _change(session, ids)
    full = score_accounts(session, config, END, figures=figures)
    alone = score_accounts(session, config, END, figures=figures, only=ids)
    assert _differences(_rows(alone, ids), _rows(full, ids)) == []
    old = _rows(before, ids)
    changed = {a for a, row in _rows(alone, ids).items() if _differences(row, old[a])}
    assert set(ids[:4]) <= changed  # the changes did reach the scores


def _field(rows: dict[int, Any], account: int, key: str) -> Any:
    return rows[account][key]


def test_figures_drive_the_tiers_of_accounts_scored_alone(session: Session) -> None:
    """In shares mode the cut-offs are the portfolio's: an account scored alone is tiered
    by the stored cut-offs, not by a portfolio of one."""
    _, figures = score_accounts_with_figures(session, SHARES, END)
    ids = _paid(session, 400)[::10]
    alone = _rows(score_accounts(session, SHARES, END, figures=figures, only=ids), ids)
    tiers = {_field(alone, a, "tier") for a in ids}
    assert {"at_risk", "healthy"} <= tiers
