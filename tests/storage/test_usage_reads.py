"""Usage read where it lives outside the scoring run: a card's last active day, `pulse
metrics`' adoption and time to value, and the date range backtest and tune can use give
the answers of Pulse's own usage table when the usage is only in Parquet, CSV, a DuckDB
file or a warehouse (and no longer in ``usage_daily``)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from outside_usage import END, SAMPLE, export_usage, load_sample, outside_engines
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

import storage.usage_reads as usage_reads
from pulse.kernel.config import PulseConfig, UsageEngineConfig, parse_config
from pulse.services.access import Viewer
from pulse.services.health import health_lookup
from pulse.services.learn import usable_range
from pulse.services.metrics import Period, portfolio_metrics
from scoring.periods import parse_span
from storage.models import Account, UsageDaily
from storage.usage_engine import usage_engine
from storage.usage_reads import (
    distinct_active_days,
    first_use_since,
    last_active_days,
    usage_span,
)

CORE = ("reports", "dashboards")
QUARTER = Period(date(2025, 4, 1), END)


def _answers(session: Session, config: UsageEngineConfig) -> dict[str, object]:
    engine = usage_engine(config)
    ids = [int(a) for a in session.scalars(select(Account.id).order_by(Account.id))]
    starts = {a: END - timedelta(days=100 + 7 * i) for i, a in enumerate(ids[:12])}
    days = distinct_active_days(session, engine, CORE, END - timedelta(days=29), END)
    first = first_use_since(session, engine, CORE, starts, END)
    return {
        "span": usage_span(session, engine),
        "last active, three accounts": last_active_days(session, engine, ids[:3], END),
        "last active, all, 40 days back": last_active_days(
            session, engine, ids, END - timedelta(days=40)),
        "core days": days.sort_values("account_id").to_dict("records"),
        "first core use": first.sort_values("account_id").to_dict("records"),
    }


def test_every_engine_answers_as_the_usage_table(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_sample(session)
    ours = _answers(session, UsageEngineConfig())
    assert ours["span"][1] == END and ours["core days"] and ours["first core use"]
    assert len(ours["last active, all, 40 days back"]) > 10  # type: ignore[arg-type]
    engines = outside_engines(export_usage(session), tmp_path, monkeypatch)
    session.execute(delete(UsageDaily))
    session.commit()
    assert _answers(session, UsageEngineConfig())["span"] == (None, None)
    for name, config in engines.items():
        assert _answers(session, config) == ours, name
    # beyond the IN list: every user asked, mapped afterwards
    monkeypatch.setattr(usage_reads, "USER_LIST_MAX", 0)
    assert _answers(session, engines["warehouse"]) == ours


def _cfg(usage: UsageEngineConfig) -> PulseConfig:
    cfg = parse_config({**SAMPLE, "scoring": {"core_features": list(CORE)}})
    return cfg.model_copy(update={"scoring": cfg.scoring.model_copy(update={"usage": usage})})


def test_cards_metrics_and_the_usable_range_read_the_outside_usage(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scoring.engine import run_scoring

    load_sample(session)
    cfg = _cfg(UsageEngineConfig())
    run_scoring(session, cfg, END, pd.Timestamp(END).to_pydatetime())
    session.commit()
    admin = Viewer("UADMIN", None, "admin", None, None, "Ada Admin", True)
    now = pd.Timestamp(END).to_pydatetime().replace(hour=9)
    name = session.scalars(select(Account.name).order_by(Account.id)).first()
    card = health_lookup(session, cfg, admin, str(name), now)
    metrics = portfolio_metrics(session, cfg, QUARTER)
    span = usable_range(session, parse_span("30d"), 30, today=END)
    assert card.account.last_activity is not None  # type: ignore[union-attr]
    assert int(metrics.adoption["adopted"].sum()) > 0
    assert int(metrics.time_to_value["reached"].sum()) > 0

    parquet = outside_engines(export_usage(session), tmp_path, monkeypatch)["parquet"]
    session.execute(delete(UsageDaily))
    session.commit()
    outside = _cfg(parquet)
    theirs = health_lookup(session, outside, admin, str(name), now)
    assert theirs.account.last_activity == card.account.last_activity  # type: ignore[union-attr]
    again = portfolio_metrics(session, outside, QUARTER)
    pd.testing.assert_frame_equal(again.adoption, metrics.adoption)
    pd.testing.assert_frame_equal(again.time_to_value, metrics.time_to_value)
    found = usable_range(session, parse_span("30d"), 30, today=END,
                         engine=usage_engine(parquet))
    assert found == span
    # and Pulse's empty table would have said there was no usage at all
    assert usable_range(session, parse_span("30d"), 30, today=END).first_usage is None
