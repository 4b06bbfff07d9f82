"""Usage aggregated where it lives (``scoring.usage``): the same figures from Pulse's
database (SQLite, PostgreSQL), DuckDB (Parquet, CSV, a .duckdb file) and a warehouse
reached by URL; the warehouse statement as Snowflake and BigQuery receive it; and a whole
`pulse score` on DuckDB over Parquet giving the scores of a SQLite run.

The warehouse here is a SQLite or a DuckDB file reached by its SQLAlchemy URL, which
takes the warehouse route (per-user figures come back, a local DuckDB rolls them up): the
portable phrasing and the bitmask one.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from outside_usage import END, SAMPLE, export_usage, load_sample, outside_engines
from snowflake.sqlalchemy.snowdialect import SnowflakeDialect
from sqlalchemy import delete, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy_bigquery import BigQueryDialect
from typer.testing import CliRunner

from connectors.files import FilesConnector
from pulse.cli.main import app
from pulse.kernel.config import ConfigError, ScoringConfig, UsageEngineConfig, parse_config
from pulse.services.backtest import build_panel
from scoring.signals import Windows, engine_contacts, load_signals, usage_calendar
from scoring.signals.activity import UsagePlan, per_user_stmt
from storage.db import get_engine, session_factory
from storage.migrate import upgrade
from storage.models import ScoreSnapshot, UsageDaily
from storage.usage_engine import UsageEngineError, usage_engine
from storage.usage_sql import mapped_usage

DATES = (END, END - timedelta(days=37), END - timedelta(days=118))
"""The last day, a day inside the history, and one whose previous window starts before it."""
SQL_FIXTURES = Path(__file__).parents[1] / "fixtures" / "usage_sql"
REGENERATE = "PULSE_REGENERATE_SQL"
"""Set to 1 to rewrite the expected warehouse SQL (then review the diff and commit it):
``PULSE_REGENERATE_SQL=1 pytest tests/scoring/test_usage_engines.py -k compiles``."""

runner = CliRunner()


def _assert_same_figures(ours: pd.DataFrame, theirs: pd.DataFrame, label: str) -> None:
    assert list(theirs.index) == list(ours.index), label
    assert set(theirs.columns) == set(ours.columns), label
    for col in ours.columns:
        a, b = ours[col], theirs[col]
        if pd.api.types.is_float_dtype(a):
            np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=0, atol=1e-9,
                                       err_msg=f"{label}: {col}")
        else:
            same = [x if pd.notna(x) else None for x in a.astype(object)]
            assert [x if pd.notna(x) else None for x in b.astype(object)] == same, label + col


def test_every_engine_gives_the_figures_of_pulses_database(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_sample(session)
    engines = outside_engines(export_usage(session), tmp_path, monkeypatch)
    cfg = parse_config(SAMPLE).scoring
    for as_of in DATES:
        ours = load_signals(session, cfg, as_of).frame
        assert ours["active_users"].sum() > 0 and ours["features_used"].sum() > 0
        for name, engine in engines.items():
            theirs = load_signals(session, cfg.model_copy(update={"usage": engine}), as_of)
            _assert_same_figures(ours, theirs.frame, f"{name} on {as_of}")
    # the backtest's usage calendar (first day and catalogue of each date) likewise
    start = DATES[-1] - timedelta(days=60)
    calendar = usage_calendar(session, start, END)
    for name, engine in engines.items():
        theirs = usage_calendar(session, start, END, usage_engine(engine))
        for as_of in DATES:
            w = Windows.build(as_of, cfg)
            assert theirs.first_day_and_catalogue(w.prev_start, as_of) == (
                calendar.first_day_and_catalogue(w.prev_start, as_of)
            ), name


def test_a_backtest_on_an_outside_engine_gives_the_panel_of_pulses_database(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dates of a backtest share one read of the contacts (:func:`engine_contacts`:
    those the engine is handed, and every contact, whose facts a local DuckDB computes
    for each date); each date's rows are still those of Pulse's database."""
    load_sample(session)
    engines = outside_engines(export_usage(session), tmp_path, monkeypatch)
    cfg = parse_config(SAMPLE).scoring
    dates = sorted(DATES)
    ours = build_panel(session, cfg, dates, workers=1)
    assert engine_contacts(session, cfg) is None  # usage in Pulse's database
    for name in ("parquet", "warehouse"):
        outside = cfg.model_copy(update={"usage": engines[name]})
        handed = engine_contacts(session, outside)
        assert handed is not None and handed.people.num_rows > 0
        assert handed.everyone.num_rows >= handed.people.num_rows
        theirs = build_panel(session, outside, dates, workers=1)
        assert theirs["as_of"].nunique() == len(dates)
        _assert_same_figures(ours, theirs, name)


@pytest.mark.parametrize("name, dialect", [("snowflake", SnowflakeDialect()),
                                            ("bigquery", BigQueryDialect())])
def test_the_warehouse_statement_compiles_to_the_stored_sql(name: str, dialect: Dialect) -> None:
    cfg = ScoringConfig()
    usage = mapped_usage("analytics.product_usage_daily", UsageEngineConfig().columns)
    catalogue = ("login", "search", "reports", "dashboards", "api", "exports")
    plan = UsagePlan.build(Windows.build(END, cfg), cfg, catalogue, name, usage)
    sql = str(per_user_stmt(plan).compile(dialect=dialect,
                                          compile_kwargs={"literal_binds": True})) + "\n"
    expected = SQL_FIXTURES / f"per_user.{name}.sql"
    if os.environ.get(REGENERATE) == "1":
        expected.write_text(sql)
    assert sql == expected.read_text()
    assert "2025-06-01" in sql and "analytics" in sql  # the window and the mapped table


def test_the_files_connector_leaves_usage_to_the_engine() -> None:
    drop = Path(__file__).parents[1] / "fixtures" / "files" / "valid"
    in_place = parse_config({"scoring": {"usage": {"engine": "duckdb",
                                                   "path": str(drop / "usage.csv")}}})
    copied = {b.entity for b in FilesConnector(parse_config({}), path=drop).pull(None)}
    left = {b.entity for b in FilesConnector(in_place, path=drop).pull(None)}
    assert "usage" in copied
    assert left == copied - {"usage"}


def _score(home: Path, db: Path, usage: dict[str, Any] | None) -> dict[int, tuple[float, str]]:
    config = {**SAMPLE, "scoring": {"usage": usage}} if usage else SAMPLE
    (home / "pulse.yml").write_text(yaml.safe_dump(config))
    env = {"DATABASE_URL": f"sqlite:///{db}", "PULSE_CONFIG": str(home / "pulse.yml")}
    result = runner.invoke(app, ["score", "--as-of", END.isoformat()], env=env)
    assert result.exit_code == 0, result.output
    with session_factory(f"sqlite:///{db}")() as session:
        rows = session.execute(
            select(ScoreSnapshot.account_id, ScoreSnapshot.score, ScoreSnapshot.tier)
            .where(ScoreSnapshot.as_of == END)
        ).all()
    get_engine(f"sqlite:///{db}").dispose()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_pulse_score_on_duckdb_over_parquet_gives_the_scores_of_sqlite(tmp_path: Path) -> None:
    copied = tmp_path / "copied.db"
    upgrade(f"sqlite:///{copied}")
    with session_factory(f"sqlite:///{copied}")() as session:
        load_sample(session)
        export_usage(session).to_parquet(tmp_path / "usage.parquet", index=False)
    get_engine(f"sqlite:///{copied}").dispose()
    in_place = tmp_path / "in_place.db"  # the same workspace without the usage rows
    shutil.copy(copied, in_place)
    with session_factory(f"sqlite:///{in_place}")() as session:
        session.execute(delete(UsageDaily))
        session.commit()
    get_engine(f"sqlite:///{in_place}").dispose()

    ours = _score(tmp_path, copied, None)
    usage = {"engine": "duckdb", "path": str(tmp_path / "usage.parquet"), "user_source": "sample"}
    theirs = _score(tmp_path, in_place, usage)
    without = _score(tmp_path, in_place, None)
    assert len(ours) > 40
    assert theirs.keys() == ours.keys()
    for account, (score, tier) in ours.items():
        assert theirs[account][0] == pytest.approx(score, abs=1e-9)
        assert theirs[account][1] == tier
    assert without != ours  # the usage did count: without it the scores differ


def test_an_engine_that_cannot_be_reached_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULSE_TEST_NO_URL", raising=False)
    unset = UsageEngineConfig(engine="warehouse", url_env="PULSE_TEST_NO_URL")
    with pytest.raises(UsageEngineError, match="PULSE_TEST_NO_URL is not set"):
        usage_engine(unset)
    missing = UsageEngineConfig(engine="duckdb", path=str(tmp_path / "gone.duckdb"))
    with pytest.raises(UsageEngineError, match="gone.duckdb' not found"):
        usage_engine(missing)
    with pytest.raises(ConfigError, match="engine duckdb needs a path"):
        parse_config({"scoring": {"usage": {"engine": "duckdb"}}})
    with pytest.raises(ConfigError, match="columns lacks day"):
        parse_config({"scoring": {"usage": {"columns": {"user": "u", "feature": "f",
                                                        "events": "e"}}}})
