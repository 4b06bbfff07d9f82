"""`/readyz`'s verdict on both backends: ready on a current schema, not ready naming
the migrations when the database is behind, the last pipeline run reported."""

from __future__ import annotations

import socket
import threading
from datetime import date, datetime

import pytest
from sqlalchemy import text

import storage.db
from pulse.services.readiness import Readiness, check_readiness
from storage.db import get_engine, session_scope
from storage.migrate import head_revision
from storage.models import PipelineRun


def test_ready_with_current_migrations_and_the_last_run(db_url: str) -> None:
    ready = check_readiness(db_url)
    assert ready.ready and ready.problems == []
    assert ready.checks["migrations"] == {"database": head_revision(),
                                          "expected": head_revision()}
    assert ready.checks["last_pipeline_run"] is None
    with session_scope(db_url) as session:
        session.add(PipelineRun(run_date=date(2026, 3, 2), kind="scheduled",
                                started_at=datetime(2026, 3, 2, 6), status="failed",
                                steps=[{"name": "sync", "status": "failed"},
                                       {"name": "score", "status": "ok"}], host="h:1"))
    ready = check_readiness(db_url)
    assert ready.ready  # a failed run is reported, it does not take the bot out of service
    assert ready.checks["last_pipeline_run"]["status"] == "failed"
    assert ready.checks["last_pipeline_run"]["failed_steps"] == ["sync"]


def test_not_ready_when_migrations_are_behind(db_url: str) -> None:
    with get_engine(db_url).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        ready = check_readiness(db_url)
        assert not ready.ready
        assert ready.as_dict()["problems"] == [
            f"migrations not current: database at 0001, this Pulse expects {head_revision()} "
            "(run `pulse db upgrade`)"]
    finally:
        with get_engine(db_url).begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"),
                         {"v": head_revision()})


def test_not_ready_when_the_database_is_unreachable(tmp_path: object) -> None:
    ready = check_readiness("postgresql+psycopg://pulse@127.0.0.1:9/none?connect_timeout=2")
    assert not ready.ready
    assert ready.checks["database"] == "unreachable"
    assert ready.problems[0].startswith("database unreachable")


def test_a_database_that_never_answers_makes_readyz_unready_not_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A PostgreSQL whose port accepts connections and never answers (a dropped route,
    a stuck proxy): libpq would wait for ever; the probe says unreachable instead."""
    monkeypatch.setattr(storage.db, "PG_CONNECT_TIMEOUT_SECONDS", 1)
    verdicts: list[Readiness] = []
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections queue up; nothing is ever read or sent
        url = f"postgresql+psycopg://pulse@127.0.0.1:{silent.getsockname()[1]}/pulse"
        probe = threading.Thread(target=lambda: verdicts.append(check_readiness(url)),
                                 daemon=True)
        probe.start()
        probe.join(timeout=10)  # libpq's default would still be waiting
        assert not probe.is_alive(), "/readyz hung on a database that never answers"
        get_engine(url).dispose()
    assert not verdicts[0].ready and verdicts[0].checks["database"] == "unreachable"
